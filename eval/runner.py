"""Score predictions against gold and write the report; or query an endpoint first, then score (`fiche eval`)."""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from converters.images import DEFAULT_LONG_SIDE
from eval import plots
from eval.loading import TASKS, InputError, load_gold, load_predictions, read_trainer_log
from eval.report import Figure, Paragraph, Report, Section, Table, number, to_html, to_markdown
from eval.tasks.base import Pair, TaskResult
from fiche_vlm import DEFAULT_API_KEY_ENV
from postprocess.files import atomic_write_text

TASK_TITLES = {"fiche": "fiches → CAD-ready JSON", "cad_json": "text → CAD JSON", "cadquery": "image → CadQuery",
               "qa": "manual Q&A"}


def _task_scorer(task: str):
    from importlib import import_module

    return import_module(f"eval.tasks.{task}").score


def score(predictions_path: Path, gold_path: Path, out_dir: Path, task: str = "fiche",
          train_log: Path | None = None, **options: Any) -> dict:
    """Match predictions to gold by id, score them for `task`, write report.md, report.html, metrics.json and plots.

    A gold id with no prediction counts as invalid. `options` go to the task's scorer (e.g. `judge` for qa).
    Returns the metrics as written to metrics.json.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    predictions_path, gold_path, out_dir = Path(predictions_path), Path(gold_path), Path(out_dir)
    log_rows = read_trainer_log(Path(train_log)) if train_log is not None else None
    predictions = load_predictions(predictions_path)
    gold = load_gold(gold_path, task)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = [Pair(record, predictions.by_id.get(record.id)) for record in gold.records]
    result: TaskResult = _task_scorer(task)(pairs, out_dir, **options)

    gold_ids = {record.id for record in gold.records}
    unmatched = sorted(set(predictions.by_id) - gold_ids)
    metrics = {
        "task": task,
        "predictions": str(predictions_path), "gold": str(gold_path),
        "counts": {"gold_read": gold.read, "gold_scored": len(gold.records), "gold_skipped": len(gold.skipped),
                   "prediction_lines": predictions.lines, "predictions_superseded": predictions.superseded,
                   "predictions_without_gold": len(unmatched),
                   "gold_without_prediction": sum(pair.prediction is None for pair in pairs)},
        "gold_skipped": gold.skipped, "predictions_without_gold": unmatched,
        "run": _run_stats(pairs),
        **result.metrics,
        "items": result.items,
    }
    report = Report(f"Evaluation — {TASK_TITLES[task]}",
                    [_overview(metrics), *result.sections, _run_section(metrics["run"])])
    if log_rows is not None:
        report.sections.append(_training_section(Path(train_log), log_rows, out_dir, metrics))
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(out_dir / "report.md", to_markdown(report))
    atomic_write_text(out_dir / "report.html", to_html(report))
    return metrics


def _overview(metrics: dict) -> Section:
    counts = metrics["counts"]
    section = Section("Inputs").add(
        Table(["", "count"], [
            ["gold records read", str(counts["gold_read"])],
            ["gold records scored", str(counts["gold_scored"])],
            ["gold records not scorable (listed below)", str(counts["gold_skipped"])],
            ["prediction lines read", str(counts["prediction_lines"])],
            ["prediction lines replaced by a later line for the same id", str(counts["predictions_superseded"])],
            ["predictions with no gold id (ignored)", str(counts["predictions_without_gold"])],
            ["gold ids with no prediction (scored as invalid)", str(counts["gold_without_prediction"])],
        ]),
        Paragraph(f"Predictions: {metrics['predictions']}. Gold: {metrics['gold']}."))
    for reason in metrics["gold_skipped"]:
        section.add(Paragraph(f"Not scored: {reason}"))
    return section


def _run_stats(pairs: list[Pair]) -> dict:
    predictions = [pair.prediction for pair in pairs if pair.prediction is not None]
    latencies = [p.latency_s for p in predictions if p.latency_s is not None]
    tokens = [p.usage.get("completion_tokens") for p in predictions if p.usage]
    tokens = [t for t in tokens if isinstance(t, int)]
    return {"finish_reasons": dict(Counter(str(p.finish_reason) for p in predictions)),
            "latency_s_mean": statistics.fmean(latencies) if latencies else None,
            "latency_s_median": statistics.median(latencies) if latencies else None,
            "completion_tokens_total": sum(tokens) if tokens else None}


def _run_section(run: dict) -> Section:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(run["finish_reasons"].items())) or "none"
    return Section("Run").add(Table(["", "value"], [
        ["finish reasons", reasons],
        ["latency per request, mean (s)", number(run["latency_s_mean"], 2)],
        ["latency per request, median (s)", number(run["latency_s_median"], 2)],
        ["completion tokens, total", str(run["completion_tokens_total"] or "n/a")],
    ]))


def _training_section(train_log: Path, rows: list[dict], out_dir: Path, metrics: dict) -> Section:
    losses = [row["loss"] for row in rows if row.get("loss") is not None]
    metrics["training"] = {"log": str(train_log), "steps_logged": len(rows),
                           "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}
    section = Section("Training").add(Paragraph(
        f"{train_log}: {len(rows)} logged steps; loss {number(metrics['training']['first_loss'], 4)} → "
        f"{number(metrics['training']['last_loss'], 4)}."))
    if losses:
        plots.loss_curve(rows, out_dir / "loss_curve.png")
        section.add(Figure("loss_curve.png", "Training loss from LLaMA-Factory's trainer_log.jsonl"))
    return section


# What each task asks the endpoint for: (schema the answer is checked against, whether the server constrains it).
# The CAD schema is Text2CAD's layout with arrays, which vLLM accepts for xgrammar and guidance; its answers are
# also checked after the fact (postprocess.cad_json.validate_cad: depths, numbers, units).
TASK_REQUESTS = {"fiche": ("fiche", True), "cad_json": ("cad", True), "cadquery": ("text", False),
                 "qa": ("text", False)}


def predict_valset(valset: Path, predictions_path: Path, *, base_url: str, model: str, task: str = "fiche",
                   api_key_env: str = DEFAULT_API_KEY_ENV, concurrency: int = 4, media_dir: Path | None = None,
                   long_side: tuple[int, int] = DEFAULT_LONG_SIDE, max_tokens: int = 1024) -> Path:
    """Query the endpoint for every item of `valset` not yet answered in `predictions_path` (appended, resumed).

    The requests are fiche_vlm.predict's: the same prompts and image resize as training. Fiche and CAD JSON
    answers are constrained by their schema on the server and checked again after the fact (see TASK_REQUESTS);
    code and Q&A answers are free text, scored from `raw`.
    """
    from fiche_vlm.predict import predict_file

    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    schema, constrain = TASK_REQUESTS[task]
    predict_file(valset, predictions_path, base_url=base_url, model=model, api_key_env=api_key_env,
                 schema=schema, constrain=constrain, concurrency=concurrency,
                 media_dir=media_dir, long_side=long_side, max_tokens=max_tokens)
    return Path(predictions_path)
