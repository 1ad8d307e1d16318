"""Schema validation of model outputs: human-readable errors with JSON paths; an empty list means valid.

Each validator is built once per schema: jsonschema-rs answers yes or no (about 250,000 fiches/s on one core,
`benchmarks/validate_bench.py`), and jsonschema's Draft202012Validator writes the messages when the answer is no.
Both read `pattern` (and `patternProperties`) as ECMA-262 regexes, as JSON Schema defines them: jsonschema-rs
natively, jsonschema through `EcmaDraft202012Validator`.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from fiche_schema import load_schema

MAX_ERRORS = 20

_ECMA_ANY = "[^\\n\\r\\u2028\\u2029]"  # ECMA's `.`: anything but a line terminator


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled so that `.search` answers as ECMA-262 would: `$` → `\\Z`, `.` → no line terminator,
    `[]` → nothing, `[^]` → anything. (Other differences, such as Unicode `\\d` in Python, stay.)"""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index:index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            # ECMA's "[]" matches nothing and "[^]" anything; Python would read that "]" as a literal
            for ecma, python in (("[]", "(?!)"), ("[^]", "[\\s\\S]")):
                if pattern.startswith(ecma, index):
                    out.append(python)
                    index += len(ecma)
                    break
            else:
                in_class = True
                out.append(char)
                index += 1
            continue
        elif char == "$":
            char = "\\Z"
        elif char == ".":
            char = _ECMA_ANY
        out.append(char)
        index += 1
    return re.compile("".join(out))


# jsonschema matches `pattern` and `patternProperties` with Python's re.search, whose `$` also matches before a
# final newline: "Pompe\n" passed "^...$", and a key "part_1\n" passed "^part_[1-9][0-9]*$". These three
# keywords are the ones that read patterns; here they use `ecma_regex`, as jsonschema-rs does natively.
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
    """A compiled schema: `is_valid(obj)` answers fast (jsonschema-rs), `errors(obj)` lists the problems, each
    starting with its JSON path (jsonschema, only when the fast answer is no)."""

    reference: Draft202012Validator
    fast: Callable[[Any], bool]

    def is_valid(self, obj: Any) -> bool:
        return self.fast(obj) and not non_finite_numbers(obj)

    def errors(self, obj: Any) -> list[str]:
        if self.is_valid(obj):
            return []
        found = sorted(((tuple(error.absolute_path), error) for error in self.reference.iter_errors(obj)),
                       key=lambda item: (_path_order(item[0]), item[1].validator))
        messages = [*non_finite_numbers(obj), *(_message(error, path) for path, error in found[:MAX_ERRORS])]
        if len(found) > MAX_ERRORS:
            messages.append(f"... and {len(found) - MAX_ERRORS} more error(s)")
        return messages


def compile_schema(schema: dict) -> SchemaValidator:
    """A SchemaValidator for any draft 2020-12 schema (SchemaError when it is not one)."""
    Draft202012Validator.check_schema(schema)
    fast = jsonschema_rs.Draft202012Validator(schema).is_valid
    return SchemaValidator(json_schema_validator(inline_local_refs(schema)), fast)


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


@cache
def schema_validator(name: str = "fiche") -> SchemaValidator:
    """The validator for `fiche_schema/<name>.schema.json`, built on first use."""
    return compile_schema(load_schema(name))


def validate_fiche(obj: Any) -> list[str]:
    """Errors of a fiche object against the fiche schema, each starting with its JSON path; [] = valid."""
    return schema_validator("fiche").errors(obj)
