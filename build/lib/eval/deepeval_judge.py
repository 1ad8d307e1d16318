"""DeepEval's AnswerRelevancy, Faithfulness and GEval correctness, judged by any OpenAI-compatible endpoint.

Runs in the judge environment (`make judge-env` builds .venv-judge; any environment with `pip install -e .[judge]`
also serves), called by eval.judge:

    python -m eval.deepeval_judge CASES.jsonl OUT.jsonl --base-url URL --model NAME [--threshold 0.5]

CASES holds one {"id", "input", "actual_output", "expected_output", "retrieval_context": [...]} per line; OUT gets
one {"id", "metrics": {name: {"score", "reason", "success"} or {"error"}}} per case, in order.
Every request DeepEval makes carries its pydantic schema as `response_format` json_schema, with strings, lists and
the correctness score bounded, so that even a weak judge gives parseable answers (what a strong one says is its
own business). This module imports nothing from the rest of the project: the judge environment does not hold it.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deepeval.metrics import AnswerRelevancyMetric, FaithfulnessMetric, GEval
from deepeval.metrics.g_eval import Rubric
from deepeval.models import DeepEvalBaseLLM
from deepeval.test_case import LLMTestCase, SingleTurnParams
from openai import OpenAI

# Printable text without `"` and `\` (xgrammar emits those raw inside a pattern) and without control characters.
# The characters themselves, not \u escapes, which xgrammar 0.2.8 fails on (HTTP 500).
STRING_PATTERN = "^[ !#-\\[\\]-~\u00a0-\ufffc]{0,300}$"
MAX_LIST_ITEMS = 12

# The correctness rubric (GEval): what eval/judge.py's 0-5 scale said, as DeepEval rubric bands.
CORRECTNESS_STEPS = [
    "Compare every value in the actual output (torque, clearance, pressure, angle, dimension) with the expected "
    "output; the same quantity in another unit or spelling (N·m, Nm; 0,15 and 0.15; 4 daN·m and 40 N·m) is equal.",
    "Check that every step, part and condition of the expected output is in the actual output.",
    "Penalise anything in the actual output that contradicts the expected output or would be unsafe.",
    "Judge only correctness against the expected output, not style, language or length.",
]
CORRECTNESS_RUBRIC = [
    Rubric(score_range=(0, 0), expected_outcome="Wrong, contradicts the reference, unsafe, or no answer."),
    Rubric(score_range=(1, 1), expected_outcome="Mostly wrong or off-topic, a trace of relevant content."),
    Rubric(score_range=(2, 2), expected_outcome="A key value is wrong or missing, or a required step is missing."),
    Rubric(score_range=(3, 3), expected_outcome="Main point right; a secondary value, step or condition missing."),
    Rubric(score_range=(4, 4), expected_outcome="Correct, with a minor omission a technician would not act on."),
    Rubric(score_range=(5, 5), expected_outcome="Correct and complete: every value with its unit, every step."),
]
CORRECTNESS_SCORE_RANGE = (0, 5)


def bounded_schema(schema: dict, score_range: tuple[float, float]) -> dict:
    """A copy of a pydantic JSON schema with every free string, list and `score` bounded (see the module doc)."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "string" and "enum" not in node and "const" not in node:
                node["pattern"] = STRING_PATTERN
            elif kind == "array":
                node["maxItems"] = MAX_LIST_ITEMS
            properties = node.get("properties")
            if isinstance(properties, dict) and properties.get("score", {}).get("type") in ("number", "integer"):
                properties["score"] = {"type": "integer", "minimum": score_range[0], "maximum": score_range[1]}
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


class OpenAICompatibleJudge(DeepEvalBaseLLM):
    """A DeepEval judge model behind any OpenAI-compatible endpoint, answering under DeepEval's schemas."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 120.0,
                 max_tokens: int = 4096) -> None:
        self.base_url, self.model_name, self.max_tokens = base_url, model, max_tokens
        self.client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=2)
        super().__init__(model)

    def load_model(self):
        return self.client

    def get_model_name(self) -> str:
        return f"{self.model_name} at {self.base_url}"

    def generate(self, prompt: str, schema=None):
        request = {"model": self.model_name, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                   "max_tokens": self.max_tokens}
        if schema is not None:
            request["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema.__name__,
                "schema": bounded_schema(schema.model_json_schema(), CORRECTNESS_SCORE_RANGE)}}
        choice = self.client.chat.completions.create(**request).choices[0]
        if choice.finish_reason == "length":
            raise ValueError(f"the judge's answer was cut at max_tokens={self.max_tokens}")
        text = choice.message.content or ""
        return schema.model_validate_json(text) if schema is not None else text

    async def a_generate(self, prompt: str, schema=None):
        return self.generate(prompt, schema)


def metrics_for(judge: OpenAICompatibleJudge, threshold: float) -> dict:
    """Fresh metric objects (they hold per-case state), by the name they are reported under."""
    common = {"model": judge, "threshold": threshold, "async_mode": False}
    return {
        "answer_relevancy": AnswerRelevancyMetric(include_reason=True, **common),
        "faithfulness": FaithfulnessMetric(include_reason=True, **common),
        "correctness": GEval(name="Correctness", evaluation_steps=CORRECTNESS_STEPS, rubric=CORRECTNESS_RUBRIC,
                             evaluation_params=[SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT,
                                                SingleTurnParams.EXPECTED_OUTPUT], **common),
    }


def judge_case(case: dict, judge: OpenAICompatibleJudge, threshold: float) -> dict:
    test_case = LLMTestCase(input=case["input"], actual_output=case["actual_output"] or "(no answer)",
                            expected_output=case["expected_output"], retrieval_context=case["retrieval_context"])
    results = {}
    for name, metric in metrics_for(judge, threshold).items():
        try:
            score = metric.measure(test_case, _show_indicator=False)
            results[name] = {"score": score, "reason": metric.reason, "success": bool(metric.success)}
        except Exception as error:  # noqa: BLE001 - one failed judgement must not lose the others; reported per item
            results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
    return {"id": case["id"], "metrics": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key-env", default="FICHE_JUDGE_API_KEY")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    cases = [json.loads(line) for line in args.cases.read_text(encoding="utf-8").splitlines() if line.strip()]
    judge = OpenAICompatibleJudge(args.base_url, args.model, os.environ.get(args.api_key_env), args.timeout_s,
                                  args.max_tokens)
    with ThreadPoolExecutor(max_workers=max(1, args.concurrency)) as pool:
        results = list(pool.map(lambda case: judge_case(case, judge, args.threshold), cases))
    args.out.write_text("".join(json.dumps(result, ensure_ascii=False) + "\n" for result in results),
                        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
