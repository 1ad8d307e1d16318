"""Text → CAD JSON task: schema-valid rate (fiche_schema.cad_json.validate_cad), exact match, structural F1.

Gold and predictions are read in any CAD JSON form (Text2CAD's layout with arrays, the training target; its keyed
spelling, compared after `to_arrays`; or the operations model); validity is the same check the converter applies to
the gold, so valid gold scores 100 %."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval import plots
from eval.metrics.cad_json import structural_counts
from eval.metrics.counts import PRCounts, mean_defined
from eval.report import Figure, Paragraph, Section, Table, number, percent, rate, rate_of
from eval.tasks.base import Pair, TaskResult, fraction, item_table, summary


def score(pairs: Sequence[Pair], out_dir: Path) -> TaskResult:
    from fiche_schema.cad_json import canonical_cad, validate_cad
    from fiche_schema.text2cad import KEYED, layout, to_arrays

    items, pooled, gold_valid = [], PRCounts(), 0
    for pair in pairs:
        gold_errors = validate_cad(pair.gold.target)
        gold_valid += not gold_errors
        gold = pair.gold.target
        if not gold_errors and layout(gold) == KEYED:
            gold = to_arrays(gold)
        predicted = pair.prediction.json if pair.prediction is not None else None
        if pair.prediction is None:
            errors = ["no prediction for this id"]
        elif predicted is None:
            errors = ["no JSON object in the answer"]
        else:
            errors = validate_cad(predicted)
        counts = structural_counts(predicted, gold)
        pooled = pooled + counts
        if predicted is None:
            exact = False
        elif not errors and not gold_errors:
            exact = canonical_cad(predicted) == canonical_cad(gold)
        else:  # canonical form needs valid documents; plain equality still says whether the answer is the gold
            exact = predicted == gold
        items.append({"id": pair.gold.id, "valid": not errors, "errors": errors, "exact_match": exact,
                      "structure": counts.as_dict()})

    total = len(pairs)
    f1s = [item["structure"]["f1"] for item in items]
    metrics = {
        "validity": fraction(sum(item["valid"] for item in items), total),
        "gold_validity": fraction(gold_valid, total),
        "exact_match": fraction(sum(item["exact_match"] for item in items), total),
        "missing_predictions": sum(pair.prediction is None for pair in pairs),
        "structural_f1": {"micro": pooled.as_dict(), "macro_f1": mean_defined(f1s),
                          "per_item": summary([f1 for f1 in f1s if f1 is not None])},
    }
    return TaskResult(metrics=metrics, sections=_sections(metrics, items, out_dir), items=items)


def _sections(metrics: dict, items: list[dict], out_dir: Path) -> list[Section]:
    validity, exact, structure = metrics["validity"], metrics["exact_match"], metrics["structural_f1"]
    micro = structure["micro"]
    section = Section("Text → CAD JSON").add(
        Table(["metric", "value"], [
            ["schema-valid rate (CAD schema + numbering, order, body, frame, unit and number checks)",
             rate_of(validity)],
            ["gold records valid against the same checks", rate(metrics["gold_validity"]["count"],
                                                                 metrics["gold_validity"]["total"])],
            ["exact match (equal to gold; compared in canonical form where both are valid)",
             rate_of(exact)],
            ["structural F1 micro", f"{percent(micro['f1'])} (TP {micro['tp']}, FP {micro['fp']}, FN {micro['fn']})"],
            ["structural F1 macro (mean over items)", percent(structure["macro_f1"])],
        ]),
        Paragraph(f"Gold records without a prediction: {metrics['missing_predictions']} (counted invalid, "
                  "predicting nothing). Structural F1 compares the two JSON trees as multisets of leaf tokens "
                  "path=value, with list indices dropped, strings and booleans kept, and numbers and free text "
                  "(names, shape descriptions) reduced to their presence: it scores the parts, faces, loops and "
                  "curve kinds (Text2CAD keys such as part_2…loop_1.arc_1), the body operations, frames and units, "
                  "not the sizes."))
    if structure["per_item"]["n"]:
        plots.histogram({"structural F1": [item["structure"]["f1"] for item in items
                                           if item["structure"]["f1"] is not None]},
                        out_dir / "structural_f1_hist.png", title="Structural F1 per item", xlabel="F1", bins=10)
        section.add(Figure("structural_f1_hist.png", "Structural F1 per item"))
    section.add(*item_table(["id", "valid", "exact", "structural F1", "first error"],
                            [[item["id"], "yes" if item["valid"] else "no", "yes" if item["exact_match"] else "no",
                              number(item["structure"]["f1"]), item["errors"][0] if item["errors"] else ""]
                             for item in items]))
    return [section]
