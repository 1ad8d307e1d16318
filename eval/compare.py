"""`fiche compare RUN_A RUN_B`: two evaluations of the same task side by side, for two model versions.

A run is an eval output folder (holding metrics.json) or a metrics.json file. Every number of metrics.json is a
metric, named by its path (`overall.numeric_exact_match.rate`, `slot_f1.per_field.materials_guess.f1`); the
comparison lists each with its value in A, in B and the delta B − A, and says whether B is better. For a few
metrics lower is better (errors, Chamfer distance, invalid ratio, latency, false positives and negatives, cut
answers; see LOWER_IS_BETTER); token counts have no direction (NO_DIRECTION); for the rest higher is. Items (fiches, questions, CAD parts) are matched by id and scored one
number each (see ITEM_SCORE); those that got better and worse are listed with their two answers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import plots
from eval.loading import InputError, load_predictions
from eval.report import Figure, Paragraph, Report, Section, Table, number, to_html, to_markdown
from eval.tasks.base import item_table
from fiche_io.files import atomic_write_text

# Not metrics: the per-item records, lists of problems, input counts and paths.
_SKIPPED_KEYS = {"items", "gold_skipped", "predictions_without_gold", "gold_unusable", "counts", "judge.model",
                 "judge.base_url", "probes.probes", "probes.threshold", "judge.threshold", "cadquery_version"}
LOWER_IS_BETTER = ("error", "chamfer", "invalid_ratio", "latency", ".fp", ".fn", "missing", "loss",
                   "finish_reasons.length", "finish_reasons.content_filter", "finish_reasons.null")
NO_DIRECTION = ("tokens",)  # shorter answers are neither better nor worse in themselves
COUNTED = "run.finish_reasons."  # answers per finish reason: a reason a run never gave is 0 there, not missing
ANSWER_CHARS = 300


@dataclass(frozen=True)
class Run:
    name: str
    metrics: dict


def load_run(path: Path) -> Run:
    """A run's metrics.json (the folder's, or the file itself); InputError when there is none or it is not JSON."""
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{file}:{error.lineno}: not JSON ({error.msg})") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("task"), str):
        raise InputError(f"{file}: task: not a metrics.json written by fiche score or fiche eval")
    return Run(str(path), metrics)


def flatten(metrics: dict) -> dict[str, float]:
    """Every number of the metrics by its dotted path (booleans and the keys in _SKIPPED_KEYS left out)."""
    flat: dict[str, float] = {}

    def visit(value: Any, path: str) -> None:
        if path in _SKIPPED_KEYS:
            return
        if isinstance(value, dict):
            for key, inner in value.items():
                visit(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[path] = float(value)

    visit(metrics, "")
    return flat


def lower_is_better(name: str) -> bool:
    return any(marker in name for marker in LOWER_IS_BETTER)


def verdict(name: str, a: float | None, b: float | None, tolerance: float = 0.0) -> str:
    """«better», «worse» or «same» for B against A (beyond `tolerance`); «changed» for a metric with no direction
    (NO_DIRECTION); «n/a» when one side is missing."""
    if a is None or b is None:
        return "n/a"
    if any(marker in name for marker in NO_DIRECTION):
        return "same" if abs(b - a) <= tolerance else "changed"
    delta = (a - b) if lower_is_better(name) else (b - a)
    return "better" if delta > tolerance else "worse" if delta < -tolerance else "same"


def _qa_score(item: dict) -> float | None:
    parts = [float(item["numeric_exact_match"])] if item.get("numeric_exact_match") is not None else []
    parts += [item["keyword_presence"]] if item.get("keyword_presence") is not None else []
    return sum(parts) / len(parts) if parts else None


# One number per item, per task (higher is better): what "got better" and "got worse" are judged on.
ITEM_SCORE = {
    "fiche": lambda item: item.get("slot_f1") if item.get("valid") else 0.0,
    "cad_json": lambda item: (item.get("structure") or {}).get("f1") or 0.0,
    "cadquery": lambda item: None if "gold_error" in item else (item.get("iou_aligned") or 0.0),
    "qa": _qa_score,
}
ITEM_SCORE_TEXT = {"fiche": "slot F1 (0 when invalid)", "cad_json": "structural F1",
                   "cadquery": "normalised IoU (0 when no solid)",
                   "qa": "mean of numeric exact match (0/1) and keyword presence"}


def _answers(run: Run) -> dict[str, str]:
    """Each id's answer: the run's predictions file when it is still there, else what its items hold."""
    answers = {item["id"]: item["answer"] for item in run.metrics.get("items", []) if "answer" in item}
    path = Path(run.metrics.get("predictions", ""))
    if not answers and path.is_file():
        try:
            answers = {key: prediction.raw for key, prediction in load_predictions(path).by_id.items()}
        except InputError:
            pass
    return answers


def _short(text: str | None) -> str:
    if text is None:
        return "(no answer)"
    text = " ".join(text.split())
    return text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + "…"


def compare(run_a: Run, run_b: Run) -> dict:
    """Metrics side by side with deltas, per-field F1 deltas, and the items that changed."""
    task = run_a.metrics["task"]
    if run_b.metrics["task"] != task:
        raise InputError(f"{run_b.name}: task {run_b.metrics['task']!r} differs from {run_a.name}'s {task!r}")
    flat_a, flat_b = flatten(run_a.metrics), flatten(run_b.metrics)
    rows = []
    for name in list(dict.fromkeys([*flat_a, *flat_b])):
        a, b = flat_a.get(name), flat_b.get(name)
        if name.startswith(COUNTED):
            a, b = a or 0.0, b or 0.0
        rows.append({"metric": name, "a": a, "b": b, "delta": None if a is None or b is None else b - a,
                     "verdict": verdict(name, a, b)})
    score = ITEM_SCORE[task]
    items_a = {item["id"]: item for item in run_a.metrics.get("items", [])}
    items_b = {item["id"]: item for item in run_b.metrics.get("items", [])}
    answers_a, answers_b = _answers(run_a), _answers(run_b)
    changed = []
    for key in items_a.keys() & items_b.keys():
        a, b = score(items_a[key]), score(items_b[key])
        if a is not None and b is not None and a != b:
            changed.append({"id": key, "a": a, "b": b, "delta": b - a,
                            "answer_a": answers_a.get(key), "answer_b": answers_b.get(key)})
    changed.sort(key=lambda row: (row["delta"], row["id"]))
    return {"task": task, "a": run_a.name, "b": run_b.name, "metrics": rows,
            "better": [row for row in reversed(changed) if row["delta"] > 0],
            "worse": [row for row in changed if row["delta"] < 0],
            "only_in_a": sorted(items_a.keys() - items_b.keys()), "only_in_b": sorted(items_b.keys() - items_a.keys())}


def regressions(comparison: dict, gates: list[tuple[str, float]]) -> list[str]:
    """Each gate METRIC:TOLERANCE that B fails (worse than A by more than the tolerance); InputError for an unknown
    metric name."""
    by_name = {row["metric"]: row for row in comparison["metrics"]}
    failures = []
    for name, tolerance in gates:
        if name not in by_name:
            near = [known for known in by_name if name.split(".")[-1] in known][:5]
            raise InputError(f"--fail-if-worse: no metric {name!r} in both runs"
                             + (f" (did you mean {', '.join(near)}?)" if near else ""))
        row = by_name[name]
        if row["a"] is None or row["b"] is None:
            failures.append(f"{name}: missing in {'A' if row['a'] is None else 'B'}")
        elif verdict(name, row["a"], row["b"], tolerance) == "worse":
            failures.append(f"{name}: {number(row['a'], 4)} → {number(row['b'], 4)} (tolerance {tolerance:g})")
    return failures


def _is_field_f1(name: str) -> bool:
    return ".per_field." in name and name.endswith(".f1")


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def write_comparison(comparison: dict, out_dir: Path) -> Report:
    """compare.md, compare.html and compare_metrics.png in `out_dir`; returns the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = comparison["metrics"]
    table = [[row["metric"], number(row["a"], 4), number(row["b"], 4), _signed(row["delta"]), row["verdict"]]
             for row in rows if not _is_field_f1(row["metric"])]
    fields = [[row["metric"].split(".per_field.")[1].rsplit(".", 1)[0], number(row["a"], 4), number(row["b"], 4),
               _signed(row["delta"]), row["verdict"]] for row in rows if _is_field_f1(row["metric"])]
    summary = Section("Metrics").add(
        Paragraph(f"A: {comparison['a']}. B: {comparison['b']}. Task: {comparison['task']}. Delta is B − A; for "
                  f"metrics whose name holds one of {', '.join(LOWER_IS_BETTER)} lower is better, for the others "
                  "higher is."),
        Table(["metric", "A", "B", "delta", "B is"], table))
    shares = {row["metric"]: row for row in rows if row["a"] is not None and row["b"] is not None
              and 0 <= row["a"] <= 1 and 0 <= row["b"] <= 1 and row["metric"].endswith((".rate", ".mean", ".f1"))
              and not _is_field_f1(row["metric"])}
    if shares:
        plots.paired_bars({name: (row["a"], row["b"]) for name, row in list(shares.items())[:16]},
                          out_dir / "compare_metrics.png", labels=("A", "B"), title="A and B, metrics in [0, 1]")
        summary.add(Figure("compare_metrics.png", "Rates, means and F1 in [0, 1]: A and B side by side"))
    report = Report("Comparison of two evaluation runs", [summary])
    if fields:
        report.sections.append(Section("Per-field F1").add(Table(["field", "A", "B", "delta", "B is"], fields)))
    task = comparison["task"]
    for key, title in (("better", "Better in B"), ("worse", "Worse in B")):
        changed = comparison[key]
        section = Section(title).add(Paragraph(f"{len(changed)} items, by {ITEM_SCORE_TEXT[task]}."))
        if changed:
            section.add(*item_table(["id", "A", "B", "answer A", "answer B"],
                                    [[row["id"], number(row["a"]), number(row["b"]), _short(row["answer_a"]),
                                      _short(row["answer_b"])] for row in changed]))
        report.sections.append(section)
    if comparison["only_in_a"] or comparison["only_in_b"]:
        report.sections.append(Section("Items in one run only").add(
            Paragraph(f"Only in A: {', '.join(comparison['only_in_a']) or 'none'}. "
                      f"Only in B: {', '.join(comparison['only_in_b']) or 'none'}.")))
    atomic_write_text(out_dir / "compare.md", to_markdown(report))
    atomic_write_text(out_dir / "compare.html", to_html(report))
    return report
