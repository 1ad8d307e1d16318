"""`fiche` commands of the postprocess stage: extract, repair, cad-check, scad, cadquery-run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from postprocess.render import RENDER_CHOICES

SCHEMAS = ("fiche", "cad", "none")


def _errors_for(obj: object, schema: str) -> list[str]:
    if schema == "none":
        return []
    from postprocess.validate import schema_check

    return schema_check(schema)(obj)


def _canonical(obj: dict, schema: str) -> str:
    if schema == "cad":
        from postprocess.cad_json import cad_text

        return cad_text(obj)
    from postprocess.canonical import canonical_text

    return canonical_text(obj) if schema == "fiche" else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@click.command("extract")
@click.argument("reply", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--schema", type=click.Choice(SCHEMAS), default="fiche", show_default=True,
              help="Validate the object against this schema ('none': extract only).")
def extract(reply, schema: str) -> None:
    """Pull the JSON object out of one model reply (file or stdin), print it canonical, list repairs on stderr.

    Exits 1 when no object can be read or it fails the schema.

    Example: fiche extract reply.txt --schema fiche > fiche.json
    """
    from postprocess.extract import extract_json

    extracted = extract_json(reply.read())
    for repair in extracted.repairs:
        click.echo(f"repair: {repair}", err=True)
    if extracted.error is not None:
        click.echo(f"{reply.name}: {extracted.error}", err=True)
        sys.exit(1)
    errors = _errors_for(extracted.value, schema)
    click.echo(_canonical(extracted.value, schema) if not errors else
               json.dumps(extracted.value, ensure_ascii=False, separators=(",", ":")))
    for error in errors:
        click.echo(f"{reply.name}: {error}", err=True)
    sys.exit(1 if errors else 0)


@click.command("repair")
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the re-read predictions.jsonl.")
@click.option("--schema", type=click.Choice(SCHEMAS), default="fiche", show_default=True)
def repair(predictions: Path, out: Path, schema: str) -> None:
    """Re-read every `raw` answer of a predictions.jsonl with repairs, re-validate, write the result.

    Each line keeps its fields; `json`, `valid` and `errors` are recomputed and `repairs` lists what was changed.
    A `length` finish stays an error even when the truncated JSON could be closed.

    Example: fiche repair outputs/run/predictions.jsonl --out outputs/run/predictions.repaired.jsonl
    """
    from postprocess.repair import repair_predictions

    counts = repair_predictions(predictions, out, lambda obj: _errors_for(obj, schema),
                                lambda obj: json.loads(_canonical(obj, schema)))
    click.echo(f"{counts['read']} read: {counts['valid']} valid, {counts['invalid']} invalid "
               f"({counts['repaired']} repaired, {counts['unreadable']} unreadable lines) -> {out}")


@click.command("cad-check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each valid document's canonical text here, as <name>.json.")
@click.option("--mm", is_flag=True, help="Normalise lengths to mm (originals kept under `source`) before writing.")
@click.option("--unit", type=click.Choice(["mm", "cm", "m", "in"]),
              help="The length unit of documents that declare none (Text2CAD's), needed by --mm.")
def cad_check(files: tuple[Path, ...], out_dir: Path | None, mm: bool, unit: str | None) -> None:
    """Check CAD JSON documents (.json, or .jsonl with one per line): schema, order, frames, units, numbers.

    Prints FILE:LINE: PATH: PROBLEM for each problem; exits 1 if any.

    Example: fiche cad-check tests/data/post_cad_t2c_bracket.json --mm --unit mm --out outputs/cad
    """
    from postprocess.cad_json import cad_text, normalise_to_mm, scientific_notation_numbers, validate_cad
    from postprocess.files import atomic_write_text, safe_file_stem

    problems = checked = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        lines = list(enumerate(text.splitlines(), 1)) if path.suffix == ".jsonl" else [(1, text)]
        for number, line in lines:
            if not line.strip():
                continue
            checked += 1
            where = f"{path}:{number}"
            try:
                errors = [f"$: number {token} uses scientific notation" for token in scientific_notation_numbers(line)]
                document = json.loads(line)
            except json.JSONDecodeError as error:
                click.echo(f"{where}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})")
                problems += 1
                continue
            errors += validate_cad(document)
            for error in errors:
                click.echo(f"{where}: {error}")
            problems += bool(errors)
            if out_dir is None or errors:
                continue
            try:
                written = normalise_to_mm(document, unit=unit) if mm else document
            except ValueError as error:
                click.echo(f"{where}: {error}")
                problems += 1
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            stem = safe_file_stem(path.stem if len(lines) == 1 else f"{path.stem}-{number}")
            atomic_write_text(out_dir / f"{stem}.json", cad_text(written) + "\n")
    click.echo(f"{checked} document(s) checked, {problems} with problems", err=True)
    sys.exit(1 if problems else 0)


@click.command("scad")
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--render", type=click.Choice(RENDER_CHOICES), default="stl", show_default=True,
              help="Render each .scad with the openscad command-line tool (PNG under xvfb-run when headless).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds per openscad run.")
def scad(predictions: Path, out_dir: Path, render: str, timeout_s: float) -> None:
    """One OpenSCAD envelope per valid fiche of a predictions.jsonl; others are listed with the reason.

    Writes OUT/<id>.scad (+ .stl/.png) and OUT/index.json. Exits 1 if a render failed.

    Example: fiche scad outputs/run/predictions.jsonl --out outputs/run/scad --render stl
    """
    from rich.progress import Progress

    from postprocess.openscad import predictions_to_scad

    with Progress(transient=True) as progress:
        task = progress.add_task("OpenSCAD", total=None)
        report = predictions_to_scad(predictions, out_dir, render, timeout_s,
                                     progress=lambda: progress.advance(task))
    for entry in report.skipped:
        click.echo(f"skipped {entry.id!r}: {entry.skipped}", err=True)
    for entry, error in report.render_failures:
        click.echo(f"render failed for {entry.id!r}: {error}", err=True)
    rendered = sum(1 for entry in report.entries for r in entry.renders.values() if r["ok"])
    click.echo(f"{len(report.entries)} line(s): {len(report.written)} .scad written, {len(report.skipped)} skipped, "
               f"{rendered} render(s) ok, {len(report.render_failures)} failed -> {out_dir}")
    sys.exit(1 if report.render_failures else 0)


@click.command("cadquery-run")
@click.argument("code_files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--timeout", "timeout_s", default=120.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Wall-clock seconds per file.")
@click.option("--memory-mb", default=2048, show_default=True, type=click.IntRange(min=256),
              help="Address-space limit per process (cadquery maps ~1.2 GB).")
@click.option("--result-var", default=None, metavar="NAME",
              help="The variable holding the shape; default: result, solid, r, then show_object(…).")
def cadquery_run(code_files: tuple[Path, ...], out_dir: Path, timeout_s: float, memory_mb: int,
                 result_var: str | None) -> None:
    """Run generated CadQuery files (or model answers with a fenced block) in the sandbox; report syntax valid /
    runs / solid for each.

    The shape is the variable `result`, `solid` (GenCAD-Code) or `r` (CAD-Recode), in that order, else what
    show_object() was given; --result-var names another. Writes OUT/<name>.stl and .step for solids (files with
    the same name get -2, -3, …) and OUT/results.jsonl. Exits 1 if any file gives no solid, 2 if the sandbox
    cannot be set up here.

    Example: fiche cadquery-run outputs/run/code/*.py --out outputs/run/cadquery
    """
    from rich.console import Console
    from rich.table import Table

    from converters.sharegpt import dumps_jsonl
    from postprocess.cadquery_code import code_of
    from postprocess.cadquery_sandbox import Result, SandboxUnavailable, confinement, run_cadquery
    from postprocess.files import atomic_write_text, safe_file_stem

    if result_var is not None and not result_var.isidentifier():
        raise click.BadParameter(f"{result_var!r} is not a Python name", param_hint="--result-var")
    try:
        confinement()
    except SandboxUnavailable as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    table = Table("file", "syntax", "runs", "solid", "volume", "shape from", "error")
    records, stems = [], set()
    with Console(stderr=True).status("running CadQuery in the sandbox") as status:
        for path in code_files:
            status.update(f"running {path}")
            stem = _unique_stem(safe_file_stem(path.stem), stems)
            try:
                code = code_of(path.read_bytes().decode("utf-8-sig"))
            except UnicodeDecodeError as error:
                result = Result(False, False, False, None, f"not UTF-8 (byte {error.start})")
            else:
                result = run_cadquery(code, out_dir, timeout_s, memory_mb, name=stem, result_var=result_var)
            flags = ("yes" if flag else "no" for flag in (result.syntax_ok, result.ran, result.solid))
            table.add_row(str(path), *flags, "" if result.volume is None else f"{result.volume:.6g}",
                          result.convention or "", result.error or "")
            records.append({"file": str(path), "syntax_ok": result.syntax_ok, "ran": result.ran,
                            "solid": result.solid, "stl": result.path and str(result.path),
                            "step": result.step_path and str(result.step_path), "volume": result.volume,
                            "convention": result.convention, "error": result.error,
                            "seconds": round(result.seconds, 3)})
    atomic_write_text(out_dir / "results.jsonl", dumps_jsonl(records))
    Console().print(table)
    solids = sum(record["solid"] for record in records)
    click.echo(f"{len(records)} file(s): {solids} solid(s) -> {out_dir} (sandbox: {confinement()})")
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
