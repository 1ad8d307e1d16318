"""Optional LLM-judge metrics for manual Q&A: DeepEval's AnswerRelevancy, Faithfulness and GEval correctness.

Off by default; `fiche eval|score --judge-url … --judge-model …` turns them on, with any OpenAI-compatible endpoint
as the judge (a larger model served by vLLM, for example). DeepEval pins click and rich below the versions the
.venv holds, so it lives in its own environment (`make judge-env` → .venv-judge, or $FICHE_JUDGE_PYTHON naming any
python with `pip install -e .[judge]`): the cases go to eval.deepeval_judge in that python as a JSONL file, and the
per-item scores and reasons come back the same way.

What each metric asks the judge (scores in [0, 1]; an item passes at or above the threshold):
- answer_relevancy: the share of the answer's statements that address the question;
- faithfulness: the share of the answer's claims that the context does not contradict; the context is the record's
  metadata `context` text when it has one, else the reference answer;
- correctness (GEval): the answer against the reference answer on a 0-5 rubric (values with their units, steps,
  nothing contradicting; see eval/deepeval_judge.py), divided by 5.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fiche_io.paths import PROJECT_ROOT

METRICS = ("answer_relevancy", "faithfulness", "correctness")


class JudgeUnavailable(RuntimeError):
    """No python with DeepEval to run the judge in, or the judge run itself failed."""


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key_env: str = "FICHE_JUDGE_API_KEY"
    threshold: float = 0.5  # an item passes a metric at or above it
    timeout_s: float = 120.0
    max_tokens: int = 4096
    concurrency: int = 4


@dataclass(frozen=True)
class JudgeCase:
    id: str
    question: str
    answer: str
    reference: str
    context: str


def judge_python() -> Path:
    """$FICHE_JUDGE_PYTHON, else the project's .venv-judge, else this python when it holds DeepEval."""
    if os.environ.get("FICHE_JUDGE_PYTHON"):
        return Path(os.environ["FICHE_JUDGE_PYTHON"])
    judge_env = PROJECT_ROOT / ".venv-judge" / "bin" / "python"
    if judge_env.exists():
        return judge_env
    if importlib.util.find_spec("deepeval") is not None:
        return Path(sys.executable)
    raise JudgeUnavailable("no judge environment: run `make judge-env` (builds .venv-judge from "
                           "requirements/judge.txt) or set FICHE_JUDGE_PYTHON to a python with `pip install -e .[judge]`")


def judge_answers(cases: Sequence[JudgeCase], config: JudgeConfig, work_dir: Path) -> list[dict[str, dict]]:
    """For each case, in order: {metric: {"score", "reason", "success"} or {"error"}}."""
    python = judge_python()
    work_dir.mkdir(parents=True, exist_ok=True)
    cases_path, out_path = work_dir / "judge_cases.jsonl", work_dir / "judge_results.jsonl"
    cases_path.write_text("".join(json.dumps({"id": case.id, "input": case.question, "actual_output": case.answer,
                                              "expected_output": case.reference, "retrieval_context": [case.context]},
                                             ensure_ascii=False) + "\n" for case in cases), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    command = [str(python), "-m", "eval.deepeval_judge", str(cases_path), str(out_path),
               "--base-url", config.base_url, "--model", config.model, "--api-key-env", config.api_key_env,
               "--threshold", str(config.threshold), "--timeout-s", str(config.timeout_s),
               "--max-tokens", str(config.max_tokens), "--concurrency", str(config.concurrency)]
    # DeepEval keeps state and telemetry ids in DEEPEVAL_HOME and the working folder: both go under work_dir.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
           "DEEPEVAL_TELEMETRY_OPT_OUT": "1", "DEEPEVAL_HOME": str(work_dir / "deepeval-home"),
           "DEEPEVAL_RESULTS_FOLDER": str(work_dir / "deepeval-results")}
    try:
        finished = subprocess.run(command, cwd=work_dir, env=env, capture_output=True, text=True)
    except OSError as error:
        raise JudgeUnavailable(f"cannot run the judge python {python}: {error}") from None
    if finished.returncode != 0 or not out_path.exists():
        raise JudgeUnavailable(f"the judge run failed (exit {finished.returncode}): "
                               f"{(finished.stderr or finished.stdout).strip()[-1500:]}")
    results = [json.loads(line) for line in out_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_id = {result["id"]: result["metrics"] for result in results}
    return [by_id.get(case.id, {name: {"error": "no result from the judge"} for name in METRICS}) for case in cases]


def checked(result: dict) -> dict:
    """A metric's result as reported: a score outside [0, 1] is the judge's error, not a score."""
    score = result.get("score")
    if "error" in result or not isinstance(score, (int, float)) or isinstance(score, bool):
        return {"error": result.get("error", f"no score in {result!r:.200}")}
    if not 0.0 <= score <= 1.0:
        return {"error": f"score {score!r} outside [0, 1]"}
    return {"score": float(score), "reason": str(result.get("reason") or ""), "success": bool(result.get("success"))}
