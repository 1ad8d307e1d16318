"""Image → CadQuery scoring through the real sandbox: valid-syntax rate and IoU, raw and normalised, with invalid
outputs counted as 0 and excluded."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

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
    errors = {item["id"]: item["error"] for item in metrics["items"]}
    assert errors["cq3"] == "no prediction for this id" and errors["cq2"]
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "50.0 % (2/4)" in markdown and "invalid outputs as 0" in markdown and "invalid outputs excluded" in markdown


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
