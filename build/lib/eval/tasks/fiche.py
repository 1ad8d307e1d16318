"""Fiche task: validity, exact match, slot F1, and the geometry no other tool scores (dimensions, units, envelope)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval import plots
from eval.metrics.counts import PRCounts
from eval.metrics.fiche import LIST_FIELDS, exact_match, fiche_errors, slot_counts, slot_f1
from eval.metrics.geometry import AXES, axis_errors_mm, envelope_iou, envelope_of
from eval.report import Figure, Paragraph, Picture, PictureTable, Section, Table, number, percent, rate_of
from eval.tasks.base import Pair, TaskResult, fraction, item_table, summary
from postprocess.openscad import unique_stem


def _counts_row(name: str, counts: PRCounts) -> list[str]:
    return [name, str(counts.tp), str(counts.fp), str(counts.fn), percent(counts.precision),
            percent(counts.recall), percent(counts.f1)]


def score(pairs: Sequence[Pair], out_dir: Path, pictures: int = 0) -> TaskResult:
    """Score the pairs; with `pictures` > 0, the first that many fiches also get their first view beside OpenSCAD
    renders of the predicted and gold scaffolds (two renders each, about 0.6 s apiece on 2 CPU cores)."""
    items, per_item_counts = [], []
    errors_by_axis: dict[str, list[float]] = {axis: [] for axis in AXES}
    ious: list[float] = []
    unit_matches = geometry_scored = gold_with_envelope = 0
    for pair in pairs:
        predicted = pair.prediction.json if pair.prediction is not None else None
        errors = ["no prediction for this id"] if pair.prediction is None else fiche_errors(predicted)
        counts = slot_counts(predicted, pair.gold.target)
        per_item_counts.append(counts)
        item = {"id": pair.gold.id, "valid": not errors, "errors": errors,
                "exact_match": exact_match(predicted, pair.gold.target),
                "slot_f1": sum(counts.values(), PRCounts()).f1}
        gold_envelope, predicted_envelope = envelope_of(pair.gold.target), envelope_of(predicted)
        gold_with_envelope += gold_envelope is not None
        if gold_envelope is not None and predicted_envelope is not None:
            geometry_scored += 1
            axis_errors = axis_errors_mm(predicted_envelope, gold_envelope)
            for axis, error in axis_errors.items():
                errors_by_axis[axis].append(error)
            item["axis_error_mm"] = axis_errors
            item["unit_match"] = predicted_envelope.unit == gold_envelope.unit
            unit_matches += item["unit_match"]
            try:
                item["envelope_iou"] = envelope_iou(predicted_envelope, gold_envelope)
                ious.append(item["envelope_iou"])
            except ValueError:  # both boxes flat: IoU undefined, left out
                item["envelope_iou"] = None
        items.append(item)

    total = len(pairs)
    valid = sum(item["valid"] for item in items)
    exact = sum(item["exact_match"] for item in items)
    missing = sum(pair.prediction is None for pair in pairs)
    slots = slot_f1(per_item_counts)
    metrics = {
        "validity": fraction(valid, total),
        "exact_match": fraction(exact, total),
        "missing_predictions": missing,
        "slot_f1": {"micro": slots.micro.as_dict(), "macro_f1": slots.macro_f1,
                    "per_field": {field: counts.as_dict() for field, counts in slots.per_field.items()},
                    "undefined_fields": slots.undefined_fields},
        "geometry": {
            "scored": geometry_scored, "gold_with_dimensions": gold_with_envelope,
            "axis_error_mm": {axis: summary(errors_by_axis[axis]) for axis in AXES},
            "unit_match": fraction(unit_matches, geometry_scored),
            "envelope_iou_scored": summary(ious),
            "envelope_iou_invalid_as_0": (sum(ious) / gold_with_envelope) if gold_with_envelope else None,
        },
    }
    sections = _sections(metrics, items, errors_by_axis, out_dir)
    if pictures > 0:
        sections.append(_pictures_section(pairs[:pictures], items, len(pairs), out_dir))
    return TaskResult(metrics=metrics, sections=sections, items=items)


def _pictures_section(pairs: Sequence[Pair], items: list[dict], total: int, out_dir: Path) -> Section:
    from eval.pictures import fiche_pictures

    rows, stems, seconds, renders = [], set(), 0.0, 0
    for pair, item in zip(pairs, items):
        made = fiche_pictures(unique_stem(pair.gold.id, stems), pair.gold.id, pair.gold.images, pair.gold.media_root,
                              pair.prediction.json if pair.prediction is not None else None, pair.gold.target,
                              out_dir)
        seconds, renders = seconds + made.render_seconds, renders + made.renders
        if pair.prediction is None:
            made.missing["predicted"] = "no prediction for this id"
        item["pictures"] = {"view": made.view, "predicted": made.predicted, "gold": made.gold,
                            "missing": made.missing}
        cells = [Picture(path, f"{pair.gold.id}: {role}") if path else f"none: {made.missing[role]}"
                 for role, path in (("view", made.view), ("predicted", made.predicted), ("gold", made.gold))]
        rows.append([pair.gold.id, *cells])
    note = (f"The first {len(pairs)} of {total} fiches. " if len(pairs) < total else "") + (
        "Each row: the fiche's first view, then OpenSCAD renders of the scaffold that `fiche scad` writes for the "
        "predicted fiche and for the gold one, seen by the same orthographic camera so that sizes compare; the gold "
        f"render has its own colours. {renders} renders took {seconds:.1f} s.")
    return Section("Views and scaffolds").add(Paragraph(note), PictureTable(
        ["id", "first view", "predicted scaffold", "gold scaffold"], rows))


def _sections(metrics: dict, items: list[dict], errors_by_axis: dict[str, list[float]], out_dir: Path) -> list[Section]:
    validity, exact, slots, geometry = (metrics["validity"], metrics["exact_match"], metrics["slot_f1"],
                                        metrics["geometry"])
    micro = slots["micro"]
    headline = Section("Fiches").add(
        Table(["metric", "value"], [
            ["JSON validity rate (schema-valid)", rate_of(validity)],
            ["exact match (canonical JSON equal to gold)", rate_of(exact)],
            ["slot F1 micro", f"{percent(micro['f1'])} (TP {micro['tp']}, FP {micro['fp']}, FN {micro['fn']})"],
            ["slot F1 macro (mean over list fields)", percent(slots["macro_f1"])],
        ]),
        Paragraph(f"Gold fiches without a prediction: {metrics['missing_predictions']}; each counts as invalid, as "
                  "not an exact match, and as predicting nothing for slot F1. Slot F1 compares the list fields "
                  f"({', '.join(LIST_FIELDS)}) as multisets of normalised strings (case, accents, punctuation and "
                  "spacing folded). Micro pools every field of every fiche; macro averages the per-field F1s."
                  + (f" Fields with nothing expected nor predicted anywhere have no F1 and are left out of the "
                     f"macro mean: {', '.join(slots['undefined_fields'])}." if slots["undefined_fields"] else "")))
    per_field = slots["per_field"]
    headline.add(Table(["field", "TP", "FP", "FN", "precision", "recall", "F1"],
                       [_counts_row(field, PRCounts(c["tp"], c["fp"], c["fn"])) for field, c in per_field.items()]))
    plots.bar_chart({field: c["f1"] for field, c in per_field.items()}, out_dir / "slot_f1_per_field.png",
                    title="Slot F1 per list field", ylabel="F1")
    headline.add(Figure("slot_f1_per_field.png", "Slot F1 per list field (n/a: nothing expected nor predicted)"))

    geometry_section = Section("Fiche geometry").add(Paragraph(
        f"Scored on {geometry['scored']} of {geometry['gold_with_dimensions']} gold fiches with dimensions: those "
        "whose prediction also has usable dimensions (H, W, D numbers and a unit among mm, cm, m, in). Both sides are "
        "converted to mm before comparing. Envelope IoU compares the W×D×H boxes anchored at the origin (the "
        "OpenSCAD envelope) by exact mesh boolean with manifold3d."))
    rows = []
    for axis in AXES:
        stats = geometry["axis_error_mm"][axis]
        rows.append([axis, str(stats["n"]), number(stats["mean"], 2), number(stats["median"], 2),
                     number(stats["max"], 2)])
    geometry_section.add(Table(["axis", "n", "mean |error| (mm)", "median (mm)", "max (mm)"], rows))
    unit = geometry["unit_match"]
    iou_scored = geometry["envelope_iou_scored"]
    geometry_section.add(Table(["metric", "value"], [
        ["unit-match rate", rate_of(unit)],
        [f"envelope IoU, mean over scored (n={iou_scored['n']})", number(iou_scored["mean"])],
        [f"envelope IoU, unusable predictions as 0 (n={geometry['gold_with_dimensions']})",
         number(geometry["envelope_iou_invalid_as_0"])],
    ]))
    if geometry["scored"]:
        plots.histogram(errors_by_axis, out_dir / "dimension_error_hist.png", title="Dimension error per axis",
                        xlabel="|predicted − gold| (mm)")
        geometry_section.add(Figure("dimension_error_hist.png", "Absolute dimension error per axis, in mm"))

    per_item = Section("Per fiche").add(*item_table(
        ["id", "valid", "exact", "slot F1", "|ΔH| mm", "|ΔW| mm", "|ΔD| mm", "unit", "envelope IoU", "first error"],
        [[item["id"], "yes" if item["valid"] else "no", "yes" if item["exact_match"] else "no",
          percent(item["slot_f1"]),
          *(number(item["axis_error_mm"][axis], 2) if "axis_error_mm" in item else "n/a" for axis in AXES),
          ("match" if item["unit_match"] else "differs") if "unit_match" in item else "n/a",
          number(item.get("envelope_iou")), item["errors"][0] if item["errors"] else ""]
         for item in items]))
    return [headline, geometry_section, per_item]
