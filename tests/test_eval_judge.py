"""The judge metrics' plumbing without a judge model: per-item errors, strict score checks, the judge environment.

The judge path against a real judge (the vLLM CPU server on the tiny model) is in tests/test_eval_server.py.
"""
from __future__ import annotations

import json

import pytest

from eval.judge import METRICS, JudgeConfig, JudgeUnavailable, checked


@pytest.mark.parametrize("result, expected", [
    ({"score": 0.8, "reason": "ok", "success": True}, {"score": 0.8, "reason": "ok", "success": True}),
    ({"score": 1.4, "reason": "?"}, {"error": "score 1.4 outside [0, 1]"}),
    ({"score": True}, {"error": "no score in {'score': True}"}),
    ({"error": "ValidationError: …"}, {"error": "ValidationError: …"}),
])
def test_a_judge_result_is_a_score_in_the_unit_interval_or_an_error(result, expected):
    assert checked(result) == expected


def _qa_files(tmp_path):
    gold = tmp_path / "qa_val.jsonl"
    gold.write_text(json.dumps({"id": "q1", "messages": [{"role": "user", "content": "Quel couple ?"},
                                                         {"role": "assistant", "content": "25 N·m."}],
                                "metadata": {"content_type": "table", "question_type": "factual"}}) + "\n",
                    encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "q1", "raw": "25 Nm"}) + "\n", encoding="utf-8")
    return predictions, gold


def test_an_unreachable_judge_gives_per_item_errors_and_no_score(tmp_path):
    from eval.runner import score

    predictions, gold = _qa_files(tmp_path)
    judge = JudgeConfig(base_url="http://127.0.0.1:9/v1", model="judge", timeout_s=5)  # nothing listens there
    metrics = score(predictions, gold, tmp_path / "out", task="qa", judge=judge)
    item = metrics["items"][0]
    assert set(item["judge"]) == set(METRICS)
    assert all("Connection" in result["error"] for result in item["judge"].values())
    assert all(stats["mean"] is None and stats["errors"] == 1 for stats in metrics["judge"]["metrics"].values())
    assert metrics["overall"]["numeric_exact_match"]["count"] == 1
    assert "| q1 | table | factual | yes |  | n/a | error | error | error |" in \
        (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_a_missing_judge_python_is_a_clear_error(tmp_path, monkeypatch):
    from eval.runner import score

    monkeypatch.setenv("FICHE_JUDGE_PYTHON", str(tmp_path / "no-such-python"))
    predictions, gold = _qa_files(tmp_path)
    with pytest.raises(JudgeUnavailable, match="cannot run the judge python .*no-such-python"):
        score(predictions, gold, tmp_path / "out", task="qa", judge=JudgeConfig("http://127.0.0.1:9/v1", "judge"))
