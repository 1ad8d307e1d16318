"""A yes/no JSON Schema check compiled to nested Python closures, for the hot path of validation.

jsonschema's Draft202012Validator stays the reference and the only source of error messages; it checks about a
thousand fiches a second here, because every keyword descends through a fresh validator. Most model outputs are
valid, so `compile_check` answers "valid?" about 20x faster and jsonschema explains the rare failures. The
compiler knows a fixed subset of keywords and raises `UnsupportedSchema` on any other validation keyword, so a
schema change can never make it approve what jsonschema would reject: callers fall back to jsonschema alone.
One deliberate difference: NaN and infinities fail "type": "number" here (they are not JSON; jsonschema lets
them through), and `postprocess.validate` reports them itself.
`pattern` is read as JSON Schema means it (ECMA-262), not as Python's `re` does: `ecma_regex` is shared with
`postprocess.validate`'s jsonschema validator, so both paths give the same answer.
`tests/test_postprocess_validate.py` checks the two agree on generated instances.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never change a validation result.
ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples", "deprecated",
                "readOnly", "writeOnly"}
_SUPPORTED = {"type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems",
              "maxItems", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
              "exclusiveMaximum", "$ref"}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


# ECMA-262 (no flags), which JSON Schema patterns follow, differs from Python's `re` where it matters for
# control characters: `$` is the end of the input only (Python's also matches before a final "\n", so "Pompe\n"
# passed "^...$"), and `.` matches no line terminator (Python's `.` matches "\r", U+2028 and U+2029).
_ECMA_ANY = "[^\n\r\u2028\u2029]"


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_json_number(value: Any) -> bool:
    """Stricter than jsonschema, which accepts NaN and infinities: they are not JSON numbers."""
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_json_number,
    "integer": lambda v: _is_json_number(v) and (isinstance(v, int) or v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: true is not 1, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return a == b


def compile_check(schema: dict) -> Check:
    """A function telling whether an instance is valid under `schema` (local `#/$defs/...` refs only)."""
    cache: dict[str, Check] = {}

    def resolve(ref: str) -> Check:
        if not ref.startswith("#/$defs/") or "/" in ref[len("#/$defs/"):]:
            raise UnsupportedSchema(f"$ref {ref!r}: only '#/$defs/<name>' is supported")
        if ref not in cache:
            cache[ref] = build(schema["$defs"][ref[len("#/$defs/"):]])
        return cache[ref]

    def build(node: Any) -> Check:
        if node is True or node == {}:
            return lambda v: True
        if node is False:
            return lambda v: False
        unknown = set(node) - _SUPPORTED - ANNOTATIONS
        if unknown:
            raise UnsupportedSchema(f"keyword(s) {sorted(unknown)} not supported by the fast check")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(resolve(node["$ref"]))
        if "type" in node:
            names = node["type"] if isinstance(node["type"], list) else [node["type"]]
            type_checks = [_TYPES[name] for name in names]
            if len(type_checks) == 1:
                checks.append(type_checks[0])
            else:
                checks.append(lambda v, tc=type_checks: any(check(v) for check in tc))
        if "enum" in node:
            options = node["enum"]
            if all(isinstance(option, str) for option in options):
                names = frozenset(options)
                checks.append(lambda v: isinstance(v, str) and v in names)
            else:
                checks.append(lambda v, o=options: any(_json_equal(v, option) for option in o))
        if "const" in node:
            checks.append(lambda v, c=node["const"]: _json_equal(v, c))
        checks.extend(_string_checks(node))
        checks.extend(_number_checks(node))
        checks.extend(_array_checks(node, build))
        checks.extend(_object_checks(node, build))
        return _all_of(checks)

    return build(schema)


def _all_of(checks: list[Check]) -> Check:
    # Explicit loops rather than all(generator): this runs for every value of every fiche.
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    frozen = tuple(checks)

    def check_all(v: Any) -> bool:
        for check in frozen:
            if not check(v):
                return False
        return True

    return check_all


def _string_checks(node: dict) -> list[Check]:
    checks: list[Check] = []
    if "pattern" in node:
        search = ecma_regex(node["pattern"]).search  # postprocess.validate's jsonschema uses it too
        checks.append(lambda v, s=search: not isinstance(v, str) or s(v) is not None)
    if "minLength" in node:
        checks.append(lambda v, n=node["minLength"]: not isinstance(v, str) or len(v) >= n)
    if "maxLength" in node:
        checks.append(lambda v, n=node["maxLength"]: not isinstance(v, str) or len(v) <= n)
    return checks


def _number_checks(node: dict) -> list[Check]:
    # Written as jsonschema writes them ("fails if v < b"), so both treat every number alike.
    bounds = {"minimum": lambda v, b: not v < b, "maximum": lambda v, b: not v > b,
              "exclusiveMinimum": lambda v, b: not v <= b, "exclusiveMaximum": lambda v, b: not v >= b}
    return [lambda v, b=node[key], cmp=compare: not _is_number(v) or cmp(v, b)
            for key, compare in bounds.items() if key in node]


def _array_checks(node: dict, build: Callable[[Any], Check]) -> list[Check]:
    checks: list[Check] = []
    if "items" in node:
        item_check = build(node["items"])

        def check_items(v: Any) -> bool:
            if isinstance(v, list):
                for item in v:
                    if not item_check(item):
                        return False
            return True

        checks.append(check_items)
    if "minItems" in node:
        checks.append(lambda v, n=node["minItems"]: not isinstance(v, list) or len(v) >= n)
    if "maxItems" in node:
        checks.append(lambda v, n=node["maxItems"]: not isinstance(v, list) or len(v) <= n)
    return checks


def _object_checks(node: dict, build: Callable[[Any], Check]) -> list[Check]:
    checks: list[Check] = []
    properties = {key: build(sub) for key, sub in node.get("properties", {}).items()}
    required = tuple(node.get("required", ()))
    extra = node.get("additionalProperties", True)
    extra_check = None if extra is True or extra == {} else build(extra)

    def check_object(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for key in required:
            if key not in v:
                return False
        for key, item in v.items():
            check = properties.get(key)
            if check is not None:
                if not check(item):
                    return False
            elif extra_check is not None and not extra_check(item):
                return False
        return True

    if properties or required or extra_check is not None:
        checks.append(check_object)
    return checks
