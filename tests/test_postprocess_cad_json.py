"""CAD JSON: schema and semantic checks, canonical key order, units normalised to mm with originals kept."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postprocess.cad_json import cad_text, canonical_cad, normalise_to_mm, scientific_notation_numbers, validate_cad

DATA = Path(__file__).parent / "data"
PLATE = json.loads((DATA / "post_cad_plate.json").read_text(encoding="utf-8"))


def shuffled_keys(value, rng: random.Random):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled_keys(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled_keys(item, rng) for item in value]
    return value


def test_sample_document_is_valid():
    assert validate_cad(PLATE) == []


@pytest.mark.parametrize("name, expected", [
    ("feature_before_sketch", "$.operations[0]: the first operation must be a sketch, not 'extrude'"),
    ("unknown_sketch", "$.operations[1].sketch: 's9' names no earlier sketch"),
    ("unknown_profile", "$.operations[1].profiles[1]: sketch 's1' has no profile 'p2'"),
    ("extrude_in_world_frame", "$.operations[1].frame: 'extrude' numbers are in the sketch frame, not 'world'"),
    ("part_frame_before_body", "$.operations[0].frame: 'part' before any feature has built a body"),
    ("transform_after_sketch", "$.operations[1]: a transform right after a sketch"),
    ("feature_after_transform", "$.operations[3]: a feature right after a transform"),
    ("unused_sketch", "$.operations: sketch 's2' is never used by an extrude or revolve"),
    ("duplicate_id", "$.operations[2].id: 'e1' is used by an earlier operation"),
    ("too_many_decimals", "$.operations[1].distance: 0.1234567 has more than 6 decimals"),
    ("unknown_operation", "$.operations[1].type: 'loft' is not one of sketch, extrude, revolve, fillet, chamfer"),
    ("missing_units", "$: 'units' is a required property"),
    ("zero_radius", "$.operations[0].profiles[0].loops[1].curves[0].radius: 0 is less than or equal to the minimum"),
    ("mm_disagrees_with_source", "$.operations[1].distance: 12.0 mm, but the source gives 12.7 mm (from in)"),
    ("normalised_not_in_mm", "$.units: a document with a `source` block is normalised, so its units must be 'mm'"),
])
def test_each_bad_document_names_its_problem(name, expected):
    document = json.loads((DATA / "bad" / f"post_cad_{name}.json").read_text(encoding="utf-8"))
    errors = validate_cad(document)
    assert any(error.startswith(expected) for error in errors), errors


def test_scientific_notation_is_found_in_the_text():
    text = (DATA / "bad" / "post_cad_scientific_notation.json").read_text(encoding="utf-8")
    assert scientific_notation_numbers(text) == ["5e-01"]
    assert scientific_notation_numbers(cad_text(json.loads(text))) == []


def test_canonical_form_does_not_depend_on_key_order():
    shuffled = shuffled_keys(PLATE, random.Random(7))
    assert list(shuffled["operations"][1]) != list(PLATE["operations"][1]) or list(shuffled) != list(PLATE)
    assert cad_text(shuffled) == cad_text(PLATE)
    assert list(canonical_cad(shuffled)["operations"][1]) == [
        "id", "type", "frame", "sketch", "profiles", "distance", "opposite_distance", "operation"]


def test_canonical_text_rounds_and_never_uses_an_exponent():
    document = copy.deepcopy(PLATE)
    document["operations"][1]["distance"] = 0.00000123456
    document["operations"][3]["translate"] = [1e-7, 123456.0000004, -0.0]
    text = cad_text(document)
    assert '"distance":0.000001' in text and '"translate":[0,123456,0]' in text
    assert scientific_notation_numbers(text) == []


def test_normalise_to_mm_converts_lengths_only_and_keeps_the_original():
    mm = normalise_to_mm(PLATE)
    assert mm["units"] == "mm" and mm["source"]["units"] == "in" and mm["source"]["to_mm"] == 25.4
    assert mm["source"]["operations"] == canonical_cad(PLATE)["operations"]
    extrude, transform = mm["operations"][1], mm["operations"][3]
    assert extrude["distance"] == 12.7 and transform["translate"] == [25.4, 0, 0]
    assert transform["rotate_deg"] == [0, 0, 90]  # angles are not lengths
    assert mm["operations"][0]["plane"]["normal"] == [0, 0, 1]  # directions are not lengths
    circle = mm["operations"][0]["profiles"][0]["loops"][1]["curves"][0]
    assert circle == {"type": "circle", "center": [50.8, 25.4], "radius": 6.35}
    assert validate_cad(mm) == []
    assert normalise_to_mm(mm) == mm  # idempotent


def test_a_document_in_mm_is_left_in_mm():
    document = dict(copy.deepcopy(PLATE), units="mm")
    assert normalise_to_mm(document) == canonical_cad(document)


_ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=20)


@st.composite
def damaged_plate(draw) -> dict:
    """The sample with one value somewhere replaced by random JSON."""
    document = copy.deepcopy(PLATE)
    node = document
    while isinstance(node, (dict, list)) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()) or not isinstance(node[key], (dict, list)):
            node[key] = draw(_ANY)
            break
        node = node[key]
    return document


@settings(max_examples=200, deadline=None)
@given(damaged_plate() | _ANY)
def test_validation_never_crashes_and_canonical_form_is_stable(document):
    errors = validate_cad(document)
    assert isinstance(errors, list) and all(isinstance(error, str) and error.startswith("$") for error in errors)
    if not errors:
        assert canonical_cad(canonical_cad(document)) == canonical_cad(document)
        assert validate_cad(json.loads(cad_text(document))) == []
