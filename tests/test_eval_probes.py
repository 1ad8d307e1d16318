"""Probe sets: the workflow's probe format, each probe's verdict, pass rates per category, thresholds that exit 1.

`fiche eval --probes` against the real server (with the judge) is in tests/test_eval_server.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.loading import InputError
from eval.probes import load_probes, write_valset
from eval.runner import gate_failures, score
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli import main

BAD = Path(__file__).parent / "data" / "bad"
EXAMPLE = PROJECT_ROOT / "data" / "qa" / "probes.json"


@pytest.mark.parametrize("name, message", [
    ("eval_probes_no_expectation.json", ":1: expected_answer or expected_keywords: a probe needs one of them"),
    ("eval_probes_duplicate_id.json", ":2: id: duplicate 'p1' (first at "),
    ("eval_probes_keywords_not_a_list.json", ":1: expected_keywords: expected a non-empty list of strings"),
    ("eval_probes_missing_category.json", ":1: category: expected a non-empty string, got None"),
    ("eval_probes_empty.json", ": no probes"),
])
def test_bad_probe_files_are_refused_naming_file_position_and_field(name, message):
    with pytest.raises(InputError) as raised:
        load_probes(BAD / name)
    assert str(raised.value).startswith(f"{BAD / name}{message}")


def _score_probes(tmp_path: Path, answers: dict[str, str], threshold: float) -> dict:
    probes = load_probes(EXAMPLE)
    valset = write_valset(probes, tmp_path / "probes_valset.jsonl")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": key, "raw": raw}, ensure_ascii=False) + "\n"
                                   for key, raw in answers.items()), encoding="utf-8")
    return score(predictions, valset, tmp_path / "out", task="qa", probes=probes, probe_threshold=threshold)


def test_each_probe_passes_or_fails_and_categories_are_rated_against_the_threshold(tmp_path):
    metrics = _score_probes(tmp_path, {
        "head-bolts": "40 N·m, then 90° twice",                      # the workflow's critical probe: passes
        "pump-torque": "45 Nm",                                      # wrong torque
        "filter-change": "Dévisser le bol, sortir la cartouche, huiler le joint neuf.",  # 4/4 keywords
        "belt-tension": "Flèche de 10 mm sous 50 N au milieu du brin.",
    }, threshold=0.75)
    verdicts = {probe["id"]: (probe["passed"], probe["why"]) for probe in metrics["probes"]["probes"]}
    assert verdicts == {"head-bolts": (True, ""), "pump-torque": (False, "missing 25 N·m"),
                        "filter-change": (True, ""), "belt-tension": (True, "")}
    assert metrics["probes"]["categories"]["critical"] == {"count": 1, "total": 2, "rate": 0.5,
                                                           "below_threshold": True}
    assert gate_failures(metrics) == ["probes critical: pass rate 0.500 < 0.75"]
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| critical | 1/2 | 0.500 | 0.75 | BELOW |" in markdown and "| procedure | 2/2 | 1.000 | 0.75 | ok |" in markdown
    assert "| pump-torque | critical | FAIL | missing 25 N·m |" in markdown


def test_keywords_below_the_share_fail_and_a_missing_answer_fails(tmp_path):
    metrics = _score_probes(tmp_path, {"filter-change": "Dévisser la cartouche."}, threshold=0.5)
    verdicts = {probe["id"]: probe["why"] for probe in metrics["probes"]["probes"]}
    assert verdicts["filter-change"] == "keywords 0.50 < 0.8" and verdicts["head-bolts"] == "no answer"


def test_a_judge_metric_mean_below_the_threshold_is_a_gate_failure():
    judge = {"threshold": 0.7, "metrics": {"answer_relevancy": {"mean": 0.9}, "faithfulness": {"mean": 0.65},
                                           "correctness": {"mean": None}}}
    assert gate_failures({"judge": judge}) == ["judge faithfulness: mean 0.650 < 0.7",
                                              "judge correctness: mean n/a < 0.7"]


def test_eval_needs_a_valset_or_probes_and_probes_are_qa(tmp_path):
    base = ["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--out", str(tmp_path / "o")]
    neither = CliRunner().invoke(main, base)
    assert neither.exit_code == 2 and "give either VALSET or --probes" in neither.output
    wrong_task = CliRunner().invoke(main, base + ["--probes", str(EXAMPLE), "--task", "fiche"])
    assert wrong_task.exit_code == 2 and "--task must be qa" in wrong_task.output
