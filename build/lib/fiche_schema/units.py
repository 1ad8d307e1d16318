"""Length units the fiche and CAD schemas allow, and their conversion to millimetres."""
from __future__ import annotations

MM_PER_UNIT: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}


def to_mm(value: float, unit: str) -> float:
    """`value` expressed in `unit`, converted to millimetres and rounded to 1e-6 (the schemas' precision)."""
    try:
        factor = MM_PER_UNIT[unit]
    except KeyError:
        raise ValueError(f"unknown length unit {unit!r}; expected one of {', '.join(MM_PER_UNIT)}") from None
    return round(value * factor, 6)
