"""`fiche` commands of the postprocess stage: extract, repair, cad-check, scad, cadquery-run."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from fiche_io.locations import location
from fiche_vlm.cli.options import IN_FILE, SECONDS, out_option, schema_option
from postprocess.render import RENDER_CHOICES


def _json_check(schema: str) -> object:
    """The errors function for a JSON answer under --schema; free text has no JSON to extract."""
    from fiche_vlm.predict import FREE_TEXT, InputError, load_answer_schema

    if schema == FREE_TEXT:
        raise click.BadParameter("free text holds no JSON object to extract or repair", param_hint="--schema")
    try:
        _, check = load_answer_schema(schema)
    except InputError as error:
        raise click.BadParameter(str(error), param_hint="--schema") from None
    return check or (lambda obj: [])


def _canonical(obj: dict, schema: str) -> str:
    if schema == "cad":
        from fiche_schema.cad_json import cad_text

        return cad_text(obj)
    from fiche_schema.canonical import canonical_text

    return canonical_text(obj) if schema == "fiche" else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@click.command("extract")
@click.argument("reply", type=click.File("rb"), default="-")
@schema_option()
def extract(reply, schema: str) -> None:
    """Pull the JSON object out of one model reply (file or stdin), print it canonical, list repairs on stderr.

    Exits 1 when no object can be read or it fails the schema.

    Example: fiche extract reply.txt --schema fiche > fiche.json
    """
    from postprocess.extract import extract_json

    check = _json_check(schema)
    data, source = reply.read(), getattr(reply, "name", "<stdin>")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        click.echo(f"{location(source)}: not valid UTF-8 (byte 0x{data[error.start]:02x} at offset "
                   f"{error.start}); nothing extracted", err=True)
        sys.exit(1)
    extracted = extract_json(text)
    for repair in extracted.repairs:
        click.echo(f"repair: {repair}", err=True)
    if extracted.error is not None:
        click.echo(f"{location(source)}: {extracted.error}", err=True)
        sys.exit(1)
    errors = check(extracted.value)
    click.echo(_canonical(extracted.value, schema) if not errors else
               json.dumps(extracted.value, ensure_ascii=False, separators=(",", ":")))
    for error in errors:
        click.echo(f"{location(source)}: {error}", err=True)
    sys.exit(1 if errors else 0)


@click.command("repair")
@click.argument("predictions", type=IN_FILE)
@out_option("Where to write the re-read predictions.jsonl.")
@schema_option()
def repair(predictions: Path, out: Path, schema: str) -> None:
    """Re-read every `raw` answer of a predictions.jsonl with repairs, re-validate, write the result.

    Each line keeps its fields; `json`, `valid` and `errors` are recomputed and `repairs` lists what was changed.
    As in `fiche predict`, an answer whose finish_reason is not `stop` stays an error. A line that is no JSON record
    is listed (FILE:LINE: REASON) and kept as it was in OUT's .rejects.jsonl; exits 1 when no line is a record.

    Example: fiche repair outputs/run/predictions.jsonl -o outputs/run/predictions.repaired.jsonl
    """
    from fiche_io.files import refuse_output_over_input
    from postprocess.repair import repair_predictions

    refuse_output_over_input([out, out.with_suffix(".rejects.jsonl")], [predictions])
    report = repair_predictions(predictions, out, _json_check(schema),
                                lambda obj: json.loads(_canonical(obj, schema)))
    for row in report.unreadable:
        click.echo(row["message"], err=True)
    if report.rejects_path is None:
        click.echo(f"error: none of the {report.read} line(s) of {location(predictions)} is a prediction record; "
                   f"nothing written, {location(out)} left as it was", err=True)
        sys.exit(1)
    click.echo(f"{report.read} read: {report.valid} valid, {report.invalid} invalid "
               f"({report.repaired} repaired, {len(report.unreadable)} unreadable lines) -> {out}"
               + (f"; unreadable lines as they were -> {report.rejects_path}" if report.unreadable else ""))


@click.command("cad-check")
@click.argument("files", nargs=-1, required=True, type=IN_FILE)
@out_option("Folder to write each valid document's canonical text into, as <name>.json.", folder=True, required=False)
@click.option("--mm", is_flag=True, help="Normalise lengths to mm (originals kept under `source`) before writing.")
@click.option("--unit", type=click.Choice(["mm", "cm", "m", "in"]),
              help="The length unit of documents that declare none (Text2CAD's), needed by --mm.")
def cad_check(files: tuple[Path, ...], out: Path | None, mm: bool, unit: str | None) -> None:
    """Check CAD JSON documents (.json, or .jsonl with one per line): schema, order, frames, units, numbers.

    Prints FILE:LINE: PATH: PROBLEM for each problem; exits 1 if any.

    Example: fiche cad-check tests/data/post_cad_t2c_bracket.json --mm --unit mm -o outputs/cad
    """
    from fiche_io.files import atomic_write_text, refuse_output_over_input, safe_file_stem
    from fiche_io.jsonl import iter_jsonl, parse_line
    from fiche_schema.cad_json import cad_text, normalise_to_mm, scientific_notation_numbers, validate_cad

    problems = checked = 0
    for path in files:
        data = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
        if not data.strip():
            click.echo(f"{location(path)}: empty file: it holds no CAD document")
            problems += 1
            continue
        lines = list(iter_jsonl(path)) if path.suffix == ".jsonl" else [parse_line(1, data)]
        for line in lines:
            checked += 1
            where = line.where(path)
            if line.error is not None:
                click.echo(f"{where}: {line.error.problem}")
                problems += 1
                continue
            document = line.value
            errors = [f"$: number {token} uses scientific notation" for token in scientific_notation_numbers(line.raw)]
            errors += validate_cad(document)
            for error in errors:
                click.echo(f"{where}: {error}")
            problems += bool(errors)
            if out is None or errors:
                continue
            try:
                written = normalise_to_mm(document, unit=unit) if mm else document
            except ValueError as error:
                click.echo(f"{where}: {error}")
                problems += 1
                continue
            stem = safe_file_stem(path.stem if len(lines) == 1 else f"{path.stem}-{line.number}")
            refuse_output_over_input([out / f"{stem}.json"], files)
            atomic_write_text(out / f"{stem}.json", cad_text(written) + "\n")
    click.echo(f"{checked} document(s) checked, {problems} with problems", err=True)
    sys.exit(1 if problems else 0)


@click.command("scad")
@click.argument("predictions", type=IN_FILE)
@out_option("Folder for <id>.scad (+ .stl/.png) and index.json.", folder=True)
@click.option("--render", type=click.Choice(RENDER_CHOICES), default="stl", show_default=True,
              help="Render each .scad with the openscad command-line tool (PNG under xvfb-run when headless).")
@click.option("--timeout", "timeout_s", type=SECONDS, default=120.0, show_default=True,
              help="Seconds per openscad run.")
def scad(predictions: Path, out: Path, render: str, timeout_s: float) -> None:
    """One parametric OpenSCAD scaffold per valid fiche of a predictions.jsonl; others are listed with the reason.

    Each file has Customizer parameters and a cube, cylinder or tube filling the W x D x H envelope, chosen by
    the shape table (README). Writes OUT/<id>.scad (+ .stl/.png) and OUT/index.json. Exits 1 if a render failed.

    Example: fiche scad outputs/run/predictions.jsonl -o outputs/run/scad --render stl
    """
    from rich.progress import Progress

    from fiche_io.files import refuse_output_over_input
    from postprocess.openscad import predictions_to_scad

    refuse_output_over_input([out / "index.json"], [predictions])
    with Progress(transient=True) as progress:
        task = progress.add_task("OpenSCAD", total=None)
        report = predictions_to_scad(predictions, out, render, timeout_s,
                                     progress=lambda: progress.advance(task))
    for entry in report.skipped:
        click.echo(f"skipped {entry.id!r}: {entry.skipped}", err=True)
    for entry, error in report.render_failures:
        click.echo(f"render failed for {entry.id!r}: {error}", err=True)
    rendered = sum(1 for entry in report.entries for r in entry.renders.values() if r["ok"])
    shapes = Counter(entry.shape for entry in report.written)
    unsure = sum(entry.shape_reason.startswith("unsure") for entry in report.written)
    click.echo(f"{len(report.entries)} line(s): {len(report.written)} .scad written "
               f"({', '.join(f'{kind} {shapes[kind]}' for kind in ('cube', 'cylinder', 'tube'))}; "
               f"unsure {unsure}), {len(report.skipped)} skipped, "
               f"{rendered} render(s) ok, {len(report.render_failures)} failed -> {out}")
    sys.exit(1 if report.render_failures else 0)


@click.command("cadquery-run")
@click.argument("code_files", nargs=-1, required=True, type=IN_FILE)
@out_option("Folder for <name>.stl/.step per solid and results.jsonl.", folder=True)
@click.option("--timeout", "timeout_s", type=SECONDS, default=120.0, show_default=True,
              help="Wall-clock seconds per file.")
@click.option("--memory-mb", type=click.IntRange(min=256), default=2048, show_default=True,
              help="Address-space limit per process (cadquery maps ~1.2 GB).")
@click.option("--result-var", default=None, metavar="NAME",
              help="The variable holding the shape; default: result, solid, r, then show_object(…).")
def cadquery_run(code_files: tuple[Path, ...], out: Path, timeout_s: float, memory_mb: int,
                 result_var: str | None) -> None:
    """Run generated CadQuery files (or model answers with a fenced block) in the sandbox; report syntax valid /
    runs / solid for each.

    The shape is the variable `result`, `solid` (GenCAD-Code) or `r` (CAD-Recode), in that order, else what
    show_object() was given; --result-var names another. Writes OUT/<name>.stl and .step for solids (files with
    the same name get -2, -3, …) and OUT/results.jsonl. Exits 1 if any file gives no solid, 2 if the sandbox
    cannot be set up here.

    Example: fiche cadquery-run outputs/run/code/*.py -o outputs/run/cadquery
    """
    from rich.console import Console
    from rich.table import Table

    from fiche_io.files import atomic_write_text, refuse_output_over_input, safe_file_stem
    from fiche_io.jsonl import dumps_jsonl
    from fiche_schema.cadquery_code import code_of
    from postprocess.cadquery_sandbox import Result, SandboxUnavailable, confinement, run_cadquery

    if result_var is not None and not result_var.isidentifier():
        raise click.BadParameter(f"{result_var!r} is not a Python name", param_hint="--result-var")
    refuse_output_over_input([out / "results.jsonl"], code_files)
    try:
        confinement()
    except SandboxUnavailable as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    table = Table("file", "syntax", "runs", "solid", "volume", "shape from", "error")
    records, stems = [], set()
    with Console(stderr=True).status("running CadQuery in the sandbox") as status:
        for path in code_files:
            status.update(f"running {location(path)}")
            stem = _unique_stem(safe_file_stem(path.stem), stems)
            try:
                code = code_of(path.read_bytes().decode("utf-8-sig"))
            except UnicodeDecodeError as error:
                result = Result(False, False, False, None, f"not valid UTF-8 (byte {error.start})")
            else:
                result = run_cadquery(code, out, timeout_s, memory_mb, name=stem, result_var=result_var)
            flags = ("yes" if flag else "no" for flag in (result.syntax_ok, result.ran, result.solid))
            table.add_row(location(path), *flags, "" if result.volume is None else f"{result.volume:.6g}",
                          result.convention or "", result.error or "")
            records.append({"file": str(path), "syntax_ok": result.syntax_ok, "ran": result.ran,
                            "solid": result.solid, "stl": result.path and str(result.path),
                            "step": result.step_path and str(result.step_path), "volume": result.volume,
                            "convention": result.convention, "error": result.error,
                            "seconds": round(result.seconds, 3)})
    atomic_write_text(out / "results.jsonl", dumps_jsonl(records))
    Console().print(table)
    solids = sum(record["solid"] for record in records)
    click.echo(f"{len(records)} file(s): {solids} solid(s) -> {out} (sandbox: {confinement()})")
    sys.exit(0 if solids == len(records) else 1)


def _unique_stem(stem: str, taken: set[str]) -> str:
    """`stem`, or `stem-2`, `stem-3`, … when an earlier file of this run already has it (a/good.py, b/good.py)."""
    candidate, number = stem, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}"
    taken.add(candidate)
    return candidate


COMMANDS = [extract, repair, cad_check, scad, cadquery_run]
