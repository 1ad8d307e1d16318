"""Text → CAD JSON metrics: schema-valid rate and structural F1.

Structural F1 compares what a CAD JSON is built of, not its numbers: both trees are flattened into a multiset of
leaf tokens `path=value`, where list indices are dropped from the path (`operations[].type=sketch`), strings and
booleans keep their value (operation kinds, curve types, frames, units), and numbers keep only the fact that a
number stands there (`operations[].extent=<number>`). A prediction with the right sequence of sketches and
extrusions but wrong sizes scores 1; a missing extrusion or a line where an arc belongs costs tokens.
In Text2CAD's layout the keys name the structure (`parts.part_2.sketch.face_1.loop_1.arc_1.Mid Point[]=<number>`,
`parts.part_2.extrusion.operation=JoinFeatureOperation`), so a missing part, loop or curve, or a curve of the
wrong kind, costs tokens the same way; its free-text fields (final_name, final_shape, a part's description name
and shape) keep only the fact that a text stands there, since wording is not structure.
"""
from __future__ import annotations

from typing import Any

FREE_TEXT = ("final_name", "final_shape", "description.name", "description.shape")


def _free_text(path: str) -> bool:
    return any(path == name or path.endswith("." + name) for name in FREE_TEXT)

from eval.metrics.counts import PRCounts, multiset_counts


def structure_tokens(value: Any, path: str = "") -> list[str]:
    """The leaf tokens of a JSON value (see module doc); an empty object or list is itself a leaf."""
    if isinstance(value, dict):
        if not value:
            return [f"{path}={{}}"]
        return [token for key, item in value.items() for token in structure_tokens(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        if not value:
            return [f"{path}=[]"]
        return [token for item in value for token in structure_tokens(item, f"{path}[]")]
    if isinstance(value, bool):
        return [f"{path}={'true' if value else 'false'}"]
    if isinstance(value, (int, float)):
        return [f"{path}=<number>"]
    if value is None:
        return [f"{path}=null"]
    if _free_text(path):
        return [f"{path}=<text>"]
    return [f"{path}={value}"]


def structural_counts(predicted: Any, gold: Any) -> PRCounts:
    """Multiset match of structure tokens; no prediction predicts nothing."""
    return multiset_counts(structure_tokens(predicted) if predicted is not None else [], structure_tokens(gold))
