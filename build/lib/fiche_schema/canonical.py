"""Canonical JSON text: what the model is trained to emit and what xgrammar emits under the schema.

xgrammar writes object keys in the schema's `properties` order and, with `disable_any_whitespace`, no spaces,
so the training text must be exactly that: keys in schema order, compact separators, `ensure_ascii=False`.
Numbers are rounded to 1e-6 and never written with an exponent (json.dumps writes 1e-05): `dumps_plain` is the
one writer of canonical JSON text in the project (fiches here, CAD JSON in `fiche_schema.cad_json`, the text →
CAD converter's targets).
"""
from __future__ import annotations

import json
import math
from typing import Any

from fiche_schema import load_schema


def _resolve(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return root["$defs"][ref.split("/")[-1]]
    return node


def canonical_number(value: float) -> float | int:
    """Integral floats become ints; others are rounded to 1e-6 so no scientific notation appears."""
    if isinstance(value, (bool, int)):
        return value
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded


def order_like_schema(value: Any, node: dict, root: dict) -> Any:
    """A copy of `value` whose object keys follow the schema's properties order; unknown keys keep their place at the end."""
    node = _resolve(node, root)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        ordered = {key: order_like_schema(value[key], properties[key], root) for key in properties if key in value}
        ordered.update({key: item for key, item in value.items() if key not in properties})
        return ordered
    if isinstance(value, list):
        return [order_like_schema(item, node.get("items", {}), root) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return canonical_number(value)
    return value


def canonical_text(value: Any, schema: dict | None = None) -> str:
    """The canonical JSON text of a fiche (or of any object under `schema`)."""
    schema = schema if schema is not None else load_schema("fiche")
    return dumps_plain(order_like_schema(value, schema, schema))


def plain_number_text(value: float) -> str:
    """`value` rounded to 1e-6 as a JSON number without exponent: 1e-07 → 0, 1.2345678e-05 → 0.000012,
    1e20 → 100000000000000000000, 0.1 + 0.2 → 0.3. Where json.dumps writes no exponent, the text is its text."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a JSON number")
    value = canonical_number(value)
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" not in text:
        return text
    # Only |value| < 1e-4 gets here (larger floats with an exponent are integral): six decimals hold it exactly.
    return f"{value:.6f}".rstrip("0")


def dumps_plain(value: Any) -> str:
    """Compact JSON text, keys in their given order, non-ASCII kept, every number through `plain_number_text`."""
    if isinstance(value, dict):
        members = (f"{json.dumps(str(key), ensure_ascii=False)}:{dumps_plain(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps_plain(item) for item in value) + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return plain_number_text(value)
    return json.dumps(value, ensure_ascii=False)
