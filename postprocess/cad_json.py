"""CAD JSON (text → CAD): validation beyond the schema, canonical form, and normalisation to millimetres.

The schema (`postprocess/schema/cad.schema.json`) fixes the shapes. This module adds the checks a schema cannot
express:
- operation order: sketch → feature → transform. The first operation is a sketch; a feature follows a sketch or
  another feature; a transform follows a feature or another transform; after a transform comes a new sketch or
  another transform, never a feature directly; every sketch is used by a later extrude or revolve.
- references: ids are unique; an extrude/revolve names an earlier sketch and profiles that sketch defines.
- frames: a sketch plane is placed in the world or part frame; extrude/revolve numbers are in their sketch's
  frame; fillet/chamfer act on the part; a transform moves the part in the world or part frame; the "part" frame
  exists only once a feature has built a body.
- numbers: finite and rounded to 1e-6 (`cad_text` writes them without exponent).
- units: `units` applies to every length. A normalised document (`normalise_to_mm`) has units "mm" and a
  `source` block with the original units, their factor and the original operations; each length must then
  equal its source value times the factor.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from postprocess.canonical import canonical_number, dumps_plain
from postprocess.schema import load_schema
from postprocess.units import MM_PER_UNIT, to_mm
from postprocess.validate import json_path

LENGTH_DEFS = frozenset({"length", "positive_length", "nonnegative_length"})
SKETCH, FEATURE, TRANSFORM = "sketch", "feature", "transform"
STAGE = {"sketch": SKETCH, "extrude": FEATURE, "revolve": FEATURE, "fillet": FEATURE, "chamfer": FEATURE,
         "transform": TRANSFORM}
ALLOWED_FRAMES = {"sketch": ("world", "part"), "extrude": ("sketch",), "revolve": ("sketch",),
                  "fillet": ("part",), "chamfer": ("part",), "transform": ("world", "part")}
# (previous stage, next stage) pairs that break sketch → feature → transform.
_BAD_STEPS = {(SKETCH, TRANSFORM): "a transform right after a sketch (no feature has used the sketch)",
              (TRANSFORM, FEATURE): "a feature right after a transform (start a new sketch first)"}


@cache
def _schema() -> dict:
    return load_schema("cad")


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(_schema())
    return Draft202012Validator(_schema())


def _resolve(node: dict, value: Any) -> tuple[dict, bool]:
    """Follow $refs (noting whether one named a length) and pick the oneOf variant whose `type` matches."""
    is_length = False
    defs = _schema()["$defs"]
    while True:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            is_length = is_length or name in LENGTH_DEFS
            node = defs[name]
        elif "oneOf" in node and isinstance(value, dict):
            matches = [defs[branch["$ref"].rsplit("/", 1)[-1]] for branch in node["oneOf"]]
            chosen = next((m for m in matches if m["properties"]["type"].get("const") == value.get("type")), None)
            if chosen is None:
                return {}, is_length
            node = chosen
        else:
            return node, is_length


def _map_numbers(value: Any, node: dict, on_number: Callable[[float, bool], Any], length: bool = False) -> Any:
    """A copy of `value` with keys in schema order and each number passed through on_number(number, is_length)."""
    node, is_length = _resolve(node, value)
    length = length or is_length
    if isinstance(value, dict):
        properties = node.get("properties", {})
        mapped = {key: _map_numbers(value[key], properties[key], on_number) for key in properties if key in value}
        mapped.update({key: item for key, item in value.items() if key not in properties})
        return mapped
    if isinstance(value, list):
        return [_map_numbers(item, node.get("items", {}), on_number, length) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return on_number(value, length)
    return value


def canonical_cad(obj: dict) -> dict:
    """Keys in schema order (unknown keys last), numbers rounded to 1e-6; operation order is meaning, so kept."""
    return _map_numbers(obj, _schema(), lambda number, _: canonical_number(number))


def cad_text(obj: dict) -> str:
    """The canonical CAD JSON text: canonical keys, compact, numbers without exponent."""
    return dumps_plain(canonical_cad(obj))


def normalise_to_mm(obj: dict) -> dict:
    """The document in millimetres, keeping the original units and operations under `source`.

    A document already in mm (or already normalised) comes back canonical and unchanged in value.
    """
    if obj.get("units") == "mm" or "source" in obj:
        return canonical_cad(obj)
    unit = obj["units"]
    if unit not in MM_PER_UNIT:
        raise ValueError(f"$.units: unknown length unit {unit!r}; expected one of {', '.join(MM_PER_UNIT)}")
    operations = _map_numbers(obj["operations"], _schema()["properties"]["operations"],
                              lambda number, is_length: to_mm(number, unit) if is_length else canonical_number(number))
    original = canonical_cad(obj)
    return canonical_cad({**obj, "units": "mm", "operations": operations,
                          "source": {"units": unit, "to_mm": MM_PER_UNIT[unit], "operations": original["operations"]}})


def _schema_errors(obj: Any) -> list[str]:
    return [message for error in _validator().iter_errors(obj) for message in _explain(error)]


def _explain(error: ValidationError) -> list[str]:
    """Messages for one jsonschema error; a oneOf failure is explained by the branch its `type` names."""
    path = json_path(error.absolute_path)
    if error.validator != "oneOf":
        return [f"{path}: {error.message if len(error.message) <= 200 else error.message[:197] + '...'}"]
    instance = error.instance
    branches = [ref["$ref"].rsplit("/", 1)[-1] for ref in error.validator_value]
    defs = _schema()["$defs"]
    types = [defs[name]["properties"]["type"]["const"] for name in branches]
    if not isinstance(instance, dict):
        return [f"{path}: expected an object with a 'type' among {', '.join(types)}"]
    if instance.get("type") not in types:
        return [f"{path}.type: {instance.get('type')!r} is not one of {', '.join(types)}"]
    index = types.index(instance["type"])
    return [message for sub in error.context if sub.relative_schema_path[0] == index for message in _explain(sub)]


def _number_errors(value: Any, path: tuple = ()) -> list[str]:
    if isinstance(value, float):
        if not math.isfinite(value):
            return [f"{json_path(path)}: {value!r} is not a JSON number"]
        if round(value, 6) != value:
            return [f"{json_path(path)}: {value!r} has more than 6 decimals (round to 1e-6)"]
        return []
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _number_errors(item, (*path, key))]
    if isinstance(value, list):
        return [e for index, item in enumerate(value) for e in _number_errors(item, (*path, index))]
    return []


def _sequence_errors(operations: list) -> list[str]:
    """Order, references and frames of the operations that are well-formed enough to read."""
    errors: list[str] = []
    sketches: dict[str, set[str]] = {}
    used: set[str] = set()
    seen_ids: set[str] = set()
    has_body = False
    previous: str | None = None
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("type"), str) or op["type"] not in STAGE:
            continue
        kind, stage, where = op["type"], STAGE[op["type"]], f"$.operations[{index}]"
        op_id = op.get("id")
        if isinstance(op_id, str):
            if op_id in seen_ids:
                errors.append(f"{where}.id: {op_id!r} is used by an earlier operation")
            seen_ids.add(op_id)
        if previous is None and stage != SKETCH:
            errors.append(f"{where}: the first operation must be a sketch, not {kind!r}")
        elif (previous, stage) in _BAD_STEPS:
            errors.append(f"{where}: {_BAD_STEPS[(previous, stage)]}; order is sketch → feature → transform")
        frame = op.get("frame")
        if frame in ("world", "part", "sketch") and frame not in ALLOWED_FRAMES[kind]:
            errors.append(f"{where}.frame: {kind!r} numbers are in the {' or '.join(ALLOWED_FRAMES[kind])} frame, "
                          f"not {frame!r}")
        elif frame == "part" and not has_body:
            errors.append(f"{where}.frame: 'part' before any feature has built a body")
        if kind == "sketch" and isinstance(op_id, str):
            profiles = op.get("profiles") if isinstance(op.get("profiles"), list) else []
            sketches[op_id] = {p["id"] for p in profiles if isinstance(p, dict) and isinstance(p.get("id"), str)}
        if kind in ("extrude", "revolve"):
            errors.extend(_reference_errors(op, where, sketches, used))
            has_body = True
        if kind in ("fillet", "chamfer", "transform") and not has_body:
            errors.append(f"{where}: {kind!r} needs a body, and no extrude or revolve comes before it")
        previous = stage
    errors.extend(f"$.operations: sketch {name!r} is never used by an extrude or revolve"
                  for name in sketches if name not in used)
    return errors


def _reference_errors(op: dict, where: str, sketches: dict[str, set[str]], used: set[str]) -> list[str]:
    sketch = op.get("sketch")
    if not isinstance(sketch, str) or sketch not in sketches:
        return [f"{where}.sketch: {sketch!r} names no earlier sketch"]
    used.add(sketch)
    profiles = op.get("profiles") if isinstance(op.get("profiles"), list) else []
    return [f"{where}.profiles[{i}]: sketch {sketch!r} has no profile {name!r}"
            for i, name in enumerate(profiles) if not isinstance(name, str) or name not in sketches[sketch]]


def _unit_errors(obj: dict) -> list[str]:
    """A normalised document's lengths must be its source's lengths times the factor."""
    source = obj.get("source")
    if not isinstance(source, dict):
        return []
    errors = []
    if obj.get("units") != "mm":
        errors.append(f"$.units: a document with a `source` block is normalised, so its units must be 'mm', "
                      f"not {obj.get('units')!r}")
    unit, factor = source.get("units"), source.get("to_mm")
    if unit in MM_PER_UNIT and factor != MM_PER_UNIT[unit]:
        errors.append(f"$.source.to_mm: {factor!r} but 1 {unit} = {MM_PER_UNIT[unit]} mm")
    if unit not in MM_PER_UNIT or errors:
        return errors
    expected = normalise_to_mm({"version": obj.get("version"), "units": unit, "operations": source.get("operations")})
    _compare(obj.get("operations"), expected["operations"], ("operations",), unit, errors)
    return errors


def _compare(actual: Any, expected: Any, path: tuple, unit: str, errors: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() | actual.keys():
            _compare(actual.get(key), expected.get(key), (*path, key), unit, errors)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, (*path, index), unit, errors)
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if abs(actual - expected) > 1e-6 * max(1.0, abs(expected)):
            errors.append(f"{json_path(path)}: {actual!r} mm, but the source gives {expected!r} mm (from {unit})")
    elif actual != expected:
        errors.append(f"{json_path(path)}: differs from the source operations")


def validate_cad(obj: Any) -> list[str]:
    """Every problem of a CAD JSON document (schema, order, references, frames, numbers, units); [] = valid."""
    errors = _schema_errors(obj)
    if not isinstance(obj, dict):
        return errors
    errors.extend(_number_errors(obj))
    if isinstance(obj.get("operations"), list):
        errors.extend(_sequence_errors(obj["operations"]))
    if not errors:
        errors.extend(_unit_errors(obj))
    return errors


def scientific_notation_numbers(text: str) -> list[str]:
    """Number tokens of a JSON text written with an exponent (canonical CAD text never has one)."""
    found: list[str] = []

    def record(token: str) -> float:
        if "e" in token or "E" in token:
            found.append(token)
        return float(token)

    json.loads(text, parse_float=record)
    return found
