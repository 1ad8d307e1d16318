"""Image → CadQuery scoring through the real sandbox: valid-syntax rate and IoU, raw and normalised, with invalid
outputs counted as 0 and excluded."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from eval.metrics.mesh import (
    chamfer_distance,
    chamfer_of_points,
    naive_iou,
    unit_cube_chamfer,
    unit_cube_iou,
    unit_cube_normalised,
)
from eval.runner import score
from fiche_vlm import PROJECT_ROOT

GOLD_CODE = 'import cadquery as cq\n\nresult = cq.Workplane("XY").box(2, 2, 2)\n'
SAMPLE = PROJECT_ROOT / "data" / "cadquery" / "cadquery.jsonl"


def _sharegpt(record_id: str, code: str) -> dict:
    return {"id": record_id, "images": ["cq.png"],
            "messages": [{"role": "user", "content": "<image>Generate CADQuery code:"},
                         {"role": "assistant", "content": code}]}


def test_cadquery_iou_four_ways_on_known_boxes(tmp_path: Path):
    gold = tmp_path / "cq_val.jsonl"
    gold.write_text("".join(json.dumps(_sharegpt(f"cq{k}", GOLD_CODE)) + "\n" for k in range(4)), encoding="utf-8")
    answers = {
        # Same box moved by half its side: raw IoU 4/12, normalised 1.
        "cq0": "```python\nimport cadquery as cq\nresult = cq.Workplane('XY').box(2, 2, 2).translate((1, 0, 0))\n```",
        # Twice as large around the same centre: raw IoU 8/64, normalised 1.
        "cq1": "import cadquery as cq\nresult = cq.Workplane('XY').box(4, 4, 4)\n",
        # Not Python.
        "cq2": "import cadquery as cq\nresult = cq.Workplane('XY').box(1, 1",
        # cq3: no prediction at all.
    }
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": key, "raw": raw, "json": None, "finish_reason": "stop"}) + "\n"
                                   for key, raw in answers.items()), encoding="utf-8")
    metrics = score(predictions, gold, tmp_path / "out", task="cadquery")

    assert metrics["valid_syntax_rate"] == {"count": 2, "total": 4, "rate": 0.5}
    assert metrics["invalid_ratio"] == {"count": 2, "total": 4, "rate": 0.5}
    assert metrics["syntax_ok"]["count"] == 2 and metrics["runs"]["count"] == 2
    naive, aligned = metrics["iou"]["naive"], metrics["iou"]["aligned"]
    assert naive["invalid_excluded"]["mean"] == pytest.approx((1 / 3 + 1 / 8) / 2, abs=1e-6)
    assert naive["invalid_as_0"]["mean"] == pytest.approx((1 / 3 + 1 / 8) / 4, abs=1e-6)
    assert aligned["invalid_excluded"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert aligned["invalid_as_0"]["mean"] == pytest.approx(0.5, abs=1e-6)
    # Unit-cube normalisation: the moved box and the doubled box are the gold box again.
    assert metrics["iou"]["unit_cube"]["invalid_excluded"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["chamfer_x1000"]["n"] == 2 and metrics["chamfer_x1000"]["median"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["invalid_ratio"] == {"count": 2, "total": 4, "rate": 0.5}
    errors = {item["id"]: item["error"] for item in metrics["items"]}
    assert errors["cq3"] == "no prediction for this id" and errors["cq2"]
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "50.0 % (2/4)" in markdown and "invalid outputs as 0" in markdown and "invalid outputs excluded" in markdown
    assert f"CadQuery {metrics['cadquery_version']}" in markdown and "invalid ratio 50.0 % (2/4)" in markdown


# --- the published protocol's metrics on solids of known volume and place ----------------------------------------

def _box(side: float | tuple[float, float, float], at: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    import trimesh

    box = trimesh.creation.box((side,) * 3 if isinstance(side, (int, float)) else side)
    box.apply_translation(at)
    return box


def test_identical_solids_have_iou_1_and_chamfer_0():
    assert unit_cube_iou(_box(2), _box(2)) == pytest.approx(1.0)
    assert unit_cube_chamfer(_box(2), _box(2)) == 0.0


def test_a_solid_and_its_double_are_equal_in_the_unit_cube_not_as_written():
    assert naive_iou(_box(4), _box(2)) == pytest.approx(1 / 8)
    assert unit_cube_iou(_box(4), _box(2)) == pytest.approx(1.0)
    assert unit_cube_chamfer(_box(4), _box(2)) == pytest.approx(0.0, abs=1e-12)
    assert chamfer_distance(_box(4), _box(2)) > 0.1


def test_disjoint_solids_have_iou_0_and_chamfer_of_their_squared_distance_twice():
    # Two 1 cm cubes 10 apart: every nearest neighbour is 10 ± 0.01 away, both ways: CD = 2 × 10².
    assert naive_iou(_box(0.01), _box(0.01, (10, 0, 0))) == 0.0
    assert chamfer_distance(_box(0.01), _box(0.01, (10, 0, 0))) == pytest.approx(200, rel=0.005)


def test_a_cube_and_its_inscribed_sphere_overlap_by_their_volume_ratio():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=1.0)  # volume 4π/3 within 0.1 %
    expected = (4 / 3 * math.pi) / 8
    assert naive_iou(sphere, _box(2)) == pytest.approx(expected, rel=0.002)
    assert unit_cube_iou(sphere, _box(2)) == pytest.approx(expected, rel=0.002)


def test_unit_cube_normalisation_fits_the_longest_side_to_1_around_the_cube_centre():
    normalised = unit_cube_normalised(_box((4, 2, 1), (7, -3, 5)))
    assert normalised.bounds.ravel().tolist() == pytest.approx([0.0, 0.25, 0.375, 1.0, 0.75, 0.625])


def test_chamfer_of_points_is_the_sum_of_both_mean_squared_distances():
    a = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    b = np.array([[0.0, 2.0, 0.0]])
    # a → b: 4 and 5, mean 4.5; b → a: 4. Sum 8.5.
    assert chamfer_of_points(a, b) == pytest.approx(8.5)


def test_gold_code_without_a_solid_is_listed_not_scored(tmp_path: Path):
    gold = tmp_path / "cq_val.jsonl"
    gold.write_text(json.dumps(_sharegpt("bad", "import cadquery as cq\nresult = 42\n")) + "\n", encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "bad", "raw": GOLD_CODE, "json": None}) + "\n", encoding="utf-8")
    metrics = score(predictions, gold, tmp_path / "out", task="cadquery")
    assert metrics["valid_syntax_rate"]["total"] == 0
    assert metrics["gold_unusable"][0].startswith("bad: gold code gives no solid")
    assert "Not scored: bad: gold code gives no solid" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


@pytest.mark.timeout(600)
def test_gencad_code_and_cad_recode_answers_score_alike(tmp_path: Path):
    """A GenCAD-Code program (`solid`) and a CAD-Recode one (`r`) from the sample, each answered by itself, fenced
    or not: both are valid solids of the right volume with IoU 1, and the report names each convention."""
    codes = {record["deepcad_id"]: record["cadquery"]
             for record in map(json.loads, SAMPLE.read_text(encoding="utf-8").splitlines())}
    gold = tmp_path / "cq_val.jsonl"
    gold.write_text("".join(json.dumps(_sharegpt(key, codes[key])) + "\n" for key in ("gc-tube", "cr-angle")),
                    encoding="utf-8")
    answers = {"gc-tube": f"Here is the code:\n```python\n{codes['gc-tube']}```\n", "cr-angle": codes["cr-angle"]}
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(json.dumps({"id": key, "raw": raw, "json": None, "finish_reason": "stop"}) + "\n"
                                   for key, raw in answers.items()), encoding="utf-8")
    metrics = score(predictions, gold, tmp_path / "out", task="cadquery")

    assert metrics["valid_syntax_rate"] == {"count": 2, "total": 2, "rate": 1.0}
    assert metrics["invalid_ratio"] == {"count": 0, "total": 2, "rate": 0.0}
    assert metrics["conventions"] == {"solid": 1, "r": 1}
    items = {item["id"]: item for item in metrics["items"]}
    assert items["gc-tube"]["volume"] == pytest.approx(math.pi * (0.75 ** 2 - 0.45 ** 2) * 0.5, rel=1e-6)
    assert items["cr-angle"]["volume"] == pytest.approx((120 * 20 + 20 * 100) * 100, rel=1e-6)
    for kind in ("naive", "aligned"):
        assert metrics["iou"][kind]["invalid_as_0"]["mean"] == pytest.approx(1.0, abs=1e-6)
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Shape found by: r 1, solid 1" in markdown and "| gc-tube | yes | yes | yes | solid |" in markdown
