"""CAD JSON (text → CAD): validation beyond the schema, canonical form, and normalisation to millimetres.

Three forms are read; errors always name paths in the form the document is in:
- Text2CAD's layout in its array spelling, the training target and the constraint (`{"parts": [{…}]}`, schema
  `cad.schema.json`, conventions in `fiche_schema/text2cad.py`);
- Text2CAD's keyed spelling, as datasets ship it (`{"parts": {"part_1": …}}`, schema `text2cad.schema.json`);
- the project's operations model (`{"version", "units", "operations": […]}`, schema `cad_operations.schema.json`),
  which `from_text2cad` maps Text2CAD documents onto. A document is read as Text2CAD
  unless it has `operations` and no `parts`; keyed when its `parts` is an object.

The schemas fix the shapes. This module adds the checks a schema cannot express, stated on the operations model
and applied to a Text2CAD document through the adapter:
- operation order: sketch → feature → transform. The first operation is a sketch; a feature follows a sketch or
  another feature; a transform follows a feature or another transform; after a transform comes a new sketch or
  another transform, never a feature directly; every sketch is used by a later extrude or revolve. (Text2CAD: a
  part is a sketch and the extrusion of that sketch, so both must be there; parts go in number order.)
- references: ids are unique; an extrude/revolve names an earlier sketch and profiles that sketch defines.
- bodies: a cut or intersect needs a body built before it; an extrusion has a depth (its two distances are not
  both 0); a circle is a loop by itself.
- frames: a sketch plane is placed in the world or part frame; extrude/revolve numbers are in their sketch's
  frame; fillet/chamfer act on the part; a transform moves the part in the world or part frame; the "part" frame
  exists only once a feature has built a body. (Text2CAD: the coordinate system is in the world frame, the sketch
  and the extrusion in the sketch plane's frame; the layout leaves no other choice.)
- numbering (keyed Text2CAD): part_N, face_N, loop_N and each kind of curve run from 1 without gaps (arrays
  cannot have gaps).
- numbers: finite and rounded to 1e-6 (`cad_text` writes them without exponent).
- units: `units` applies to every length. Text2CAD documents (DeepCAD coordinates are normalised) declare none,
  so `normalise_to_mm` needs the unit from the user and refuses without it. A normalised document has units "mm"
  and a `source` block with the original unit, its factor and the original parts/operations; each length must
  then equal its source value times the factor.
"""
from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from fiche_schema import load_schema
from fiche_schema.canonical import canonical_number, dumps_plain
from fiche_schema.text2cad import KEYED, adapt, by_number, keyed_path, layout, numbering_errors, to_arrays
from fiche_schema.text2cad import OPERATIONS as OPERATIONS_LAYOUT
from fiche_schema.units import MM_PER_UNIT, to_mm
from fiche_schema.validate import MAX_ERRORS, ecma_regex, json_path, json_schema_validator, pattern_problem

# Schema names: the array spelling (answers), a normalised one (with `source`), keyed Text2CAD, the operations model.
CAD, NORMALISED, TEXT2CAD, OPERATIONS = "cad", "cad+source", "text2cad", "cad_operations"
FIRST_PART_REFUSES = ("CutFeatureOperation", "IntersectFeatureOperation")  # cad.schema.json's first_extrusion
LENGTH_DEFS = frozenset({"length", "positive_length", "nonnegative_length"})
SKETCH, FEATURE, TRANSFORM = "sketch", "feature", "transform"
STAGE = {"sketch": SKETCH, "extrude": FEATURE, "revolve": FEATURE, "fillet": FEATURE, "chamfer": FEATURE,
         "transform": TRANSFORM}
ALLOWED_FRAMES = {"sketch": ("world", "part"), "extrude": ("sketch",), "revolve": ("sketch",),
                  "fillet": ("part",), "chamfer": ("part",), "transform": ("world", "part")}
# (previous stage, next stage) pairs that break sketch → feature → transform.
_BAD_STEPS = {(SKETCH, TRANSFORM): "a transform right after a sketch (no feature has used the sketch)",
              (TRANSFORM, FEATURE): "a feature right after a transform (start a new sketch first)"}

Path = tuple[str | int, ...]
Located = tuple[Path, str]


def _form(obj: Any) -> tuple[str, str]:
    """(schema name, key of the body) of a document: Text2CAD's parts or the operations list."""
    form = layout(obj)
    if form == OPERATIONS_LAYOUT:
        return OPERATIONS, "operations"
    if form == KEYED:
        return TEXT2CAD, "parts"
    return (NORMALISED if isinstance(obj, dict) and "source" in obj else CAD), "parts"


@cache
def _schema(name: str) -> dict:
    """The schema `name`; NORMALISED is cad.schema.json plus the `source` block that normalisation to mm adds
    (an answer never has one, so the constraint leaves it out)."""
    if name != NORMALISED:
        return load_schema(name)
    schema = copy.deepcopy(load_schema(CAD))
    schema["properties"]["source"] = {
        "description": "The unit the original lengths were in, its factor to mm, and the original parts.",
        "type": "object", "additionalProperties": False,
        "properties": {"units": schema["properties"]["units"], "to_mm": {"type": "number", "exclusiveMinimum": 0},
                       "parts": {"$ref": "#/$defs/parts"}},
        "required": ["units", "to_mm", "parts"]}
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    Draft202012Validator.check_schema(_schema(name))
    return json_schema_validator(_schema(name))


# --- walking a document with its schema ----------------------------------------------------------------------

def _resolve(node: dict, value: Any, root: dict) -> tuple[dict, bool]:
    """Follow $refs (noting whether one named a length), pick the oneOf variant whose `type` matches and the
    anyOf branch that fits the value (a curve by its fields, a loop by its first curve)."""
    is_length = False
    defs = root["$defs"]
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
        elif "anyOf" in node:
            node = next((branch for branch in node["anyOf"] if _fits(branch, value, root)), {})
        else:
            return node, is_length


def _fits(branch: dict, value: Any, root: dict) -> bool:
    """Whether an anyOf branch of the array spelling (a curve kind, or a loop kind) describes `value`."""
    while "$ref" in branch:
        branch = root["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, list):
        return branch.get("type") == "array" and (not value or _fits(branch["items"], value[0], root))
    if "anyOf" in branch:
        return any(_fits(sub, value, root) for sub in branch["anyOf"])
    fields = set(value) if isinstance(value, dict) else None
    return fields is not None and set(branch.get("required", ())) <= fields <= set(branch.get("properties", ()))


def _members(value: dict, node: dict) -> list[tuple[str, dict | None]]:
    """(key, subschema) of an object's members in canonical order: the schema's properties in their order; keys
    of a single numbered pattern (part_N, face_N, loop_N) by number; keys of several patterns (a loop's curves)
    as given; unknown keys last, as given, with no subschema."""
    properties, patterns = node.get("properties", {}), node.get("patternProperties", {})
    members: list[tuple[str, dict | None]] = [(key, properties[key]) for key in properties if key in value]
    matched = {key: sub for key in value if key not in properties
               for pattern, sub in patterns.items() if _search(pattern, key)}
    keys = by_number(matched) if len(patterns) == 1 else list(matched)
    members += [(key, matched[key]) for key in keys]
    members += [(key, None) for key in value if key not in properties and key not in matched]
    return members


def _search(pattern: str, key: str) -> bool:
    return ecma_regex(pattern).search(key) is not None


def _map_numbers(value: Any, node: dict | None, root: dict, on_number: Callable[[float, bool], Any],
                 length: bool = False) -> Any:
    """A copy of `value` in canonical key order with each number passed through on_number(number, is_length)."""
    if node is None:  # not described by the schema: kept as it is
        return value
    node, is_length = _resolve(node, value, root)
    length = length or is_length
    if isinstance(value, dict):
        return {key: _map_numbers(value[key], sub, root, on_number) for key, sub in _members(value, node)}
    if isinstance(value, list):
        return [_map_numbers(item, node.get("items", {}), root, on_number, length) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return on_number(value, length)
    return value


def canonical_cad(obj: dict) -> dict:
    """The document in canonical key order (see `_members`), numbers rounded to 1e-6. Operation order and a
    loop's curve order are meaning, so kept."""
    root = _schema(_form(obj)[0])
    return _map_numbers(obj, root, root, lambda number, _: canonical_number(number))


def cad_text(obj: dict) -> str:
    """The canonical CAD JSON text (the training target): canonical keys, compact, numbers without exponent."""
    return dumps_plain(canonical_cad(obj))


def normalise_to_mm(obj: dict, unit: str | None = None) -> dict:
    """The document in millimetres, keeping the original unit and parts/operations under `source`.

    `unit` is the unit the lengths are in, for a document that declares none (Text2CAD's; units "unitless" in
    the operations model); it must agree with a declared one. A document already in mm (or already normalised)
    comes back canonical and unchanged in value. ValueError, naming `$.units`, when no unit is known.
    """
    name, body = _form(obj)
    declared = obj.get("units")
    declared = None if declared == "unitless" else declared
    if unit is not None and declared is not None and unit != declared:
        raise ValueError(f"$.units: the document's lengths are in {declared!r}, not {unit!r}")
    unit = declared or unit
    if unit is None:
        raise ValueError("$.units: the document declares no length unit (Text2CAD/DeepCAD coordinates are "
                         "normalised), so it cannot be converted to mm; give the unit its lengths are in "
                         f"({', '.join(MM_PER_UNIT)})")
    if unit not in MM_PER_UNIT:
        raise ValueError(f"$.units: unknown length unit {unit!r}; expected one of {', '.join(MM_PER_UNIT)}")
    if "source" in obj:
        return canonical_cad(obj)
    if unit == "mm":
        return canonical_cad({**obj, "units": "mm"})
    root = _schema(name)
    converted = _map_numbers(obj[body], root["properties"][body], root,
                             lambda number, is_length: to_mm(number, unit) if is_length else canonical_number(number))
    original = canonical_cad(obj)
    return canonical_cad({**obj, "units": "mm", body: converted,
                          "source": {"units": unit, "to_mm": MM_PER_UNIT[unit], body: original[body]}})


# --- checks --------------------------------------------------------------------------------------------------

def schema_errors(obj: Any, name: str | None = None) -> list[str]:
    """The errors against schema `name` (default: the one of the document's form), each `$.path: message`."""
    return [f"{json_path(path)}: {message}" for path, message in _schema_errors(obj, name or _form(obj)[0])]


def _schema_errors(obj: Any, name: str) -> list[Located]:
    return [located for error in _validator(name).iter_errors(obj) for located in _explain(error, name)]


def _explain(error: ValidationError, name: str) -> list[Located]:
    """Messages for one jsonschema error; a oneOf failure is explained by the branch its `type` names."""
    path = tuple(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict) and "extrusion" in error.instance \
            and "'sketch'" in error.message:
        return [(path, f"{error.message}: the extrusion extrudes the part's own sketch, and there is none")]
    if error.validator == "enum" and path[-1:] == ("operation",) and error.instance in FIRST_PART_REFUSES:
        what = "a cut" if error.instance == "CutFeatureOperation" else "an intersection"
        return [(path, f"{what} needs a body, and no feature before it builds one (the first part's operation is "
                       "NewBodyFeatureOperation or JoinFeatureOperation)")]
    if error.validator == "anyOf" and error.context:  # a loop or a curve of the array spelling
        instance = error.instance
        if isinstance(instance, list) and len(instance) > 1 and any(
                isinstance(curve, dict) and "Center" in curve for curve in instance):
            return [(path, "a loop with a circle has no other curve (a circle is a closed loop by itself)")]
        root = _schema(name)
        chosen = next((index for index, branch in enumerate(error.validator_value)
                       if _fits(branch, instance, root)), None)
        inside = [sub for sub in error.context if sub.relative_schema_path[0] == chosen]
        return [located for sub in (inside or [best_match(error.context)]) for located in _explain(sub, name)]
    if error.validator == "pattern":
        return [(path, pattern_problem(error.instance, error.validator_value))]
    if error.validator != "oneOf":
        return [(path, error.message if len(error.message) <= 200 else error.message[:197] + "...")]
    instance = error.instance
    branches = [ref["$ref"].rsplit("/", 1)[-1] for ref in error.validator_value]
    defs = _schema(name)["$defs"]
    types = [defs[branch]["properties"]["type"]["const"] for branch in branches]
    if not isinstance(instance, dict):
        return [(path, f"expected an object with a 'type' among {', '.join(types)}")]
    if instance.get("type") not in types:
        return [((*path, "type"), f"{instance.get('type')!r} is not one of {', '.join(types)}")]
    index = types.index(instance["type"])
    return [located for sub in error.context if sub.relative_schema_path[0] == index
            for located in _explain(sub, name)]


def _number_errors(value: Any, path: Path = ()) -> list[Located]:
    if isinstance(value, float):
        if not math.isfinite(value):
            return [(path, f"{value!r} is not a JSON number")]
        if round(value, 6) != value:
            return [(path, f"{value!r} has more than 6 decimals (round to 1e-6)")]
        return []
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _number_errors(item, (*path, key))]
    if isinstance(value, list):
        return [e for index, item in enumerate(value) for e in _number_errors(item, (*path, index))]
    return []


def _sequence_errors(operations: list, at: Path = ("operations",)) -> list[Located]:
    """Order, references, bodies and frames of the operations that are well-formed enough to read."""
    errors: list[Located] = []
    sketches: dict[str, set[str]] = {}
    used: set[str] = set()
    seen_ids: set[str] = set()
    has_body = False
    previous: str | None = None
    for index, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("type"), str) or op["type"] not in STAGE:
            continue
        kind, stage, where = op["type"], STAGE[op["type"]], (*at, index)
        op_id = op.get("id")
        if isinstance(op_id, str):
            if op_id in seen_ids:
                errors.append(((*where, "id"), f"{op_id!r} is used by an earlier operation"))
            seen_ids.add(op_id)
        if previous is None and stage != SKETCH:
            errors.append((where, f"the first operation must be a sketch, not {kind!r}"))
        elif (previous, stage) in _BAD_STEPS:
            errors.append((where, f"{_BAD_STEPS[(previous, stage)]}; order is sketch → feature → transform"))
        frame = op.get("frame")
        if frame in ("world", "part", "sketch") and frame not in ALLOWED_FRAMES[kind]:
            frames = " or ".join(ALLOWED_FRAMES[kind])
            errors.append(((*where, "frame"), f"{kind!r} numbers are in the {frames} frame, not {frame!r}"))
        elif frame == "part" and not has_body:
            errors.append(((*where, "frame"), "'part' before any feature has built a body"))
        if kind == "sketch":
            errors.extend(_loop_errors(op, where))
            if isinstance(op_id, str):
                profiles = op.get("profiles") if isinstance(op.get("profiles"), list) else []
                sketches[op_id] = {p["id"] for p in profiles if isinstance(p, dict) and isinstance(p.get("id"), str)}
        if kind in ("extrude", "revolve"):
            errors.extend(_reference_errors(op, where, sketches, used))
            errors.extend(_body_errors(op, where, has_body))
            has_body = True
        if kind in ("fillet", "chamfer", "transform") and not has_body:
            errors.append((where, f"{kind!r} needs a body, and no extrude or revolve comes before it"))
        previous = stage
    errors.extend((at, f"sketch {name!r} is never used by an extrude or revolve")
                  for name in sketches if name not in used)
    return errors


def _reference_errors(op: dict, where: Path, sketches: dict[str, set[str]], used: set[str]) -> list[Located]:
    sketch = op.get("sketch")
    if not isinstance(sketch, str) or sketch not in sketches:
        return [((*where, "sketch"), f"{sketch!r} names no earlier sketch")]
    used.add(sketch)
    profiles = op.get("profiles") if isinstance(op.get("profiles"), list) else []
    return [((*where, "profiles", i), f"sketch {sketch!r} has no profile {name!r}")
            for i, name in enumerate(profiles) if not isinstance(name, str) or name not in sketches[sketch]]


def _body_errors(op: dict, where: Path, has_body: bool) -> list[Located]:
    errors: list[Located] = []
    operation = op.get("operation")
    if operation in ("cut", "intersect") and not has_body:
        what = "a cut" if operation == "cut" else "an intersection"
        errors.append(((*where, "operation"), f"{what} needs a body, and no feature before it builds one"))
    depths = [op.get(key) for key in ("distance", "opposite_distance")]
    if op["type"] == "extrude" and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in depths) \
            and depths[0] == 0 and depths[1] == 0:
        errors.append((where, "both extrusion depths are 0, so it builds nothing"))
    return errors


def _loop_errors(sketch: dict, where: Path) -> list[Located]:
    """A circle is closed by itself: a loop holding one has no other curve."""
    errors: list[Located] = []
    profiles = sketch.get("profiles") if isinstance(sketch.get("profiles"), list) else []
    for p, profile in enumerate(profiles):
        loops = profile.get("loops") if isinstance(profile, dict) and isinstance(profile.get("loops"), list) else []
        for i, loop in enumerate(loops):
            curves = loop.get("curves") if isinstance(loop, dict) and isinstance(loop.get("curves"), list) else []
            kinds = [curve.get("type") for curve in curves if isinstance(curve, dict)]
            if "circle" in kinds and len(curves) > 1:
                errors.append(((*where, "profiles", p, "loops", i),
                               "a loop with a circle has no other curve (a circle is a closed loop by itself)"))
    return errors


def _unit_errors(obj: dict, body: str) -> list[Located]:
    """A normalised document's lengths must be its source's lengths times the factor."""
    source = obj.get("source")
    if not isinstance(source, dict):
        return []
    errors: list[Located] = []
    if obj.get("units") != "mm":
        errors.append((("units",), (f"a document with a `source` block is normalised, so its units must be 'mm', "
                                    f"not {obj.get('units')!r}")))
    unit, factor = source.get("units"), source.get("to_mm")
    if unit in MM_PER_UNIT and factor != MM_PER_UNIT[unit]:
        errors.append((("source", "to_mm"), f"{factor!r} but 1 {unit} = {MM_PER_UNIT[unit]} mm"))
    if unit not in MM_PER_UNIT or errors:
        return errors
    original = {key: value for key, value in obj.items() if key not in ("source", body)}
    expected = normalise_to_mm({**original, "units": unit, body: source.get(body)})
    _compare(obj.get(body), expected[body], (body,), unit, errors)
    return errors


def _compare(actual: Any, expected: Any, path: Path, unit: str, errors: list[Located]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in [*expected, *(key for key in actual if key not in expected)]:
            _compare(actual.get(key), expected.get(key), (*path, key), unit, errors)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, (*path, index), unit, errors)
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if abs(actual - expected) > 1e-6 * max(1.0, abs(expected)):
            errors.append((path, f"{actual!r} mm, but the source gives {expected!r} mm (from {unit})"))
    elif actual != expected:
        errors.append((path, f"differs from the source {'parts' if path[0] == 'parts' else 'operations'}"))


def locate_cad_errors(obj: Any) -> list[Located]:
    """Every problem of a CAD JSON document as (path in the document's own form, message); [] = valid."""
    name, body = _form(obj)
    errors = _schema_errors(obj, name)
    if not isinstance(obj, dict):
        return errors
    schema_valid = not errors
    errors.extend(_number_errors(obj))
    if name != OPERATIONS and schema_valid:  # the adapter reads only schema-valid documents
        keyed = name == TEXT2CAD
        if keyed:
            errors.extend(numbering_errors(obj))
        adapted = adapt(to_arrays(obj) if keyed else obj)
        for path, message in _sequence_errors(adapted.document["operations"]):
            at = adapted.user_path(path)
            errors.append((keyed_path(obj, at) if keyed else at, message))
    elif name == OPERATIONS and isinstance(obj.get("operations"), list):
        errors.extend(_sequence_errors(obj["operations"]))
    if not errors:
        errors.extend(_unit_errors(obj, body))
    return errors


def validate_cad(obj: Any) -> list[str]:
    """Every problem of a CAD JSON document, either form (schema, order, references, frames, numbering, numbers,
    units), each `$.path: message` with the path in the document's own form; [] = valid."""
    errors = [f"{json_path(path)}: {message}" for path, message in locate_cad_errors(obj)]
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS], f"$: ... and {len(errors) - MAX_ERRORS} more error(s)"]
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


def from_text2cad(doc: dict, unit: str | None = None) -> dict:
    """The operations-model form of a Text2CAD document in either spelling (see the module doc); it must be
    schema-valid."""
    keyed = layout(doc) == KEYED
    errors = schema_errors(doc) if layout(doc) != OPERATIONS_LAYOUT else ["$: an operations-model document, not Text2CAD"]
    if errors:
        raise ValueError(f"not a valid Text2CAD document: {errors[0]}")
    return adapt(to_arrays(doc) if keyed else doc, unit).document


def locate_canonical_cad_errors(obj: dict) -> tuple[dict, list[Located]]:
    """(canonical_cad(obj), its problems); a problem at a number that rounding to 1e-6 changed names the
    input's own value, so `1e-09` is not reported as the 0 it rounds to."""
    canonical = canonical_cad(obj)
    located = []
    for path, message in locate_cad_errors(canonical):
        given, rounded = _value_at(obj, path), _value_at(canonical, path)
        if isinstance(given, (int, float)) and not isinstance(given, bool) and given != rounded:
            message += f" (the input gives {given!r}, which rounds to {rounded!r} at 1e-6)"
        located.append((path, message))
    return canonical, located


def _value_at(obj: Any, path: Path) -> Any:
    for part in path:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return None
    return obj
