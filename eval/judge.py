"""Optional LLM-as-judge: scores a Q&A answer's correctness against the reference, by a stated rubric.

Off by default (`fiche score --judge-url … --judge-model …` turns it on); any OpenAI-compatible endpoint works.
The judge sees the question, the reference answer and the candidate answer, and must reply with a JSON object
{"score": 0-5, "justification": "…"}. The score is reported as is and as score / 5.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

RUBRIC = """Score the CANDIDATE answer's correctness against the REFERENCE answer, for the QUESTION, on this scale:
5 - Correct and complete: every value (torque, clearance, pressure, dimension…) matches the reference with its
    unit, every required step or part is there, and nothing added contradicts the reference.
4 - Correct, with a minor omission or imprecision that would not change what a technician does.
3 - Partly correct: the main point is right but a secondary value, step or condition is missing or imprecise.
2 - Some relevant content, but a key value is wrong or missing, or a required step is missing.
1 - Mostly wrong or off-topic, with only a trace of relevant content.
0 - Wrong, contradicts the reference, unsafe, or no answer.
Rules: a number that differs from the reference (other than the same quantity in another unit) caps the score at 2.
Judge only correctness against the reference, not style, language or length. Units written differently
(N·m, Nm, N.m; 0,15 and 0.15) are the same.
Reply with ONLY a JSON object: {"score": <integer 0-5>, "justification": "<one sentence>"}."""

MAX_SCORE = 5


class JudgeReplyError(ValueError):
    """The judge's reply holds no usable verdict."""


@dataclass(frozen=True)
class Verdict:
    score: int
    justification: str

    @property
    def normalised(self) -> float:
        return self.score / MAX_SCORE


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key_env: str = "FICHE_JUDGE_API_KEY"
    timeout_s: float = 120.0
    max_tokens: int = 300
    concurrency: int = 4


def build_messages(question: str, reference: str, candidate: str) -> list[dict[str, str]]:
    """The chat messages sent to the judge: the rubric as system prompt, the three texts delimited in the user turn."""
    return [
        {"role": "system", "content": "You are a strict grader of answers about mechanical service manuals.\n\n" + RUBRIC},
        {"role": "user", "content": f"QUESTION:\n<<<\n{question}\n>>>\n\nREFERENCE:\n<<<\n{reference}\n>>>\n\n"
                                    f"CANDIDATE:\n<<<\n{candidate}\n>>>"},
    ]


def parse_verdict(reply: str) -> Verdict:
    """The verdict in the judge's reply (fences or prose around the JSON are tolerated); JudgeReplyError otherwise."""
    from postprocess.extract import extract_json

    extracted = extract_json(reply or "")
    value = getattr(extracted, "value", None)
    if not isinstance(value, dict):
        raise JudgeReplyError(f"no JSON object in the judge's reply: {(reply or '')[:120]!r}")
    score = value.get("score")
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_SCORE:
        raise JudgeReplyError(f"score: expected an integer 0-{MAX_SCORE}, got {score!r}")
    justification = value.get("justification", "")
    return Verdict(score=score, justification=justification if isinstance(justification, str) else str(justification))


def judge_answers(triples: Sequence[tuple[str, str, str]], config: JudgeConfig) -> list[Verdict | str]:
    """A verdict, or the error text, for each (question, reference, candidate), in order."""
    from openai import OpenAI

    client = OpenAI(base_url=config.base_url, api_key=os.environ.get(config.api_key_env) or "EMPTY",
                    timeout=config.timeout_s, max_retries=2)

    def one(triple: tuple[str, str, str]) -> Verdict | str:
        try:
            response = client.chat.completions.create(model=config.model, messages=build_messages(*triple),
                                                      temperature=0, max_tokens=config.max_tokens)
            return parse_verdict(response.choices[0].message.content or "")
        except Exception as error:  # noqa: BLE001 - one failed judgement must not lose the others; reported per item
            return f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as pool:
        return list(pool.map(one, triples))
