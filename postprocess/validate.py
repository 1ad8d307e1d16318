"""Schema validation of model outputs: human-readable errors with JSON paths; an empty list means valid.

Each validator is built once per schema: jsonschema's Draft202012Validator (the reference, and the source of
every message) plus the fast yes/no check of `postprocess.fast_schema`, which answers for the common valid case.
Both read `pattern` (and `patternProperties`) as ECMA-262 regexes, as JSON Schema defines them: see
`EcmaDraft202012Validator`.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from postprocess.fast_schema import ANNOTATIONS, UnsupportedSchema, compile_check, ecma_regex
from postprocess.schema import load_schema

MAX_ERRORS = 20


# jsonschema matches `pattern` and `patternProperties` with Python's re.search, whose `$` also matches before a
# final newline: "Pompe\n" passed "^...$", and a key "part_1\n" passed "^part_[1-9][0-9]*$". These three
# keywords are the ones that read patterns; here they use `ecma_regex`, as the fast check does.
def _pattern(validator, pattern: str, instance: Any, schema: dict):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns: dict, instance: Any, schema: dict):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if ecma_regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator, additional: Any, instance: Any, schema: dict):
    if not validator.is_type(instance, "object"):
        return
    known, patterns = schema.get("properties", {}), [ecma_regex(p) for p in schema.get("patternProperties", {})]
    extras = [key for key in instance if key not in known and not any(p.search(key) for p in patterns)]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif not additional and extras:
        listed = ", ".join(repr(key) for key in sorted(extras))
        if patterns:
            yield ValidationError(f"{listed} {'does' if len(extras) == 1 else 'do'} not match any of the regexes: "
                                  + ", ".join(repr(p) for p in schema["patternProperties"]))
        else:
            yield ValidationError(f"Additional properties are not allowed ({listed} "
                                  f"{'was' if len(extras) == 1 else 'were'} unexpected)")


EcmaDraft202012Validator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties})


def json_schema_validator(schema: dict) -> Draft202012Validator:
    """jsonschema's draft 2020-12 validator for `schema`, with ECMA-262 pattern semantics; use it, not
    Draft202012Validator, wherever a schema with `pattern` decides what is valid."""
    return EcmaDraft202012Validator(schema)


def json_path(path: Any) -> str:
    """`$.components[3]` style path for a jsonschema error's absolute_path."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _path_order(path: tuple) -> tuple:
    return tuple((isinstance(part, str), part if isinstance(part, int) else 0, str(part)) for part in path)


# The string rule of the fiche and CAD schemas: `^[C]{m,n}$`, C the admitted characters (escapes such as \] inside).
_STRING_RULE = re.compile(r"^\^\[(?P<chars>(?:\\.|[^\]\\])+)\]\{(?P<least>[0-9]+),(?P<most>[0-9]+)\}\$$")


def pattern_problem(text: Any, pattern: str) -> str:
    """Why `text` fails `pattern`, shown and named: for the string rule, its length against the limit and the
    characters it does not admit; for another pattern, that it does not match."""
    shown = repr(text) if len(repr(text)) <= 60 else repr(text)[:57] + "..."
    rule = _STRING_RULE.match(pattern)
    if rule is None or not isinstance(text, str):
        return f"{shown} has characters or a length the schema's pattern forbids"
    admitted = ecma_regex(f"^[{rule['chars']}]$")
    problems = []
    if len(text) > int(rule["most"]):
        problems.append(f"is {len(text)} characters long; the limit is {rule['most']}")
    if len(text) < int(rule["least"]):
        problems.append("is empty")
    forbidden = sorted({char for char in text if not admitted.search(char)})
    if forbidden:
        listed = ", ".join(f"U+{ord(char):04X} {char!r}" for char in forbidden[:5])
        problems.append(f"has characters the schema does not admit: {listed}"
                        + (' (fiche convert writes " as ″ and \\ as ⧵)' if set(forbidden) & {'"', "\\"} else ""))
    return f"{shown} " + " and ".join(problems)


def _message(error: ValidationError, path: tuple) -> str:
    where = json_path(path)
    instance = repr(error.instance)
    shown = instance if len(instance) <= 60 else instance[:57] + "..."
    if error.validator == "pattern":
        return f"{where}: {pattern_problem(error.instance, error.validator_value)}"
    if error.validator in ("maxLength", "minLength", "enum", "type", "minimum", "maximum",
                           "exclusiveMinimum", "exclusiveMaximum", "const"):
        return f"{where}: {shown} fails {error.validator} {error.validator_value!r}"
    return f"{where}: {error.message if len(error.message) <= 200 else error.message[:197] + '...'}"


def non_finite_numbers(value: Any, path: tuple = ()) -> list[str]:
    """NaN and infinities, which Python's json accepts and jsonschema passes, but JSON does not have."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{json_path(path)}: {value!r} is not a JSON number"]
    if isinstance(value, dict):
        return [error for key, item in value.items() for error in non_finite_numbers(item, (*path, key))]
    if isinstance(value, list):
        return [error for index, item in enumerate(value) for error in non_finite_numbers(item, (*path, index))]
    return []


@dataclass(frozen=True)
class SchemaValidator:
    """A compiled schema: `errors(obj)` lists problems, `is_valid(obj)` answers fast.

    When the root is a plain object schema, `parts` holds a fast check and a jsonschema validator per property
    and `shell` checks the root alone (type, required, additional properties), so an invalid fiche costs
    jsonschema only for the fields that failed.
    """

    reference: Draft202012Validator
    fast: Callable[[Any], bool] | None
    shell: Draft202012Validator | None = None
    parts: dict[str, tuple[Callable[[Any], bool], Draft202012Validator]] | None = None

    def is_valid(self, obj: Any) -> bool:
        if self.fast is not None:
            return self.fast(obj)
        return self.reference.is_valid(obj) and not non_finite_numbers(obj)

    def _located_errors(self, obj: Any) -> list[tuple[tuple, ValidationError]]:
        if self.parts is None or self.shell is None or not isinstance(obj, dict):
            return [(tuple(error.absolute_path), error) for error in self.reference.iter_errors(obj)]
        located = [(tuple(error.absolute_path), error) for error in self.shell.iter_errors(obj)]
        for key, (check, validator) in self.parts.items():
            if key in obj and not check(obj[key]):
                located += [((key, *error.absolute_path), error) for error in validator.iter_errors(obj[key])]
        return located

    def errors(self, obj: Any) -> list[str]:
        if self.fast is not None and self.fast(obj):
            return []
        found = sorted(self._located_errors(obj), key=lambda item: (_path_order(item[0]), item[1].validator))
        messages = [*non_finite_numbers(obj), *(_message(error, path) for path, error in found[:MAX_ERRORS])]
        if len(found) > MAX_ERRORS:
            messages.append(f"... and {len(found) - MAX_ERRORS} more error(s)")
        return messages


def inline_local_refs(schema: dict) -> dict:
    """The schema with each `{"$ref": "#/$defs/x"}` replaced by the definition itself: the same rules, but
    jsonschema no longer resolves a reference per string (2-3x faster on the error path). Schemas whose refs
    sit beside other keywords, or nest, are returned unchanged."""
    defs = schema.get("$defs", {})

    def inline(node: object, depth: int) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                name = ref[len("#/$defs/"):] if ref.startswith("#/$defs/") else None
                if len(node) != 1 or name not in defs or depth > 0 or "$ref" in json.dumps(defs[name]):
                    raise ValueError("not a simple local reference")
                return inline(defs[name], depth + 1)
            return {key: inline(value, depth) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [inline(item, depth) for item in node]
        return node

    try:
        return inline(schema, 0)  # type: ignore[return-value]
    except ValueError:
        return schema


def _split_by_property(schema: dict, inlined: dict) -> tuple[Draft202012Validator, dict] | None:
    """The root-only validator and per-property (fast check, validator) pairs, when the root allows the split."""
    root_keywords = {"type", "properties", "required", "additionalProperties"} | ANNOTATIONS
    if set(schema) - root_keywords or not isinstance(schema.get("additionalProperties", True), bool):
        return None
    defs = schema.get("$defs", {})
    shell = json_schema_validator({**{k: v for k, v in inlined.items() if k not in ("properties", "$defs")},
                                  "properties": {key: True for key in schema.get("properties", {})}})
    parts = {}
    for key, sub in schema.get("properties", {}).items():
        own = inlined["properties"][key] if inlined is not schema else {"$defs": defs, **sub}
        try:
            parts[key] = (compile_check({"$defs": defs, **sub}), json_schema_validator(own))
        except UnsupportedSchema:
            return None
    return shell, parts


@cache
def schema_validator(name: str = "fiche") -> SchemaValidator:
    """The validator for `postprocess/schema/<name>.schema.json`, built on first use."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    inlined = inline_local_refs(schema)
    try:
        fast = compile_check(schema)
    except UnsupportedSchema:
        return SchemaValidator(json_schema_validator(inlined), None)  # jsonschema alone: slower but exact
    split = _split_by_property(schema, inlined)
    shell, parts = split if split is not None else (None, None)
    return SchemaValidator(json_schema_validator(inlined), fast, shell, parts)


def schema_check(name: str) -> Callable[[Any], list[str]]:
    """The errors function for answers under `postprocess/schema/<name>.schema.json`. For `cad` it is
    `validate_cad`, which also checks what the schema cannot: operation order, references, frames and units."""
    if name == "cad":
        from postprocess.cad_json import validate_cad  # cad_json builds on this module

        return validate_cad
    return schema_validator(name).errors


def validate_fiche(obj: Any) -> list[str]:
    """Errors of a fiche object against the fiche schema, each starting with its JSON path; [] = valid."""
    return schema_validator("fiche").errors(obj)
