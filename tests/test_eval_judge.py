"""The optional LLM judge: its prompt carries the rubric and the three texts; its reply parsing is strict."""
from __future__ import annotations

import pytest

from eval.judge import RUBRIC, JudgeReplyError, Verdict, build_messages, parse_verdict


def test_messages_carry_the_rubric_and_delimit_question_reference_and_candidate():
    messages = build_messages("Quel couple ?", "25 N·m", "Serrer à 25 Nm")
    assert [message["role"] for message in messages] == ["system", "user"]
    assert RUBRIC in messages[0]["content"] and '{"score": <integer 0-5>' in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("QUESTION:\n<<<\nQuel couple ?\n>>>") < user.index("REFERENCE:\n<<<\n25 N·m\n>>>") \
        < user.index("CANDIDATE:\n<<<\nSerrer à 25 Nm\n>>>")


@pytest.mark.parametrize("reply, score", [
    ('{"score": 5, "justification": "Valeur et unité exactes."}', 5),
    ('Voici mon verdict :\n```json\n{"score": 2, "justification": "Couple faux."}\n```', 2),
    ('{"score": 4.0, "justification": "ok"}', 4),
    ('{"score": 0}', 0),
])
def test_verdicts_are_read_from_json_even_inside_fences_or_prose(reply, score):
    verdict = parse_verdict(reply)
    assert verdict.score == score and verdict.normalised == score / 5


@pytest.mark.parametrize("reply, message", [
    ("Je dirais 4 sur 5.", "no JSON object"),
    ('{"score": 7, "justification": "trop"}', "expected an integer 0-5, got 7"),
    ('{"score": "5"}', "expected an integer 0-5, got '5'"),
    ('{"score": true}', "expected an integer 0-5, got True"),
    ('{"score": 3.5}', "expected an integer 0-5, got 3.5"),
    ("", "no JSON object"),
])
def test_unusable_replies_are_errors_not_scores(reply, message):
    with pytest.raises(JudgeReplyError, match=message.replace("(", r"\(")):
        parse_verdict(reply)


def test_verdict_normalises_to_the_unit_interval():
    assert Verdict(score=3, justification="").normalised == pytest.approx(0.6)


def test_an_unreachable_judge_gives_a_per_item_error_and_no_score(tmp_path):
    import json

    from eval.judge import JudgeConfig
    from eval.runner import score

    gold = tmp_path / "qa_val.jsonl"
    gold.write_text(json.dumps({"id": "q1", "messages": [{"role": "user", "content": "Quel couple ?"},
                                                         {"role": "assistant", "content": "25 N·m."}],
                                "metadata": {"content_type": "table", "question_type": "factual"}}) + "\n",
                    encoding="utf-8")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "q1", "raw": "25 Nm"}) + "\n", encoding="utf-8")
    judge = JudgeConfig(base_url="http://127.0.0.1:8349/v1", model="judge", timeout_s=5)  # nothing listens there
    metrics = score(predictions, gold, tmp_path / "out", task="qa", judge=judge)
    item = metrics["items"][0]
    assert item["judge_score"] is None and "Connection" in item["judge_error"]
    assert metrics["overall"]["judge_score_mean"] is None and metrics["overall"]["numeric_exact_match"]["count"] == 1
    assert "| q1 | table | factual | yes | n/a | error |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
