"""Manual Q&A task: numeric exact match, keyword presence, optional judge metrics; broken down by metadata fields."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval import plots
from eval.judge import METRICS, JudgeCase, JudgeConfig, checked, judge_answers
from eval.metrics.counts import mean_defined
from eval.metrics.qa import gold_keywords, keyword_presence, numeric_matches
from eval.report import Figure, Paragraph, Section, Table, number, rate, rate_of
from eval.tasks.base import Pair, TaskResult, fraction, item_table, summary

BREAKDOWN_FIELDS = ("content_type", "question_type")


def _keywords(pair: Pair) -> tuple[list[str], str]:
    """The gold's own keyword list when its metadata has one, else content words of the gold answer."""
    given = pair.gold.metadata.get("keywords")
    if isinstance(given, list) and all(isinstance(word, str) for word in given) and given:
        return given, "metadata"
    return gold_keywords(pair.gold.target), "gold answer"


def _aggregate(items: Sequence[dict]) -> dict:
    numeric = [item["numeric_exact_match"] for item in items if item["numeric_exact_match"] is not None]
    presence = [item["keyword_presence"] for item in items if item["keyword_presence"] is not None]
    return {
        "n": len(items),
        "answered": sum(item["answered"] for item in items),
        "numeric_exact_match": {"count": sum(numeric), "total": len(numeric),
                                "rate": sum(numeric) / len(numeric) if numeric else None},
        "keyword_presence_mean": mean_defined(presence),
        "all_keywords_present": {"count": sum(value == 1.0 for value in presence), "total": len(presence)},
    }


def _judge_aggregate(items: Sequence[dict], threshold: float) -> dict:
    """Per metric: the score summary over the judged items, the share at or above the threshold, the errors."""
    result = {}
    for name in METRICS:
        scores = [item["judge"][name]["score"] for item in items if "score" in item["judge"][name]]
        result[name] = {**summary(scores), "passed": fraction(sum(score >= threshold for score in scores), len(scores)),
                        "errors": sum("error" in item["judge"][name] for item in items)}
    return result


def _context(pair: Pair) -> str:
    context = pair.gold.metadata.get("context")
    return context if isinstance(context, str) and context.strip() else pair.gold.target


def score(pairs: Sequence[Pair], out_dir: Path, judge: JudgeConfig | None = None) -> TaskResult:
    items = []
    for pair in pairs:
        answer = pair.prediction.raw if pair.prediction is not None else ""
        keywords, source = _keywords(pair)
        matches = numeric_matches(answer, pair.gold.target)
        items.append({
            "id": pair.gold.id, "question": pair.gold.question or "", "answer": answer, "reference": pair.gold.target,
            "answered": bool(answer.strip()),
            "numeric_exact_match": all(found for _, found in matches) if matches else None,
            "numeric_missing": [str(item) for item, found in matches if not found],
            "keywords": keywords, "keywords_from": source, "keyword_presence": keyword_presence(answer, keywords),
            **{field: str(pair.gold.metadata.get(field, "(none)")) for field in BREAKDOWN_FIELDS},
        })
    metrics = {"overall": _aggregate(items), "missing_predictions": sum(pair.prediction is None for pair in pairs),
               "judge": None,
               "breakdown": {field: {value: _aggregate([item for item in items if item[field] == value])
                                     for value in sorted({item[field] for item in items})}
                             for field in BREAKDOWN_FIELDS}}
    if judge is not None:
        cases = [JudgeCase(item["id"], item["question"], item["answer"], item["reference"], _context(pair))
                 for item, pair in zip(items, pairs)]
        for item, result in zip(items, judge_answers(cases, judge, out_dir / "judge")):
            item["judge"] = {name: checked(result.get(name, {"error": "not measured"})) for name in METRICS}
        metrics["judge"] = {"model": judge.model, "base_url": judge.base_url, "threshold": judge.threshold,
                            "metrics": _judge_aggregate(items, judge.threshold)}
    return TaskResult(metrics=metrics, sections=_sections(metrics, items, out_dir), items=items)


def _row(label: str, stats: dict) -> list[str]:
    return [label, str(stats["n"]), rate_of(stats["numeric_exact_match"]), number(stats["keyword_presence_mean"]),
            rate_of(stats["all_keywords_present"])]


def _judge_cell(result: dict) -> str:
    return number(result["score"], 2) if "score" in result else "error"


def _judge_blocks(judge: dict, items: list[dict]) -> list:
    rows = [[name, number(stats["mean"]), number(stats["median"]), rate_of(stats["passed"]), str(stats["errors"])]
            for name, stats in judge["metrics"].items()]
    reasons = [[item["id"], name, _judge_cell(item["judge"][name]),
                item["judge"][name].get("reason", item["judge"][name].get("error", ""))]
               for item in items for name in METRICS]
    return [Paragraph(f"Judge metrics (DeepEval, judge {judge['model']} at {judge['base_url']}, threshold "
                      f"{judge['threshold']:g}): answer relevancy (share of the answer's statements that address the "
                      "question), faithfulness (share of its claims the context — the record's metadata context, "
                      "else the reference — does not contradict), correctness (GEval, 0-5 rubric against the "
                      "reference, divided by 5). Scores in [0, 1]; an item passes at or above the threshold; a judge "
                      "reply that cannot be read is an error, not a score."),
            Table(["judge metric", "mean", "median", "passed", "errors"], rows),
            Paragraph("Judge reasons, per item:"), *item_table(["id", "metric", "score", "reason"], reasons)]


def _sections(metrics: dict, items: list[dict], out_dir: Path) -> list[Section]:
    judge = metrics["judge"]
    headers = ["", "n", "numeric exact match", "keyword presence (mean)", "all keywords present"]
    overall = metrics["overall"]
    section = Section("Manual Q&A").add(
        Table(headers, [_row("all", overall)]),
        Paragraph(f"Answered (non-empty): {rate(overall['answered'], overall['n'])}. Questions without a "
                  f"prediction: {metrics['missing_predictions']} (they score 0). Numeric exact match "
                  "applies to answers whose reference states quantities, ranges or named items (thread sizes, oil "
                  "grades): the answer must state each of them — equivalent units count (4 daN·m = 40 N·m), "
                  "labels such as «Stage 1», list markers, figure and page references and part numbers are not "
                  "quantities, a range needs both bounds, a repeated value counts once (rules in "
                  "eval/metrics/qa.py). Keyword presence is the share of the reference's keywords (its metadata "
                  "keywords, else its content words of 4+ letters without stopwords) found in the answer."
                  + ("" if judge else " Judge metrics: off.")))
    for field in BREAKDOWN_FIELDS:
        groups = metrics["breakdown"][field]
        section.add(Paragraph(f"By {field}:"), Table([field] + headers[1:],
                                                      [_row(value, stats) for value, stats in groups.items()]))
        rates = {value: stats["numeric_exact_match"]["rate"] for value, stats in groups.items()}
        plots.bar_chart(rates, out_dir / f"qa_numeric_by_{field}.png", title=f"Numeric exact match by {field}",
                        ylabel="rate")
        section.add(Figure(f"qa_numeric_by_{field}.png", f"Numeric exact match by {field} (n/a: no numbers in gold)"))
    if judge:
        section.add(*_judge_blocks(judge, items))
    section.add(*item_table(["id", "content_type", "question_type", "numeric", "missing", "keywords"]
                            + (list(METRICS) if judge else []),
                            [[item["id"], item["content_type"], item["question_type"],
                              {None: "n/a", True: "yes", False: "no"}[item["numeric_exact_match"]],
                              ", ".join(item["numeric_missing"]), number(item["keyword_presence"], 2)]
                             + ([_judge_cell(item["judge"][name]) for name in METRICS] if judge else [])
                             for item in items]))
    return [section]
