"""Fiche geometry: per-axis dimension error in mm, unit match, and IoU of the envelope boxes (manifold3d boolean)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fiche_schema import load_schema
from fiche_schema.units import MM_PER_UNIT

AXES = ("H", "W", "D")


@dataclass(frozen=True)
class Envelope:
    """Overall dimensions in mm, with the unit they were written in."""
    H: float
    W: float
    D: float
    unit: str

    @property
    def size_wdh(self) -> tuple[float, float, float]:
        """Box extents along x, y, z: width, depth, height (the OpenSCAD envelope's cube([W, D, H]))."""
        return (self.W, self.D, self.H)


@cache
def dimension_maximum() -> dict[str, float]:
    """The largest value the fiche schema allows per axis, in the fiche's own unit."""
    axes = load_schema("fiche")["properties"]["dimensions"]["properties"]
    return {axis: axes[axis]["maximum"] for axis in AXES}


def envelope_of(fiche: Any) -> Envelope | None:
    """The fiche's `dimensions` converted to mm, or None when they are missing, malformed or out of the schema's
    range (0 to its maximum): a 1e300 m answer is no envelope to score, and its volume would overflow to inf."""
    dimensions = fiche.get("dimensions") if isinstance(fiche, Mapping) else None
    if not isinstance(dimensions, Mapping) or dimensions.get("unit") not in MM_PER_UNIT:
        return None
    factor = MM_PER_UNIT[dimensions["unit"]]
    values = {}
    for axis in AXES:
        value = dimensions.get(axis)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or not 0 <= value <= dimension_maximum()[axis]:
            return None
        values[axis] = float(value) * factor
    return Envelope(unit=dimensions["unit"], **values)


def axis_errors_mm(predicted: Envelope, gold: Envelope) -> dict[str, float]:
    """Absolute error per axis, in mm, after both sides are converted to mm."""
    return {axis: abs(getattr(predicted, axis) - getattr(gold, axis)) for axis in AXES}


def _box(size: tuple[float, float, float]):
    import manifold3d

    return manifold3d.Manifold.cube(list(size))


def envelope_iou(predicted: Envelope, gold: Envelope) -> float:
    """IoU of the two boxes anchored at the origin, by exact mesh boolean (manifold3d).

    A box with a zero side has no volume: IoU is 0 unless both are empty, where it is undefined (raised).
    """
    a, b = _box(predicted.size_wdh), _box(gold.size_wdh)
    union = (a + b).volume()
    if union <= 0:
        raise ValueError("both envelopes have zero volume: IoU undefined")
    return (a ^ b).volume() / union

