"""Text2CAD's layout of CAD JSON (the users' format), and its adapter onto the project's operations model.

A Text2CAD document (SadilKhan/Text2CAD, CadSeqProc "minimal JSON", derived from DeepCAD's Fusion 360 JSON) is
`{"parts": {"part_1": {"coordinate_system", "sketch": {"face_1": {"loop_1": {"line_1": …}}}, "extrusion",
"description"?}, …}}`, schema `fiche_schema/cad.schema.json`. Its conventions, as Text2CAD reads them
(CoordinateSystem / ExtrudeSequence / Line / Arc / Circle `.from_minimal_json`):
- `Euler Angles` are degrees; the rotation is scipy's `Rotation.from_euler("zyx", angles, degrees=True)`
  (extrinsic: about z by the first angle, then y, then x), and the rows of its matrix are the sketch plane's
  x axis, y axis and normal. `Translation Vector` is the plane's origin in the world.
- sketch points and radii are in the sketch plane; the extrusion goes `extrude_depth_towards_normal` along the
  normal and `extrude_depth_opposite_normal` against it, then joins, cuts or intersects what the parts before
  it built (parts in number order). `sketch_scale` is the size of the sketch's bounding box, which Text2CAD
  only uses to quantise; the geometry is in the points.
- lengths have no declared unit: DeepCAD normalises each model to fit a 0.75 cube.

`fiche_schema.cad_json.from_text2cad` maps a document onto the operations model (`cad_operations.schema.json`): per part, in number
order, a sketch in the world frame whose plane comes from the coordinate system (the part's frame; no separate
transform is needed, since Text2CAD places each sketch directly in the world), one profile per face, then an
extrude in the sketch frame of every face. `sketch_scale` and `description` have no counterpart and are left out.
The adapter also records where each operation came from, so that `fiche_schema.cad_json` reports the operations
model's findings with paths in the user's document.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fiche_schema.canonical import canonical_number

BODY_OPERATIONS = {"NewBodyFeatureOperation": "new_body", "JoinFeatureOperation": "join",
                   "CutFeatureOperation": "cut", "IntersectFeatureOperation": "intersect"}
CURVE_FIELDS = {"line": {"start": "Start Point", "end": "End Point"},
                "arc": {"start": "Start Point", "mid": "Mid Point", "end": "End Point"},
                "circle": {"center": "Center", "radius": "Radius"}}
# Operations-model field → Text2CAD key, for paths below a curve.
_FIELD_NAMES = {ours: theirs for fields in CURVE_FIELDS.values() for ours, theirs in fields.items()}
_NUMBERED_KEY = re.compile(r"^([a-z]+)_([1-9][0-9]*)$")

Path = tuple[str | int, ...]


def is_text2cad(obj: Any) -> bool:
    """Whether `obj` is to be read in Text2CAD's layout: anything but an object with `operations` and no `parts`."""
    return not (isinstance(obj, dict) and "operations" in obj and "parts" not in obj)


def key_number(key: str) -> int | None:
    """3 for "part_3", "loop_3", "arc_3"; None for a key that is not numbered."""
    match = _NUMBERED_KEY.match(key)
    return int(match.group(2)) if match else None


def curve_kind(key: str) -> str:
    """"line" for "line_2": Text2CAD reads a curve's kind from its key."""
    return key.split("_", 1)[0]


def by_number(mapping: dict) -> list[str]:
    """The keys of `mapping` in the order of their numbers (keys without one last, as given)."""
    return sorted(mapping, key=lambda key: (key_number(key) is None, key_number(key) or 0))


def sketch_axes(euler_deg: list[float]) -> tuple[list[float], list[float]]:
    """(x axis, normal) of the sketch plane for Text2CAD's `Euler Angles`, rounded to 1e-6.

    R = Rx(c) · Ry(b) · Rz(a) for angles (a, b, c): scipy's extrinsic "zyx"; Text2CAD takes R's rows as the axes.
    """
    a, b, c = (math.radians(angle) for angle in euler_deg)
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    x_row = [cb * ca, -cb * sa, sb]
    normal_row = [-cc * sb * ca + sc * sa, cc * sb * sa + sc * ca, cc * cb]
    return [canonical_number(v) for v in x_row], [canonical_number(v) for v in normal_row]


def numbering_errors(doc: dict) -> list[tuple[Path, str]]:
    """Parts, faces, loops and each kind of curve are numbered 1, 2, … without gaps, as Text2CAD writes them.

    Assumes `doc` is valid under the schema (so every key is a numbered name of the right kind)."""
    errors = _gaps(doc["parts"], ("parts",), "part")
    for part_key, part in doc["parts"].items():
        sketch_path = ("parts", part_key, "sketch")
        errors += _gaps(part["sketch"], sketch_path, "face")
        for face_key, face in part["sketch"].items():
            errors += _gaps(face, (*sketch_path, face_key), "loop")
            for loop_key, loop in face.items():
                for kind in CURVE_FIELDS:
                    errors += _gaps({k: v for k, v in loop.items() if curve_kind(k) == kind},
                                    (*sketch_path, face_key, loop_key), kind)
    return errors


def _gaps(mapping: dict, path: Path, prefix: str) -> list[tuple[Path, str]]:
    numbers = sorted(n for n in (key_number(key) for key in mapping) if n is not None)
    if numbers == list(range(1, len(numbers) + 1)):
        return []
    missing = next(n for n in range(1, len(numbers) + 1) if n not in numbers)
    listed = ", ".join(map(str, numbers))
    last = f"{prefix}_{len(numbers)}"
    return [(path, f"{prefix} numbers {listed} skip {prefix}_{missing}: number them {prefix}_1 … {last}")]


@dataclass(frozen=True)
class Adapted:
    """An operations-model document, and for each of its paths that stands for a Text2CAD element, that path."""
    document: dict
    origin: dict[Path, Path]

    def user_path(self, path: Path) -> Path:
        """The Text2CAD path of an operations-model path: its longest known prefix, then field names renamed."""
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.origin:
                renamed = tuple(_FIELD_NAMES.get(p, p) if isinstance(p, str) else p for p in path[cut:])
                return self.origin[path[:cut]] + renamed
        return ()


def adapt(doc: dict, unit: str | None = None) -> Adapted:
    """`doc` (valid under cad.schema.json) in the operations model, with the origin of each operation.

    `units` is the document's, else `unit`, else "unitless"."""
    origin: dict[Path, Path] = {("operations",): ("parts",)}
    operations = _operations(doc["parts"], ("operations",), ("parts",), origin)
    document: dict[str, Any] = {"version": "1.0", "units": doc.get("units") or unit or "unitless",
                                "operations": operations}
    source = doc.get("source")
    if isinstance(source, dict):
        document["source"] = {"units": source["units"], "to_mm": source["to_mm"],
                              "operations": _operations(source["parts"], ("source", "operations"),
                                                        ("source", "parts"), origin)}
    return Adapted(document, origin)


def _operations(parts: dict, at: Path, user_at: Path, origin: dict[Path, Path]) -> list[dict]:
    operations: list[dict] = []
    for part_key in by_number(parts):
        part, user = parts[part_key], (*user_at, part_key)
        x_axis, normal = sketch_axes(part["coordinate_system"]["Euler Angles"])
        sketch_id, faces = f"{part_key}_sketch", part["sketch"]
        sketch_at = (*at, len(operations))
        origin.update({sketch_at: (*user, "sketch"), (*sketch_at, "plane"): (*user, "coordinate_system"),
                       (*sketch_at, "frame"): (*user, "coordinate_system"),
                       (*sketch_at, "profiles"): (*user, "sketch")})
        profiles = []
        for p, face_key in enumerate(by_number(faces)):
            origin[(*sketch_at, "profiles", p)] = (*user, "sketch", face_key)
            loops = []
            for l, loop_key in enumerate(by_number(faces[face_key])):
                loop = faces[face_key][loop_key]
                origin[(*sketch_at, "profiles", p, "loops", l)] = (*user, "sketch", face_key, loop_key)
                curves = []
                for c, curve_key in enumerate(loop):
                    origin[(*sketch_at, "profiles", p, "loops", l, "curves", c)] = (
                        *user, "sketch", face_key, loop_key, curve_key)
                    kind = curve_kind(curve_key)
                    curves.append({"type": kind, **{ours: loop[curve_key][theirs]
                                                    for ours, theirs in CURVE_FIELDS[kind].items()}})
                loops.append({"curves": curves})
            profiles.append({"id": face_key, "loops": loops})
        operations.append({"id": sketch_id, "type": "sketch", "frame": "world",
                           "plane": {"origin": part["coordinate_system"]["Translation Vector"], "normal": normal,
                                     "x_axis": x_axis},
                           "profiles": profiles})
        extrusion, extrude_at = part["extrusion"], (*at, len(operations))
        origin.update({extrude_at: (*user, "extrusion"), (*extrude_at, "sketch"): (*user, "sketch"),
                       (*extrude_at, "profiles"): (*user, "sketch"), (*extrude_at, "frame"): (*user, "extrusion"),
                       (*extrude_at, "distance"): (*user, "extrusion", "extrude_depth_towards_normal"),
                       (*extrude_at, "opposite_distance"): (*user, "extrusion", "extrude_depth_opposite_normal"),
                       (*extrude_at, "operation"): (*user, "extrusion", "operation")})
        operations.append({"id": f"{part_key}_extrude", "type": "extrude", "frame": "sketch", "sketch": sketch_id,
                           "profiles": [profile["id"] for profile in profiles],
                           "distance": extrusion["extrude_depth_towards_normal"],
                           "opposite_distance": extrusion["extrude_depth_opposite_normal"],
                           "operation": BODY_OPERATIONS[extrusion["operation"]]})
    return operations
