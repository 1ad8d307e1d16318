"""Fiche validation (fiche_schema.validate): messages with JSON paths, the fast check (jsonschema-rs) agreeing with
jsonschema, and both reading `pattern` as ECMA-262 does (JSON Schema's regex dialect), not as Python's re.search."""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from fiche_schema import load_schema
from fiche_schema.validate import compile_schema, ecma_regex, json_schema_validator, schema_validator, validate_fiche

VALID = {
    "object": "Pompe centrifuge", "function": "Pomper de l'eau claire", "global_shape": "Corps cylindrique",
    "components": ["corps", "roue"], "interfaces": ["bride DN50"], "working_principle": "La roue pousse l'eau",
    "dimensions": {"H": 320, "W": 210.5, "D": 180, "unit": "mm"}, "materials_guess": ["fonte"],
    "manufacturing": ["moulage"], "assembly_hypothesis": "Moteur vissé sur le corps", "assumptions": [],
    "uncertainties": ["puissance"], "risks_limits": ["cavitation"],
}


def test_sample_gold_fiches_are_valid(sample_fiches):
    outputs = [json.loads(line)["output"] for line in sample_fiches.read_text(encoding="utf-8").splitlines()]
    assert outputs and all(validate_fiche(output) == [] for output in outputs if output is not None)


def test_valid_fiche_has_no_errors():
    assert validate_fiche(VALID) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda f: f.pop("object"), "$: 'object' is a required property"),
    (lambda f: f["dimensions"].update(unit="ft"), "$.dimensions.unit: 'ft' fails enum"),
    (lambda f: f["dimensions"].update(H=-1), "$.dimensions.H: -1 fails exclusiveMinimum 0"),
    (lambda f: f["components"].append("a\nb"), "$.components[2]: 'a\\nb' has characters the schema does not admit: "
                                                "U+000A '\\n'"),
    (lambda f: f.update(working_principle="x" * 1001), "$.working_principle: 'xxx"),
    (lambda f: f.update(working_principle="x" * 1001), "... is 1001 characters long; the limit is 1000"),
    (lambda f: f["components"].append("y" * 301), "is 301 characters long; the limit is 300"),
    (lambda f: f.update(extra=1), "Additional properties are not allowed ('extra' was unexpected)"),
    (lambda f: f.update(components="corps"), "$.components: 'corps' fails type 'array'"),
    (lambda f: f["dimensions"].update(W=float("nan")), "$.dimensions.W: nan is not a JSON number"),
])
def test_each_problem_is_named_with_its_path(mutate, expected):
    fiche = copy.deepcopy(VALID)
    mutate(fiche)
    errors = validate_fiche(fiche)
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize("text", ["Pompe\n", "Pompe\r", "Pompe\u2028", "\nPompe"])
def test_a_line_break_that_the_pattern_forbids_is_invalid_even_at_the_end(text):
    # Python's re.search lets "$" match before a final "\n"; JSON Schema's ECMA-262 "$" does not.
    fiche = dict(copy.deepcopy(VALID), object=text)
    char = text.strip("Pompe")
    assert validate_fiche(fiche) == [f"$.object: {text!r} has characters the schema does not admit: "
                                     f"U+{ord(char):04X} {char!r}"]
    assert not schema_validator("fiche").is_valid(fiche)  # the fast check
    assert not json_schema_validator(load_schema("fiche")).is_valid(fiche)  # jsonschema, as everyone should use it
    assert Draft202012Validator(load_schema("fiche")).is_valid(fiche) == (text == "Pompe\n")  # the bug itself


@pytest.mark.parametrize("pattern, text, matches", [
    ("^a$", "a", True), ("^a$", "a\n", False), ("^a\\$$", "a$", True), ("^[$]$", "$", True),
    ("^a.c$", "abc", True), ("^a.c$", "a\nc", False), ("^a.c$", "a\rc", False), ("^a[.]c$", "abc", False),
    ("^[]a]$", "]", False), ("^[^]$", "\n", True), ("b$", "ab\n", False), ("^(?:x|y)$", "y", True),
])
def test_ecma_regex_reads_dollar_and_dot_as_ecma_262_does(pattern, text, matches):
    assert (ecma_regex(pattern).search(text) is not None) == matches


def test_pattern_properties_keys_use_ecma_semantics_too():
    checker = json_schema_validator({"type": "object", "patternProperties": {"^part_[1-9][0-9]*$": {"type": "integer"}},
                                     "additionalProperties": False})
    assert checker.is_valid({"part_1": 1})
    assert [e.message for e in checker.iter_errors({"part_1\n": 1})] == [
        "'part_1\\n' does not match any of the regexes: '^part_[1-9][0-9]*$'"]


def test_errors_are_listed_in_document_order_and_capped():
    fiche = copy.deepcopy(VALID)
    fiche["components"] = ["\x01"] * 12
    errors = validate_fiche(fiche)
    assert [e.split(":")[0] for e in errors[:3]] == ["$.components[0]", "$.components[1]", "$.components[2]"]
    fiche["interfaces"] = ["\x01"] * 12
    assert validate_fiche(fiche)[-1].startswith("... and 4 more error(s)")


def test_any_draft_2020_12_keyword_is_checked_by_both_validators():
    checker = compile_schema({"type": "object", "properties": {"a": {"type": "string", "format": "email"}},
                              "dependentRequired": {"a": ["b"]}})
    assert not checker.is_valid({"a": "x"})
    assert checker.errors({"a": "x"}) == ["$: 'b' is a dependency of 'a'"]
    assert checker.errors({"a": "x", "b": 1}) == []


# Strings from the schema's alphabet, plus characters it forbids.
_ALPHABET = st.sampled_from([*"Aaéz09 ,.;:!?()/'+%°±×²³µ_-", "\n", "\x01", '"', "\\", "\u2028", "€", "*"])
_TEXT = st.text(_ALPHABET, max_size=170)
_NUMBER = st.one_of(st.integers(-10, 200_000), st.floats(-1e6, 1e6, allow_nan=False), st.booleans())
_ANY = st.recursive(st.none() | st.booleans() | _NUMBER | _TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
                    max_leaves=12)


_GOOD_TEXT = st.text(st.sampled_from(list("Aaéz09 ,.;:!?()/'+%°±×²³µ_-")), min_size=1, max_size=60)


@st.composite
def mostly_good_text(draw) -> str:
    return draw(_TEXT) if draw(st.integers(0, 40)) == 0 else draw(_GOOD_TEXT)


@st.composite
def mostly_good_number(draw) -> object:
    return draw(_NUMBER) if draw(st.integers(0, 10)) == 0 else draw(st.integers(0, 100_000) | st.floats(0, 1e5))


@st.composite
def fiche_like(draw) -> dict:
    """Mostly well-formed fiches with random defects: the cases where a fast check could go wrong."""
    fiche = {}
    for key, node in load_schema("fiche")["properties"].items():
        if draw(st.integers(0, 60)) == 0:
            continue  # a missing field
        if node.get("type") == "array":
            value = draw(st.lists(mostly_good_text(), max_size=13))
        elif key == "dimensions":
            value = {axis: draw(mostly_good_number()) for axis in "HWD"}
            value["unit"] = draw(st.sampled_from(["mm", "cm", "m", "in", "ft", 3]))
            if draw(st.integers(0, 30)) == 0:
                value[draw(_TEXT)] = 1
        else:
            value = draw(mostly_good_text())
        fiche[key] = draw(_ANY) if draw(st.integers(0, 100)) == 0 else value
    if draw(st.integers(0, 60)) == 0:
        fiche[draw(_TEXT)] = draw(_ANY)
    return fiche


_REFERENCE = json_schema_validator(load_schema("fiche"))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fiche_like())
def test_fast_check_agrees_with_jsonschema(fiche):
    assert schema_validator("fiche").is_valid(fiche) == _REFERENCE.is_valid(fiche)
    errors = validate_fiche(fiche)
    assert (errors == []) == _REFERENCE.is_valid(fiche)
    assert all(isinstance(error, str) and error.startswith(("$", "...")) for error in errors)


@settings(max_examples=300, deadline=None)
@given(_ANY)
def test_validation_never_crashes_on_any_json_value(value):
    errors = validate_fiche(value)
    assert isinstance(errors, list) and all(isinstance(error, str) for error in errors)
    assert (errors == []) == _REFERENCE.is_valid(value)
