"""Manual Q&A task: numeric exact match, keyword presence, optional LLM judge; broken down by metadata fields."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval import plots
from eval.judge import JudgeConfig, Verdict, judge_answers
from eval.metrics.counts import mean_defined
from eval.metrics.qa import gold_keywords, keyword_presence, numeric_exact_match
from eval.report import Figure, Paragraph, Section, Table, number, rate, rate_of
from eval.tasks.base import Pair, TaskResult, item_table

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
    judged = [item["judge_score"] for item in items if item.get("judge_score") is not None]
    return {
        "n": len(items),
        "answered": sum(item["answered"] for item in items),
        "numeric_exact_match": {"count": sum(numeric), "total": len(numeric),
                                "rate": sum(numeric) / len(numeric) if numeric else None},
        "keyword_presence_mean": mean_defined(presence),
        "all_keywords_present": {"count": sum(value == 1.0 for value in presence), "total": len(presence)},
        "judge_score_mean": (sum(judged) / len(judged)) if judged else None, "judged": len(judged),
    }


def score(pairs: Sequence[Pair], out_dir: Path, judge: JudgeConfig | None = None) -> TaskResult:
    items = []
    for pair in pairs:
        answer = pair.prediction.raw if pair.prediction is not None else ""
        keywords, source = _keywords(pair)
        items.append({
            "id": pair.gold.id, "answered": bool(answer.strip()),
            "numeric_exact_match": (None if numeric_exact_match("", pair.gold.target) is None
                                    else bool(numeric_exact_match(answer, pair.gold.target))),
            "keywords": keywords, "keywords_from": source, "keyword_presence": keyword_presence(answer, keywords),
            **{field: str(pair.gold.metadata.get(field, "(none)")) for field in BREAKDOWN_FIELDS},
        })
    if judge is not None:
        verdicts = judge_answers([(pair.gold.question or "", pair.gold.target,
                                   pair.prediction.raw if pair.prediction is not None else "") for pair in pairs], judge)
        for item, verdict in zip(items, verdicts):
            if isinstance(verdict, Verdict):
                item["judge_score"], item["judge_justification"] = verdict.score, verdict.justification
            else:
                item["judge_score"], item["judge_error"] = None, verdict

    metrics = {"overall": _aggregate(items), "missing_predictions": sum(pair.prediction is None for pair in pairs),
               "judge": {"model": judge.model, "base_url": judge.base_url} if judge else None,
               "breakdown": {field: {value: _aggregate([item for item in items if item[field] == value])
                                     for value in sorted({item[field] for item in items})}
                             for field in BREAKDOWN_FIELDS}}
    return TaskResult(metrics=metrics, sections=_sections(metrics, items, out_dir), items=items)


def _row(label: str, stats: dict, judged: bool) -> list[str]:
    numeric, every = stats["numeric_exact_match"], stats["all_keywords_present"]
    row = [label, str(stats["n"]), rate_of(numeric), number(stats["keyword_presence_mean"]),
           rate_of(every)]
    return row + [f"{number(stats['judge_score_mean'], 2)} / 5 (n={stats['judged']})"] if judged else row


def _judge_cell(item: dict) -> str:
    return str(item["judge_score"]) if item.get("judge_score") is not None else "error"


def _sections(metrics: dict, items: list[dict], out_dir: Path) -> list[Section]:
    judged = metrics["judge"] is not None
    headers = ["", "n", "numeric exact match", "keyword presence (mean)", "all keywords present"]
    headers += ["judge score"] if judged else []
    overall = metrics["overall"]
    section = Section("Manual Q&A").add(
        Table(headers, [_row("all", overall, judged)]),
        Paragraph(f"Answered (non-empty): {rate(overall['answered'], overall['n'])}. Questions without a "
                  f"prediction: {metrics['missing_predictions']} (they score 0). Numeric exact match "
                  "applies to answers whose reference holds numbers: every reference quantity (value and unit, "
                  "decimal comma or point, N·m = Nm = N.m) must appear in the answer. Keyword presence is the share "
                  "of the reference's keywords (its metadata keywords, else its content words of 4+ letters without "
                  "stopwords) found in the answer."
                  + (f" LLM judge: {metrics['judge']['model']} at {metrics['judge']['base_url']}, rubric in "
                     "eval/judge.py (0-5)." if judged else " LLM judge: off.")))
    for field in BREAKDOWN_FIELDS:
        groups = metrics["breakdown"][field]
        section.add(Paragraph(f"By {field}:"), Table([field] + headers[1:],
                                                      [_row(value, stats, judged) for value, stats in groups.items()]))
        rates = {value: stats["numeric_exact_match"]["rate"] for value, stats in groups.items()}
        plots.bar_chart(rates, out_dir / f"qa_numeric_by_{field}.png", title=f"Numeric exact match by {field}",
                        ylabel="rate")
        section.add(Figure(f"qa_numeric_by_{field}.png", f"Numeric exact match by {field} (n/a: no numbers in gold)"))
    section.add(*item_table(["id", "content_type", "question_type", "numeric", "keywords"]
                            + (["judge"] if judged else []),
                            [[item["id"], item["content_type"], item["question_type"],
                              {None: "n/a", True: "yes", False: "no"}[item["numeric_exact_match"]],
                              number(item["keyword_presence"], 2)]
                             + ([_judge_cell(item)] if judged else []) for item in items]))
    return [section]
