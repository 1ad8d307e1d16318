"""Property-based tests (hypothesis): extraction never crashes, returns an object or a typed error, and never
invents a value when it repairs."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiche_schema.validate import validate_fiche
from postprocess.extract import ErrorKind, Extracted, ExtractError, extract_json

_KEYS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_CHARS = st.characters(blacklist_categories=("Cs",))
_SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(_CHARS, max_size=12))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                     max_leaves=15)
_OBJECTS = st.dictionaries(_KEYS, _JSON, max_size=5)
_PROSE = st.text(st.characters(blacklist_characters="{`", blacklist_categories=("Cs",)), max_size=30)
_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_typed(result: Extracted) -> None:
    assert isinstance(result, Extracted)
    if result.error is None:
        assert isinstance(result.value, dict)
    else:
        assert result.value is None and isinstance(result.error, ExtractError)
        assert isinstance(result.error.kind, ErrorKind) and result.error.line >= 1


def is_part_of(partial, full) -> bool:
    """True when `partial` is `full` with some members/items dropped from the end: nothing added or altered."""
    if isinstance(full, dict):
        return isinstance(partial, dict) and all(k in full and is_part_of(v, full[k]) for k, v in partial.items())
    if isinstance(full, list):
        return isinstance(partial, list) and len(partial) <= len(full) and all(
            is_part_of(p, f) for p, f in zip(partial, full))
    return partial == full and type(partial) is type(full)


@_SETTINGS
@given(st.text(max_size=300))
def test_any_text_gives_an_object_or_a_typed_error(text):
    assert_well_typed(extract_json(text))


@_SETTINGS
@given(st.text(alphabet=st.sampled_from(list('{}[]:,"\' \n\\tfrueanlNI0123456789.-eE`')), max_size=120))
def test_json_like_noise_gives_an_object_or_a_typed_error(text):
    assert_well_typed(extract_json(text))


@_SETTINGS
@given(_OBJECTS, _PROSE, _PROSE, st.booleans())
def test_any_object_survives_prose_and_fences_unchanged(obj, before, after, fenced):
    body = json.dumps(obj, ensure_ascii=False, indent=2 if fenced else None)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before}{body}{after}"
    result = extract_json(text)
    assert result.ok and result.value == obj


@_SETTINGS
@given(_OBJECTS, st.data())
def test_a_truncated_object_is_repaired_without_inventing_anything(obj, data):
    text = json.dumps(obj, ensure_ascii=False)
    cut = data.draw(st.integers(1, len(text)))
    result = extract_json(text[:cut])
    assert_well_typed(result)
    assert result.ok, result.error  # a prefix of valid JSON is always readable
    assert is_part_of(result.value, obj)
    if cut < len(text):
        assert result.repairs, "a cut reply must report its repairs"


@_SETTINGS
@given(st.dictionaries(
    st.text(st.characters(whitelist_categories=("L", "N")), max_size=6),
    st.none() | st.booleans() | st.integers()
    | st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" '\""), max_size=8),
    max_size=5))
def test_python_dict_repr_reads_as_the_same_object(obj):
    result = extract_json(repr(obj))
    assert result.ok and result.value == obj


@_SETTINGS
@given(st.text(max_size=400))
def test_extract_then_validate_never_crashes(text):
    result = extract_json(text)
    if result.ok:
        errors = validate_fiche(result.value)
        assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
