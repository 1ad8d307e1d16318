"""A fiche answer ↔ the form's fields, in the fiche schema's order, and the schema's problems placed at fields.

Fields are read from the schema: a string is a text field, an array a list of rows, `dimensions` the numbers
H/W/D and a unit chosen from the schema's enum. Validation is the project's own (`validate_fiche`); its messages
("$.dimensions.H: -3 fails exclusiveMinimum 0") are re-worded per field ("dimensions.H: must be > 0").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from fiche_schema import load_schema
from fiche_schema.quotes import substitute_quotes
from fiche_schema.validate import validate_fiche

TEXT, LIST, MEASURES = "text", "list", "measures"


@dataclass(frozen=True)
class FormField:
    name: str
    kind: str  # TEXT, LIST or MEASURES
    parts: tuple[str, ...] = ()  # MEASURES: the numbers' names (H, W, D)
    choices: tuple[str, ...] = ()  # MEASURES: the unit's allowed values
    max_items: int | None = None  # LIST


@cache
def form_fields() -> tuple[FormField, ...]:
    schema = load_schema("fiche")
    fields = []
    for name, spec in schema["properties"].items():
        if spec.get("type") == "array":
            fields.append(FormField(name, LIST, max_items=spec.get("maxItems")))
        elif spec.get("type") == "object":
            properties = spec["properties"]
            parts = tuple(key for key, value in properties.items() if value.get("type") == "number")
            unit = next(key for key, value in properties.items() if "enum" in value)
            fields.append(FormField(name, MEASURES, parts=(*parts, unit), choices=tuple(properties[unit]["enum"])))
        else:
            fields.append(FormField(name, TEXT))
    return tuple(fields)


def answer_to_form(answer: Any) -> dict[str, Any]:
    """The form's values for an answer (any JSON: a model's draft may be partial or wrong-typed)."""
    answer = answer if isinstance(answer, dict) else {}
    values: dict[str, Any] = {}
    for spec in form_fields():
        value = answer.get(spec.name)
        if spec.kind == TEXT:
            values[spec.name] = value if isinstance(value, str) else "" if value is None else str(value)
        elif spec.kind == LIST:
            values[spec.name] = [str(item) for item in value] if isinstance(value, list) else []
        else:
            value = value if isinstance(value, dict) else {}
            for part in spec.parts:
                item = value.get(part)
                numeric = isinstance(item, (int, float)) and not isinstance(item, bool)
                values[f"{spec.name}.{part}"] = item if numeric or part == spec.parts[-1] else None
    return values


def form_to_answer(values: dict[str, Any]) -> dict[str, Any]:
    """The fiche answer the form holds, keys in schema order; an empty number stays null (and is reported)."""
    answer: dict[str, Any] = {}
    for spec in form_fields():
        if spec.kind == TEXT:
            answer[spec.name] = (values.get(spec.name) or "").strip()
        elif spec.kind == LIST:
            answer[spec.name] = [str(item).strip() for item in values.get(spec.name) or [] if str(item).strip()]
        else:
            measures = {}
            for part in spec.parts:
                value = values.get(f"{spec.name}.{part}")
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # 120.0 from a number box is the 120 a user typed
                measures[part] = value if value != "" else None
            answer[spec.name] = measures
    return answer


_MESSAGE = re.compile(r"^\$(?P<path>\S*): (?P<text>.*)$", re.DOTALL)
_FAILS = re.compile(r"^(?P<value>.*) fails (?P<rule>\w+) (?P<bound>.*)$", re.DOTALL)
_RULES = {"exclusiveMinimum": "must be > {}", "minimum": "must be ≥ {}", "maximum": "must be ≤ {}",
          "exclusiveMaximum": "must be < {}", "enum": "must be one of {}"}


def field_name(path: str) -> str:
    """`.dimensions.H` → `dimensions.H`; `.components[3]` → `components[3]`; `` → `fiche`."""
    return path.lstrip(".") or "fiche"


def _reword(text: str) -> str:
    if text.endswith(" is empty"):
        return "required"
    fails = _FAILS.match(text)
    if fails is None:
        return text
    rule, bound = fails["rule"], fails["bound"]
    if fails["value"] == "None":
        return "required"
    if rule in _RULES:
        return _RULES[rule].format(bound)
    if rule == "type":
        return f"must be a {bound.strip(chr(39))}"
    return text


def field_problems(answer: Any) -> list[tuple[str, str]]:
    """(field, problem) for each schema problem of `answer`, in the validator's order; [] when valid. Double quotes
    and backslashes are checked as the converter writes them (″ and ⧵), as `fiche validate` does."""
    problems = []
    for message in validate_fiche(substitute_quotes(answer)[0]):
        match = _MESSAGE.match(message)
        if match is None:
            problems.append(("fiche", message))
            continue
        problems.append((field_name(match["path"]), _reword(match["text"])))
    return problems


def problems_by_field(answer: Any) -> dict[str, list[str]]:
    """Each form field's problems; a list item's problem goes to its list (`components[2]: …`)."""
    grouped: dict[str, list[str]] = {}
    for name, problem in field_problems(answer):
        top = re.split(r"[.\[]", name, maxsplit=1)[0]
        key = name if top not in {spec.name for spec in form_fields() if spec.kind != MEASURES} else top
        grouped.setdefault(key, []).append(f"{name}: {problem}")
    return grouped
