"""Image → CadQuery task: valid-syntax rate and volumetric IoU, raw and normalised, invalid as 0 and excluded.

Gold and predicted code both run in postprocess.cadquery_sandbox (bubblewrap, time and memory limits, no network).
The shape is found the same way for every answer (`result`, `solid` as GenCAD-Code, `r` as CAD-Recode, then
show_object()), and the report says which convention each answer used. An item whose gold code does not give a
solid cannot be scored and is listed. "Valid syntax" follows CAD-Coder and CADBench: the code runs and produces a
solid; plain Python syntax and "runs" are reported beside it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from eval import plots
from eval.metrics.mesh import MeshError, aligned_iou, naive_iou, unit_cube_chamfer, unit_cube_iou
from eval.report import Figure, Paragraph, Section, Table, number, rate_of
from eval.tasks.base import Pair, TaskResult, fraction, item_table, summary
from fiche_schema.cadquery_code import code_of


def _mesh(result):
    import trimesh

    return trimesh.load(result.path, force="mesh")


def score(pairs: Sequence[Pair], out_dir: Path, timeout_s: float = 60.0, memory_mb: int = 2048) -> TaskResult:
    from rich.progress import track

    from postprocess.cadquery_sandbox import confinement, run_cadquery

    confinement()  # SandboxUnavailable before any work where generated code cannot be confined
    work = out_dir / "cadquery"
    items, gold_runs = [], {}
    for index, pair in enumerate(track(pairs, description="running CadQuery (gold and predicted)")):
        item = {"id": pair.gold.id}
        folder = f"{index:05d}"  # ids are free text; a folder named after one could escape `work`
        if pair.gold.target not in gold_runs:  # the same gold code is run once
            gold_runs[pair.gold.target] = run_cadquery(pair.gold.target, work / "gold" / folder,
                                                       timeout_s=timeout_s, memory_mb=memory_mb)
        gold = gold_runs[pair.gold.target]
        if not gold.solid:
            item["gold_error"] = f"gold code gives no solid: {gold.error}"
            items.append(item)
            continue
        if pair.prediction is None:
            item.update(syntax_ok=False, ran=False, solid=False, error="no prediction for this id")
            items.append(item)
            continue
        predicted = run_cadquery(code_of(pair.prediction.raw), work / "pred" / folder, timeout_s=timeout_s,
                                 memory_mb=memory_mb)
        item.update(syntax_ok=predicted.syntax_ok, ran=predicted.ran, solid=predicted.solid,
                    convention=predicted.convention, volume=predicted.volume,
                    error=None if predicted.solid else str(predicted.error))
        if predicted.solid:
            try:
                gold_mesh, predicted_mesh = _mesh(gold), _mesh(predicted)
                item["iou_naive"] = naive_iou(predicted_mesh, gold_mesh)
                item["iou_aligned"] = aligned_iou(predicted_mesh, gold_mesh)
                item["iou_unit_cube"] = unit_cube_iou(predicted_mesh, gold_mesh)
                item["chamfer_x1000"] = 1000 * unit_cube_chamfer(predicted_mesh, gold_mesh)
            except MeshError as error:
                item["solid"], item["error"] = False, f"exported mesh unusable: {error}"
        items.append(item)

    scored = [item for item in items if "gold_error" not in item]
    total = len(scored)
    metrics = {
        "gold_unusable": [f"{item['id']}: {item['gold_error']}" for item in items if "gold_error" in item],
        "syntax_ok": fraction(sum(item["syntax_ok"] for item in scored), total),
        "runs": fraction(sum(item["ran"] for item in scored), total),
        "valid_syntax_rate": fraction(sum(item["solid"] for item in scored), total),
        "invalid_ratio": fraction(sum(not item["solid"] for item in scored), total),
        "conventions": dict(Counter(item.get("convention") or "none found" for item in scored)),
        "iou": {},
    }
    for kind in ("naive", "aligned", "unit_cube"):
        values = [item[f"iou_{kind}"] for item in scored if item["solid"]]
        metrics["iou"][kind] = {"invalid_excluded": summary(values),
                                "invalid_as_0": summary(values + [0.0] * (total - len(values)))}
    metrics["chamfer_x1000"] = summary([item["chamfer_x1000"] for item in scored if item["solid"]])
    metrics["invalid_ratio"] = fraction(total - metrics["valid_syntax_rate"]["count"], total)
    metrics["cadquery_version"] = _cadquery_version()
    return TaskResult(metrics=metrics, sections=_sections(metrics, scored, out_dir), items=items)


def _cadquery_version() -> str:
    from importlib.metadata import version

    return version("cadquery")


def _sections(metrics: dict, scored: list[dict], out_dir: Path) -> list[Section]:
    def cell(summary_: dict) -> str:
        return f"{number(summary_['mean'])} (median {number(summary_['median'])}, n={summary_['n']})"

    iou = metrics["iou"]
    section = Section("Image → CadQuery").add(
        Table(["metric", "value"], [
            ["valid syntax rate (runs and gives a solid, as CAD-Coder)",
             rate_of(metrics["valid_syntax_rate"])],
            ["invalid ratio (no solid, as CAD-Recode's IR)", rate_of(metrics["invalid_ratio"])],
            ["Python syntax valid", rate_of(metrics["syntax_ok"])],
            ["runs without error", rate_of(metrics["runs"])],
        ]),
        Paragraph("Shape found by: " + ", ".join(f"{name} {count}" for name, count in
                                                 sorted(metrics["conventions"].items())) + " (`solid`: GenCAD-Code, "
                  "`r`: CAD-Recode, show_object: CQ-editor)."),
        Table(["IoU (mean)", "invalid outputs as 0", "invalid outputs excluded"], [
            ["normalised (CAD-Coder alignment)", cell(iou["aligned"]["invalid_as_0"]),
             cell(iou["aligned"]["invalid_excluded"])],
            ["unit cube (cadrille / CAD-Recode)", cell(iou["unit_cube"]["invalid_as_0"]),
             cell(iou["unit_cube"]["invalid_excluded"])],
            ["unnormalised (as written)", cell(iou["naive"]["invalid_as_0"]), cell(iou["naive"]["invalid_excluded"])],
        ]),
        Paragraph("As the published tables report them (cadrille, CAD-Recode; each solid scaled into the unit cube by "
                  "its bounding box, CadQuery " + metrics["cadquery_version"] + "): IoU "
                  f"{number(iou['unit_cube']['invalid_excluded']['mean'])} (mean over valid outputs), median Chamfer "
                  f"distance × 10³ {number(metrics['chamfer_x1000']['median'])} (8,192 surface points each, mean "
                  "squared nearest-neighbour distance both ways, summed; mean "
                  f"{number(metrics['chamfer_x1000']['mean'])}), invalid ratio "
                  f"{rate_of(metrics['invalid_ratio'])}. The meshes are the sandbox's STL export, not the papers' "
                  "tessellate(0.001, 0.1), so the last digits may differ."),
        Paragraph("IoU is vol(A∩B)/vol(A∪B) by exact mesh boolean (manifold3d). Normalised: each solid centred on "
                  "its centre of mass, scaled by 1/sqrt(trace(inertia)/volume), principal axes of inertia aligned, "
                  "best of the four proper axis sign choices (CAD-Coder's SolidAlign; see eval/metrics/mesh.py)."))
    for problem in metrics["gold_unusable"]:
        section.add(Paragraph(f"Not scored: {problem}"))
    aligned = [item["iou_aligned"] for item in scored if item["solid"]]
    if aligned:
        plots.histogram({"normalised IoU": aligned}, out_dir / "cadquery_iou_hist.png",
                        title="Normalised IoU of valid outputs", xlabel="IoU", bins=10)
        section.add(Figure("cadquery_iou_hist.png", "Normalised IoU of the valid outputs"))
    section.add(*item_table(["id", "syntax", "runs", "solid", "shape from", "IoU normalised", "IoU unit cube", "IoU raw",
                             "CD × 10³", "error"],
                            [[item["id"], *("yes" if item[key] else "no" for key in ("syntax_ok", "ran", "solid")),
                              item.get("convention") or "", number(item.get("iou_aligned")),
                              number(item.get("iou_unit_cube")), number(item.get("iou_naive")),
                              number(item.get("chamfer_x1000")), item["error"] or ""]
                             for item in scored]))
    return [section]
