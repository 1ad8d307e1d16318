"""`fiche compare`: two runs side by side with deltas, per-field F1, items better and worse, a plot, a regression
gate on the exit status."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.compare import Run, compare, flatten, load_run, verdict
from eval.runner import score
from fiche_vlm.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def _qa_run(tmp_path: Path, name: str, answers: dict[str, str]) -> Path:
    gold = _write_jsonl(tmp_path / "qa_val.jsonl", [
        {"id": key, "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": reference}],
         "metadata": {"content_type": "table", "question_type": "factual"}}
        for key, question, reference in (("q1", "Couple de culasse ?", "Stage 1: 40 Nm, Stage 2: 90 degrees"),
                                         ("q2", "Jeu ?", "Jeu 0,15–0,25 mm"),
                                         ("q3", "Pression ?", "2,5 bar"))])
    predictions = _write_jsonl(tmp_path / f"{name}.jsonl",
                               [{"id": key, "raw": raw, "finish_reason": "stop"} for key, raw in answers.items()])
    score(predictions, gold, tmp_path / name, task="qa")
    return tmp_path / name


@pytest.fixture
def qa_runs(tmp_path) -> tuple[Path, Path]:
    before = _qa_run(tmp_path, "v1", {"q1": "45 Nm", "q2": "0,15 à 0,25 mm", "q3": "250 kPa"})
    after = _qa_run(tmp_path, "v2", {"q1": "40 N·m, then 90° twice", "q2": "0,2 mm", "q3": "2,5 bar"})
    return before, after


def test_compare_lists_every_metric_with_its_delta_and_the_items_that_changed_with_both_answers(qa_runs, tmp_path):
    before, after = qa_runs
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", str(before), str(after / "metrics.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 items better, 1 worse" in result.output
    markdown = (out / "compare.md").read_text(encoding="utf-8")
    # Numeric exact match 2/3 in both runs; q1 fixed, q2 broken (a single value for a range).
    assert "| overall.numeric_exact_match.rate | 0.6667 | 0.6667 | +0.0000 | same |" in markdown
    assert "| q1 | 0.000 | 0.500 | 45 Nm | 40 N·m, then 90° twice |" in markdown  # keywords stage, degrees: 0 both
    assert "| q2 | 1.000 | 0.000 | 0,15 à 0,25 mm | 0,2 mm |" in markdown
    assert markdown.index("## Better in B") < markdown.index("| q1 |") < markdown.index("## Worse in B")
    assert (out / "compare_metrics.png").read_bytes().startswith(PNG_MAGIC)
    assert "<td>overall.numeric_exact_match.rate</td>" in (out / "compare.html").read_text(encoding="utf-8")


def test_fail_if_worse_gates_the_exit_status_beyond_its_tolerance(qa_runs, tmp_path):
    before, after = qa_runs
    gate = ["compare", str(after), str(before), "--out", str(tmp_path / "cmp")]
    same = CliRunner().invoke(main, gate + ["--fail-if-worse", "overall.numeric_exact_match.rate:0"])
    assert same.exit_code == 0, same.output
    worse = _qa_run(tmp_path, "v3", {"q1": "45 Nm", "q2": "0,2 mm", "q3": "2,5 bar"})
    result = CliRunner().invoke(main, ["compare", str(before), str(worse), "--out", str(tmp_path / "cmp3"),
                                       "--fail-if-worse", "overall.numeric_exact_match.rate:0.1"])
    assert result.exit_code == 1 and "overall.numeric_exact_match.rate: 0.6667 → 0.3333" in result.output
    tolerated = CliRunner().invoke(main, ["compare", str(before), str(worse), "--out", str(tmp_path / "cmp4"),
                                          "--fail-if-worse", "overall.numeric_exact_match.rate:0.5"])
    assert tolerated.exit_code == 0, tolerated.output
    unknown = CliRunner().invoke(main, gate + ["--fail-if-worse", "numeric_exact_match:0"])
    assert unknown.exit_code == 1 and "no metric 'numeric_exact_match'" in unknown.output
    malformed = CliRunner().invoke(main, gate + ["--fail-if-worse", "overall.numeric_exact_match.rate"])
    assert malformed.exit_code == 2 and "expected METRIC:TOLERANCE" in malformed.output


def test_per_field_f1_deltas_for_fiches(tmp_path, sample_fiches):
    gold = [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines() if line.strip()]
    exact = [{"id": record["id"], "raw": json.dumps(record["output"]), "json": record["output"]} for record in gold]
    changed = copy.deepcopy(exact)
    changed[0]["json"]["materials_guess"] = ["unobtainium"]
    changed[0]["raw"] = json.dumps(changed[0]["json"])
    for name, records in (("a", exact), ("b", changed)):
        score(_write_jsonl(tmp_path / f"{name}.jsonl", records), sample_fiches, tmp_path / name, task="fiche")
    comparison = compare(load_run(tmp_path / "a"), load_run(tmp_path / "b"))
    rows = {row["metric"]: row for row in comparison["metrics"]}
    assert rows["slot_f1.per_field.materials_guess.f1"]["verdict"] == "worse"
    assert rows["slot_f1.per_field.components.f1"]["delta"] == 0
    assert [row["id"] for row in comparison["worse"]] == [gold[0]["id"]] and not comparison["better"]
    CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")])
    markdown = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "## Per-field F1" in markdown and "| materials_guess | 1.0000 |" in markdown


def test_cut_answers_gone_are_better_and_shorter_answers_are_only_changed() -> None:
    """From the loop test's report: run 1 cut 5 answers at max_tokens and wrote 2,382 tokens, run 2 cut none
    (so metrics.json has no `length` key) and wrote 854; that is 5 → 0 cut answers, better, and fewer tokens, which
    is no verdict by itself."""
    run_a = Run("a", {"task": "fiche", "run": {"finish_reasons": {"length": 5, "stop": 1}, "completion_tokens_total": 2382}})
    run_b = Run("b", {"task": "fiche", "run": {"finish_reasons": {"stop": 6}, "completion_tokens_total": 854}})
    rows = {row["metric"]: row for row in compare(run_a, run_b)["metrics"]}
    assert (rows["run.finish_reasons.length"]["b"], rows["run.finish_reasons.length"]["verdict"]) == (0.0, "better")
    assert rows["run.finish_reasons.stop"]["verdict"] == "better"
    assert rows["run.completion_tokens_total"]["verdict"] == "changed"


def test_lower_is_better_for_errors_and_chamfer_and_runs_of_different_tasks_are_refused(tmp_path, qa_runs):
    assert verdict("chamfer_x1000.median", 2.0, 1.0) == "better"
    assert verdict("geometry.axis_error_mm.H.mean", 1.0, 3.0) == "worse"
    assert verdict("iou.unit_cube.invalid_excluded.mean", 0.5, 0.7) == "better"
    assert "counts.gold_read" not in flatten({"task": "qa", "counts": {"gold_read": 3}})
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"task": "fiche"}), encoding="utf-8")
    result = CliRunner().invoke(main, ["compare", str(qa_runs[0]), str(other), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "task 'fiche' differs" in result.output
