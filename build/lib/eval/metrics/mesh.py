"""Volumetric IoU of two solids by exact mesh boolean (manifold3d), raw, after CAD-Coder's normalisation and after the
cadrille / CAD-Recode unit-cube normalisation; their Chamfer distance.

Normalisation (what CAD-Coder's `SolidAlign.align_shapes` and CADBench's "Aligned IoU" do, re-derived for meshes):
each solid is moved so its centre of mass is at the origin and scaled by 1/s with s = sqrt(trace(I) / V), where I
is its inertia tensor about the centre of mass (unit density) and V its volume — a size measure that, unlike the
bounding box, does not depend on how the part is oriented. The source is then rotated so its principal axes of
inertia lie on the target's, trying the four sign choices of the axes that keep a proper rotation, and the best
IoU is kept. One deliberate difference: CAD-Coder takes numpy's eigenvectors as they come, so when the two bases
have opposite handedness all four candidates are mirror images; here both bases are made right-handed first, so
a part is never matched with its mirror image.

Unit-cube normalisation and Chamfer distance (what cadrille's evaluate.py does, so that figures compare with the
tables of cadrille and CAD-Recode): each mesh is moved so the centre of its bounding box is at (0.5, 0.5, 0.5) and
scaled by 1 / (its longest bounding-box side), so it fits the unit cube. Chamfer distance samples 8,192 points on
each surface (area-weighted) and adds the mean squared nearest-neighbour distance from each set to the other:
CD = mean_p min_q |p - q|² + mean_q min_p |q - p|². The papers report the median over the test set × 10³ and the
IoU mean over the valid outputs, with the invalid ratio beside them. Sampling uses a fixed seed, so a run repeats.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The four proper sign choices for the principal axes: identity and the three half-turns.
_AXIS_FLIPS = (np.array([1.0, 1.0, 1.0]), np.array([1.0, -1.0, -1.0]), np.array([-1.0, 1.0, -1.0]),
               np.array([-1.0, -1.0, 1.0]))


class MeshError(ValueError):
    """A mesh cannot be scored: not a closed 2-manifold, or no volume."""


def to_manifold(mesh):
    """A manifold3d solid from a trimesh mesh; raises MeshError when it is not a closed oriented 2-manifold."""
    import manifold3d

    solid = manifold3d.Manifold(manifold3d.Mesh64(
        vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint64)))
    if solid.status() != manifold3d.Error.NoError or solid.is_empty() or solid.volume() <= 0:
        raise MeshError(f"not a closed solid (manifold3d status {solid.status().name}, "
                        f"{len(mesh.faces)} faces)")
    return solid


def iou(a, b) -> float:
    """IoU of two manifold3d solids: vol(A ∩ B) / vol(A ∪ B)."""
    union = (a + b).volume()
    return (a ^ b).volume() / union if union > 0 else 0.0


@dataclass(frozen=True)
class Frame:
    """Where a solid's centre of mass is, how big it is (s), and its right-handed principal axes (columns)."""
    centre: np.ndarray
    scale: float
    axes: np.ndarray


def inertia_frame(mesh) -> Frame:
    volume = float(mesh.volume)
    if volume <= 0:
        raise MeshError(f"mesh has no positive volume ({volume})")
    inertia = np.asarray(mesh.moment_inertia, dtype=float)  # about the centre of mass, density 1
    _, axes = np.linalg.eigh(inertia)
    if np.linalg.det(axes) < 0:
        axes[:, 2] = -axes[:, 2]
    return Frame(centre=np.asarray(mesh.center_mass, dtype=float), scale=float(np.sqrt(np.trace(inertia) / volume)),
                 axes=axes)


def _normalised(mesh, frame: Frame, rotation: np.ndarray):
    transform = np.eye(4)
    transform[:3, :3] = rotation / frame.scale
    transform[:3, 3] = -(rotation @ frame.centre) / frame.scale
    return to_manifold(mesh.copy().apply_transform(transform))


def naive_iou(predicted, gold) -> float:
    """IoU of the meshes where they stand, in their own units."""
    return iou(to_manifold(predicted), to_manifold(gold))


def aligned_iou(predicted, gold) -> float:
    """Best IoU over the four principal-axis alignments after centring and scaling both (see module doc)."""
    source, target = inertia_frame(predicted), inertia_frame(gold)
    target_solid = _normalised(gold, target, np.eye(3))
    best = 0.0
    for flips in _AXIS_FLIPS:
        rotation = target.axes @ (source.axes * flips[None, :]).T
        best = max(best, iou(_normalised(predicted, source, rotation), target_solid))
    return best


CHAMFER_POINTS = 8192


def unit_cube_normalised(mesh):
    """A copy of the mesh centred on (0.5, 0.5, 0.5) and scaled so that its longest bounding-box side is 1."""
    normalised = mesh.copy()
    normalised.apply_translation(-(mesh.bounds[0] + mesh.bounds[1]) / 2.0)
    extent = float(np.max(mesh.extents))
    if extent <= 0:
        raise MeshError("mesh has an empty bounding box")
    normalised.apply_scale(1.0 / extent)
    normalised.apply_translation([0.5, 0.5, 0.5])
    return normalised


def unit_cube_iou(predicted, gold) -> float:
    """IoU after scaling each mesh into the unit cube by its own bounding box (cadrille / CAD-Recode)."""
    return iou(to_manifold(unit_cube_normalised(predicted)), to_manifold(unit_cube_normalised(gold)))


def chamfer_of_points(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared nearest-neighbour distance from a to b plus that from b to a."""
    from scipy.spatial import cKDTree

    a_to_b, _ = cKDTree(b).query(a, k=1)
    b_to_a, _ = cKDTree(a).query(b, k=1)
    return float(np.mean(np.square(a_to_b)) + np.mean(np.square(b_to_a)))


def chamfer_distance(predicted, gold, points: int = CHAMFER_POINTS, seed: int = 0) -> float:
    """Chamfer distance of `points` surface samples of each mesh, where the meshes stand (see module doc)."""
    import trimesh

    samples = [trimesh.sample.sample_surface(mesh, points, seed=seed)[0] for mesh in (predicted, gold)]
    return chamfer_of_points(*samples)


def unit_cube_chamfer(predicted, gold, points: int = CHAMFER_POINTS, seed: int = 0) -> float:
    """Chamfer distance after the unit-cube normalisation of both meshes (not yet × 10³)."""
    return chamfer_distance(unit_cube_normalised(predicted), unit_cube_normalised(gold), points, seed)
