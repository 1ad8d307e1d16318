"""Score predictions against gold and write the report (`fiche score`, and the second half of `fiche eval`)."""
from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from eval import plots
from eval.loading import TASKS, GoldSet, InputError, Predictions, load_gold, load_predictions, read_trainer_log
from eval.probes import KEYWORD_SHARE, Probe, probe_results, probes_section
from eval.report import Figure, Paragraph, Report, Section, Table, number, to_html, to_markdown
from eval.tasks.base import Pair, TaskResult
from fiche_io.files import atomic_write_text, refuse_output_over_input
from fiche_io.locations import location

REPORT_FILES = ("metrics.json", "report.md", "report.html")
TASK_TITLES = {"fiche": "fiches → CAD-ready JSON", "cad_json": "text → CAD JSON", "cadquery": "image → CadQuery",
               "qa": "manual Q&A"}


def _task_scorer(task: str):
    from importlib import import_module

    return import_module(f"eval.tasks.{task}").score


def score(predictions_path: Path, gold_path: Path, out_dir: Path, task: str = "fiche",
          train_log: Path | None = None, data_root: Path | None = None, probes: list[Probe] | None = None,
          probe_threshold: float = KEYWORD_SHARE, **options: Any) -> dict:
    """Match predictions to gold by id, score them for `task`, write report.md, report.html, metrics.json and plots.

    A gold id with no prediction counts as invalid. `options` go to the task's scorer (e.g. `judge` for qa,
    `pictures` for fiche). The gold's image paths are relative to `data_root` (default: the gold file's folder).
    `probes` (qa only): also each probe's verdict and the pass rate per category against `probe_threshold`.
    Returns the metrics as written to metrics.json.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    predictions_path, gold_path, out_dir = Path(predictions_path), Path(gold_path), Path(out_dir)
    refuse_output_over_input([out_dir / name for name in REPORT_FILES],
                             [predictions_path, gold_path, *([Path(train_log)] if train_log is not None else [])])
    log_rows = read_trainer_log(Path(train_log)) if train_log is not None else None
    predictions = load_predictions(predictions_path)
    gold = load_gold(gold_path, task, data_root)
    pairs = [Pair(record, predictions.by_id.get(record.id)) for record in gold.records]
    refuse_nothing_scored(predictions_path, gold_path, predictions, gold, pairs)
    out_dir.mkdir(parents=True, exist_ok=True)
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
    if probes is not None:
        metrics["probes"] = probe_results(probes, result.items, probe_threshold)
        report.sections.insert(1, probes_section(metrics["probes"]))
    if log_rows is not None:
        report.sections.append(_training_section(Path(train_log), log_rows, out_dir, metrics))
    # allow_nan=False: a NaN would make metrics.json something no strict JSON reader accepts; better to fail here
    metrics_text = json.dumps(metrics, ensure_ascii=False, indent=2, allow_nan=False)
    atomic_write_text(out_dir / "metrics.json", metrics_text + "\n")
    atomic_write_text(out_dir / "report.md", to_markdown(report))
    atomic_write_text(out_dir / "report.html", to_html(report))
    return metrics


class NothingScored(InputError):
    """No gold record has a prediction: every number would be a zero that measures nothing."""


def refuse_nothing_scored(predictions_path: Path, gold_path: Path, predictions: Predictions, gold: GoldSet,
                          pairs: list[Pair]) -> None:
    """Raise NothingScored (before anything is written) when no gold record has a prediction to score."""
    if any(pair.prediction is not None for pair in pairs):
        return
    if not predictions.by_id:
        problem = f"{location(predictions_path)} holds no prediction"
    elif not gold.records:
        problem = "\n".join([f"{location(gold_path)} holds no scorable gold record", *gold.skipped])
    else:
        problem = (f"none of the {len(predictions.by_id)} prediction id(s) of {location(predictions_path)} "
                   f"(e.g. {next(iter(predictions.by_id))!r}) is among the {len(gold.records)} gold id(s) of "
                   f"{location(gold_path)} (e.g. {gold.records[0].id!r})")
    raise NothingScored(f"nothing scored, no report written: {problem}")
def gate_failures(metrics: dict) -> list[str]:
    """What falls below a threshold given on the command line: judge metric means, probe categories."""
    failures = []
    judge = metrics.get("judge")
    if judge:
        for name, stats in judge["metrics"].items():
            if stats["mean"] is None or stats["mean"] < judge["threshold"]:
                failures.append(f"judge {name}: mean {number(stats['mean'])} < {judge['threshold']:g}")
    probes = metrics.get("probes")
    if probes:
        for category, stats in probes["categories"].items():
            if stats["below_threshold"]:
                failures.append(f"probes {category}: pass rate {number(stats['rate'])} < {probes['threshold']:g}")
    return failures


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


