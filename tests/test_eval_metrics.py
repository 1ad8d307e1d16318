"""Eval metrics on hand-made cases whose values are worked out by hand."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from eval.metrics.cad_json import structural_counts, structure_tokens
from eval.metrics.counts import PRCounts, multiset_counts
from eval.metrics.fiche import exact_match, fiche_errors, slot_counts, slot_f1
from eval.metrics.geometry import Envelope, axis_errors_mm, envelope_iou, envelope_of
from eval.metrics.mesh import MeshError, aligned_iou, naive_iou, to_manifold
from eval.metrics.qa import Quantity, extract_quantities, gold_keywords, keyword_presence, numeric_exact_match
from eval.metrics.text import normalise

FICHE = {
    "object": "Platine de fixation", "function": "Supporter un moteur", "global_shape": "Plaque rectangulaire",
    "components": ["plaque", "4 trous Ø8"], "interfaces": ["4 vis M8"], "working_principle": "Fixation par vis",
    "dimensions": {"H": 10, "W": 120, "D": 80, "unit": "mm"}, "materials_guess": ["acier S235"],
    "manufacturing": ["découpe laser", "perçage"], "assembly_hypothesis": "Vissée sur le bâti",
    "assumptions": ["cotes en mm"], "uncertainties": [], "risks_limits": ["flexion"],
}


def fiche(**changes) -> dict:
    result = copy.deepcopy(FICHE)
    result.update(changes)
    return result


# --- counts and strings -------------------------------------------------------------------------------------------

def test_multiset_counts_match_repeats_only_as_often_as_expected():
    counts = multiset_counts(["a", "a", "b", "c"], ["a", "b", "b", "d"])
    assert counts == PRCounts(tp=2, fp=2, fn=2)
    assert counts.precision == 0.5 and counts.recall == 0.5 and counts.f1 == 0.5


def test_f1_is_undefined_when_nothing_is_expected_nor_predicted_and_zero_when_nothing_is_predicted():
    assert PRCounts().f1 is None
    assert PRCounts(fn=3).f1 == 0.0 and PRCounts(fn=3).precision is None


def test_normalise_folds_case_accents_punctuation_and_spacing_but_keeps_digits_glued():
    assert normalise("  Acier   INOXYDABLE. ") == normalise("acier inoxydable") == "acier inoxydable"
    assert normalise("Découpe laser") == "decoupe laser"
    assert normalise("4 trous Ø8") != normalise("4 trous Ø 8")


# --- fiches -------------------------------------------------------------------------------------------------------

def test_the_reference_fiche_is_schema_valid_and_an_extra_key_is_not():
    assert fiche_errors(FICHE) == []
    assert any("extra" in error for error in fiche_errors(fiche(extra="x")))
    assert fiche_errors(None) == ["no JSON object in the answer"]


def test_exact_match_ignores_key_order_and_integral_floats_but_not_values():
    reordered = dict(reversed(list(fiche(dimensions={"unit": "mm", "D": 80.0, "W": 120, "H": 10.0}).items())))
    assert exact_match(reordered, FICHE)
    assert not exact_match(fiche(object="Platine"), FICHE)
    assert not exact_match(None, FICHE)


def test_slot_f1_micro_and_macro_on_a_hand_made_pair_of_fiches():
    # Fiche 1: components 1 TP («Plaque» = «plaque») + 1 FP + 1 FN; manufacturing 1 TP + 1 FN; others exact.
    first = slot_counts(fiche(components=["Plaque", "2 trous"], manufacturing=["Découpe laser"]), FICHE)
    # Fiche 2: no prediction at all: every gold item is a false negative.
    second = slot_counts(None, FICHE)
    result = slot_f1([first, second])
    assert result.per_field["components"] == PRCounts(tp=1, fp=1, fn=3)
    assert result.per_field["manufacturing"] == PRCounts(tp=1, fp=0, fn=3)
    assert result.per_field["interfaces"] == PRCounts(tp=1, fp=0, fn=1)
    assert result.per_field["uncertainties"].empty and result.undefined_fields == ["uncertainties"]
    # Gold holds 8 list items per fiche → 16 expected; 6 matched, 1 spurious.
    assert result.micro == PRCounts(tp=6, fp=1, fn=10)
    assert result.micro.f1 == pytest.approx(2 * 6 / (2 * 6 + 1 + 10))
    # Macro: components 2/6, manufacturing 2/5, four fields at 2/3, uncertainties left out.
    assert result.macro_f1 == pytest.approx((2 / 6 + 2 / 5 + 4 * 2 / 3) / 6)


# --- fiche geometry -----------------------------------------------------------------------------------------------

def test_envelope_is_converted_to_mm_and_malformed_dimensions_give_none():
    assert envelope_of(fiche(dimensions={"H": 1, "W": 12, "D": 8, "unit": "cm"})) == Envelope(10, 120, 80, "cm")
    assert envelope_of(fiche(dimensions={"H": 1, "W": 2, "D": 3, "unit": "in"})).D == pytest.approx(76.2)
    assert envelope_of(fiche(dimensions={"H": 1, "W": 2, "D": 3, "unit": "ft"})) is None
    assert envelope_of(fiche(dimensions={"H": "1", "W": 2, "D": 3, "unit": "mm"})) is None
    assert envelope_of(None) is None


def test_an_envelope_out_of_the_schema_range_is_not_scored():
    assert envelope_of(fiche(dimensions={"H": 100000, "W": 2, "D": 3, "unit": "m"})).H == 1e8
    for value in (1e300, 100000.5, float("nan"), float("inf"), -1):
        assert envelope_of(fiche(dimensions={"H": value, "W": value, "D": 3, "unit": "m"})) is None


def test_axis_error_compares_in_mm_across_units():
    predicted = envelope_of(fiche(dimensions={"H": 1.2, "W": 12, "D": 0.08, "unit": "cm"}))
    errors = axis_errors_mm(predicted, envelope_of(FICHE))
    assert errors == pytest.approx({"H": 2.0, "W": 0.0, "D": 79.2})


def test_envelope_iou_known_values():
    gold = Envelope(H=10, W=10, D=10, unit="mm")
    assert envelope_iou(gold, gold) == pytest.approx(1.0)
    assert envelope_iou(Envelope(H=20, W=10, D=10, unit="mm"), gold) == pytest.approx(0.5)
    assert envelope_iou(Envelope(H=5, W=5, D=5, unit="mm"), gold) == pytest.approx(1 / 8)
    assert envelope_iou(Envelope(H=0, W=5, D=5, unit="mm"), gold) == 0.0
    with pytest.raises(ValueError, match="undefined"):
        envelope_iou(Envelope(H=0, W=5, D=5, unit="mm"), Envelope(H=0, W=1, D=1, unit="mm"))


side = st.floats(min_value=0.5, max_value=500, allow_nan=False)


def box_iou_closed_form(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """The oracle: IoU of two origin-anchored boxes from their sides (the smaller sides' product over the union)."""
    inter = min(a[0], b[0]) * min(a[1], b[1]) * min(a[2], b[2])
    union = a[0] * a[1] * a[2] + b[0] * b[1] * b[2] - inter
    return inter / union


@settings(max_examples=60, deadline=None)
@given(st.tuples(side, side, side), st.tuples(side, side, side))
def test_envelope_iou_by_mesh_boolean_equals_the_closed_form(a, b):
    predicted, gold = Envelope(H=a[2], W=a[0], D=a[1], unit="mm"), Envelope(H=b[2], W=b[0], D=b[1], unit="mm")
    assert envelope_iou(predicted, gold) == pytest.approx(box_iou_closed_form(a, b), rel=1e-9, abs=1e-12)


# --- meshes (image → CadQuery) ------------------------------------------------------------------------------------

def unit_cube(offset=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    cube = trimesh.creation.box(extents=[1, 1, 1])
    cube.apply_translation(offset)
    return cube


def l_bracket() -> trimesh.Trimesh:
    """A chiral part (no mirror symmetry): three boxes along x, y and z."""
    parts = []
    for extents, centre in (([4, 1, 1], [2, 0.5, 0.5]), ([1, 3, 1], [0.5, 1.5, 0.5]), ([1, 1, 2], [3.5, 0.5, 1])):
        box = trimesh.creation.box(extents=extents)
        box.apply_translation(centre)
        parts.append(box)
    return trimesh.boolean.union(parts, engine="manifold")


def test_two_unit_cubes_offset_by_half_have_iou_one_third_raw_and_one_normalised():
    assert naive_iou(unit_cube((0.5, 0, 0)), unit_cube()) == pytest.approx(1 / 3)
    assert aligned_iou(unit_cube((0.5, 0, 0)), unit_cube()) == pytest.approx(1.0)


def test_a_scaled_cube_in_the_same_corner_has_raw_iou_one_eighth():
    big = unit_cube((0.5, 0.5, 0.5))
    big.apply_scale(2.0)
    assert naive_iou(big, unit_cube((0.5, 0.5, 0.5))) == pytest.approx(1 / 8)
    assert aligned_iou(big, unit_cube()) == pytest.approx(1.0)


def test_normalisation_undoes_rotation_scale_and_translation():
    moved = l_bracket()
    moved.apply_transform(trimesh.transformations.rotation_matrix(1.1, [0.3, -1.0, 0.5]))
    moved.apply_scale(2.5)
    moved.apply_translation([7, -3, 1])
    assert naive_iou(moved, l_bracket()) < 0.01
    assert aligned_iou(moved, l_bracket()) == pytest.approx(1.0, abs=1e-6)


def test_normalisation_never_matches_a_part_with_its_mirror_image():
    mirrored = l_bracket()
    mirrored.apply_transform(np.diag([-1.0, 1.0, 1.0, 1.0]))
    assert aligned_iou(mirrored, l_bracket()) < 0.7


def test_an_open_mesh_is_refused():
    cube = unit_cube()
    open_box = trimesh.Trimesh(vertices=cube.vertices, faces=cube.faces[:-2], process=False)
    with pytest.raises(MeshError, match="not a closed solid"):
        to_manifold(open_box)


# --- text → CAD JSON ----------------------------------------------------------------------------------------------

CAD = {"units": "mm", "operations": [
    {"type": "sketch", "frame": "world", "curves": [{"type": "line"}, {"type": "arc"}], "plane": "XY"},
    {"type": "extrude", "frame": "sketch", "distance": 5.0, "symmetric": False},
]}


def test_structure_tokens_keep_kinds_and_drop_numbers_and_indices():
    assert structure_tokens(CAD) == [
        "units=mm", "operations[].type=sketch", "operations[].frame=world", "operations[].curves[].type=line",
        "operations[].curves[].type=arc", "operations[].plane=XY", "operations[].type=extrude",
        "operations[].frame=sketch", "operations[].distance=<number>", "operations[].symmetric=false"]


def test_structural_f1_ignores_sizes_but_counts_wrong_and_missing_parts():
    resized = copy.deepcopy(CAD)
    resized["operations"][1]["distance"] = 50.0
    assert structural_counts(resized, CAD) == PRCounts(tp=10, fp=0, fn=0)
    wrong_curve = copy.deepcopy(CAD)
    wrong_curve["operations"][0]["curves"][1]["type"] = "line"
    del wrong_curve["operations"][1]
    # 10 gold tokens; prediction has 6: five match, one «line» too many; the arc and the 4 extrude tokens are missed.
    assert structural_counts(wrong_curve, CAD) == PRCounts(tp=5, fp=1, fn=5)
    assert structural_counts(None, CAD) == PRCounts(tp=0, fp=0, fn=10)


# --- manual Q&A ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Serrer à 25 N·m", [Quantity(25, "N·m")]),
    ("couple 25 Nm", [Quantity(25, "N·m")]),
    ("couple 25 N.m", [Quantity(25, "N·m")]),
    ("jeu 0,15 mm", [Quantity(0.15, "mm")]),
    ("jeu 0.15mm", [Quantity(0.15, "mm")]),
    ("effort 12\u202f000 N", [Quantity(12000, "N")]),
    ("1,5 bar à -3 °C", [Quantity(1.5, "bar"), Quantity(-3, "°C")]),
    ("vis M8 x 1,25", []),  # a thread designation, compared as text
    ("valeurs 1, 2", [Quantity(1, None), Quantity(2, None)]),
    ("2 vis", [Quantity(2, None)]),
])
def test_quantities_are_read_with_decimal_comma_grouping_and_unit_spellings(text, expected):
    assert extract_quantities(text) == expected


def test_numeric_exact_match_needs_every_gold_quantity_with_its_unit():
    gold = "Serrer à 25 N·m, jeu 0,15 mm."
    assert numeric_exact_match("25 Nm et un jeu de 0.15 mm (vis M8)", gold) is True
    assert numeric_exact_match("25 Nm", gold) is False
    assert numeric_exact_match("25 N·m, jeu 0,15 cm", gold) is False
    assert numeric_exact_match("n'importe quoi", "Remplacer le joint.") is None


def test_keyword_presence_counts_whole_normalised_words():
    keywords = gold_keywords("Remplacer le joint torique et graisser la bague d'étanchéité.")
    assert keywords == ["remplacer", "joint", "torique", "graisser", "bague", "etancheite"]
    assert keyword_presence("Il faut REMPLACER le joint torique.", keywords) == pytest.approx(3 / 6)
    assert keyword_presence("jointure", ["joint"]) == 0.0
    assert keyword_presence("anything", []) is None


def test_text2cad_structure_tokens_name_parts_and_curves_and_drop_free_text():
    cad = {"final_name": "Bracket", "parts": {"part_1": {
        "sketch": {"face_1": {"loop_1": {"arc_1": {"Mid Point": [0.1, 0.2]}}}},
        "extrusion": {"operation": "JoinFeatureOperation"}, "description": {"name": "Plate", "length": 0.5}}}}
    assert structure_tokens(cad) == [
        "final_name=<text>", "parts.part_1.sketch.face_1.loop_1.arc_1.Mid Point[]=<number>",
        "parts.part_1.sketch.face_1.loop_1.arc_1.Mid Point[]=<number>",
        "parts.part_1.extrusion.operation=JoinFeatureOperation", "parts.part_1.description.name=<text>",
        "parts.part_1.description.length=<number>"]
    renamed = copy.deepcopy(cad)
    renamed["final_name"] = "Support"
    renamed["parts"]["part_1"]["description"]["name"] = "Base plate"
    assert structural_counts(renamed, cad) == PRCounts(tp=6, fp=0, fn=0)  # wording is not structure
