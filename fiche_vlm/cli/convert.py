"""`fiche convert <kind>` and `fiche validate`: thin wrappers over the converter functions."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from converters.report import ConvertReport, RejectedInput
from fiche_io.locations import location
from fiche_vlm.cli.options import (
    FOLDER,
    IN_FILE,
    POSITIVE_INT,
    FiniteFloatRange,
    data_root_option,
    long_side_option,
    out_option,
)

SHOWN_REJECTS = 20


_strict_option = click.option("--strict", is_flag=True,
                              help="Refuse the whole input (write nothing, exit 1) if any line is rejected.")
_dataset_dir_option = click.option("--dataset-dir", type=FOLDER, default=Path("dataset_info"), show_default=True,
                                   help="Folder of the dataset_info.json to register in (LLaMA-Factory's dataset_dir).")
_name_option = click.option("--name", required=True, help="Dataset name to register.")
_data_root_option = data_root_option("Image paths must stay inside it. Default: SRC's folder.")
_keep_images_option = click.option("--keep-images", is_flag=True,
                                   help="Point at the original images instead (they must be fitted already).")


def run_conversion(convert: Callable[[], ConvertReport]) -> ConvertReport:
    """Run a converter; print counts and reject reasons; exit 1 (having written nothing) in strict mode on
    rejects, or when nothing could be converted."""
    try:
        report = convert()
    except RejectedInput as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from None
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for reject in report.rejects[:SHOWN_REJECTS]:
        click.echo(reject.message, err=True)
    if report.rejected > SHOWN_REJECTS:
        click.echo(f"… and {report.rejected - SHOWN_REJECTS} more in {report.rejects_path}", err=True)
    for note in report.notes[:SHOWN_REJECTS]:
        click.echo(f"note: {note}", err=True)
    if len(report.notes) > SHOWN_REJECTS:
        click.echo(f"note: … and {len(report.notes) - SHOWN_REJECTS} more", err=True)
    click.echo(report.summary())
    return report


@click.group("convert")
def convert() -> None:
    """Turn users' data into LLaMA-Factory sharegpt datasets registered in a dataset_info.json."""


@convert.command("fiche")
@click.argument("src", type=IN_FILE)
@out_option("sharegpt file to write (.json or .jsonl).")
@_dataset_dir_option
@_name_option
@long_side_option("Band (px) for the long side of the fitted views; both sides become multiples of 28.")
@_data_root_option
@_strict_option
def convert_fiche(src: Path, out: Path, dataset_dir: Path, name: str, long_side: tuple[int, int],
                  data_root: Path | None, strict: bool) -> None:
    """Fiche JSONL → sharegpt multimodal (views fitted to the 28-px grid once, canonical JSON answer).

    Example: fiche convert fiche data/fiches.jsonl -o dataset_info/fiches.json --name fiches --long-side 224 224 --strict
    """
    from converters.fiche import convert_fiches

    run_conversion(lambda: convert_fiches(src, out, dataset_dir=dataset_dir, name=name, long_side=long_side,
                                          data_root=data_root, strict=strict, show_progress=True))


@convert.command("views")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@out_option("Fiche JSONL to write; views go to <out stem>.images/.")
@long_side_option("Band (px) for the long side of the fitted views.")
@click.option("--ocr/--no-ocr", default=False, show_default=True, help="Fill context_text with the views' OCR text.")
@click.option("--ocr-lang", default="fra+eng", show_default=True, help="Tesseract languages.")
@_strict_option
def convert_views_command(src: Path, out: Path, long_side: tuple[int, int], ocr: bool, ocr_lang: str,
                          strict: bool) -> None:
    """Folder of views (pump_a.png, pump_b.jpg, valve_1.png …) → fiche JSONL skeleton, one line per fiche.

    Example: fiche convert views photos/ -o data/new_fiches.jsonl --ocr
    """
    from converters.views import convert_views

    run_conversion(lambda: convert_views(src, out, long_side=long_side, ocr=ocr, ocr_lang=ocr_lang, strict=strict,
                                         show_progress=True))


@convert.command("pdf")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@out_option("Fiche JSONL to write; pages go to <out stem>.images/.")
@click.option("--split", is_flag=True, help="Cut landscape (double) pages into left and right halves.")
@click.option("--per-page", is_flag=True, help="One fiche per page (or half page) instead of one per file.")
@click.option("--ocr/--no-ocr", default=True, show_default=True, help="Fill context_text with the pages' OCR text.")
@click.option("--ocr-lang", default="fra+eng", show_default=True, help="Tesseract languages.")
@click.option("--dpi", type=POSITIVE_INT, default=200, show_default=True,
              help="PDF rendering resolution (OCR reads this, views are fitted).")
@long_side_option("Band (px) for the long side of the fitted pages.")
@_strict_option
def convert_pdf_command(src: Path, out: Path, split: bool, per_page: bool, ocr: bool, ocr_lang: str, dpi: int,
                        long_side: tuple[int, int], strict: bool) -> None:
    """PDF or scanned TIFF (or a folder of them) → PNG pages (pdf2image; every TIFF page) + OCR (tesseract
    fra+eng) → fiche JSONL skeleton.

    Example: fiche convert pdf data/pdf/support_moteur.pdf -o data/pdf_fiches.jsonl --split
    """
    from converters.pdf_ocr import convert_pdfs

    run_conversion(lambda: convert_pdfs(src, out, split=split, per_page=per_page, ocr=ocr, ocr_lang=ocr_lang,
                                        dpi=dpi, long_side=long_side, strict=strict, show_progress=True))


@convert.command("qa")
@click.argument("src", type=IN_FILE)
@out_option("Base sharegpt path: <stem>_train and <stem>_val files are written beside it.")
@_dataset_dir_option
@click.option("--name", required=True, help="Datasets <name>_train and <name>_val are registered.")
@click.option("--val-ratio", type=FiniteFloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of pages (not lines) sent to val.")
@click.option("--seed", default="fiche-vlm", show_default=True, help="Salt of the page hash that decides the split.")
@long_side_option("Fit each page image once to this band (28-px grid).")
@_keep_images_option
@_data_root_option
@_strict_option
def convert_qa_command(src: Path, out: Path, dataset_dir: Path, name: str, val_ratio: float, seed: str,
                       long_side: tuple[int, int], keep_images: bool, data_root: Path | None, strict: bool) -> None:
    """Service-manual Q&A JSONL → sharegpt multimodal train/val, split by page_id (no page in both).

    Example: fiche convert qa data/qa/manual_qa.jsonl -o dataset_info/manual_qa.json --name manual_qa
    """
    from converters.qa import convert_qa

    run_conversion(lambda: convert_qa(src, out, dataset_dir=dataset_dir, name=name, val_ratio=val_ratio, seed=seed,
                                      long_side=None if keep_images else long_side, data_root=data_root,
                                      strict=strict))


@convert.command("text2cad")
@click.argument("src", type=IN_FILE)
@out_option("sharegpt file to write; with --direction explain, <stem>_explain is written beside it.")
@_dataset_dir_option
@_name_option
@click.option("--direction", type=click.Choice(["generate", "explain"]), default="generate", show_default=True,
              help="generate: instruction → CAD JSON. explain: CAD JSON → the instruction, registered as <name>_explain.")
@_strict_option
def convert_text2cad_command(src: Path, out: Path, dataset_dir: Path, name: str, direction: str,
                             strict: bool) -> None:
    """Instruction text + Fusion 360 CAD JSON → sharegpt text-only, target numbers canonicalised (1e-6, no exponent).

    Example: fiche convert text2cad data/text2cad/text2cad.jsonl -o dataset_info/text2cad.json --name text2cad
    (add --direction explain for the reverse dataset text2cad_explain, CAD JSON → instruction)
    """
    from converters.cad_json import convert_text2cad

    run_conversion(lambda: convert_text2cad(src, out, dataset_dir=dataset_dir, name=name, direction=direction,
                                            strict=strict))


@convert.command("cadquery")
@click.argument("src", type=IN_FILE)
@out_option("sharegpt file to write.")
@_dataset_dir_option
@_name_option
@long_side_option("Fit each image once to this band (28-px grid).")
@_keep_images_option
@_data_root_option
@_strict_option
def convert_cadquery_command(src: Path, out: Path, dataset_dir: Path, name: str, long_side: tuple[int, int],
                             keep_images: bool, data_root: Path | None, strict: bool) -> None:
    """Image + CadQuery code → sharegpt multimodal with the prompt «Generate CADQuery code:».

    Example: fiche convert cadquery data/cadquery/cadquery.jsonl -o dataset_info/cadquery.json --name cadquery
    """
    from converters.cadquery import convert_cadquery

    run_conversion(lambda: convert_cadquery(src, out, dataset_dir=dataset_dir, name=name,
                                            long_side=None if keep_images else long_side, data_root=data_root,
                                            strict=strict))


@click.command("validate")
@click.argument("file", type=IN_FILE)
@data_root_option("Image paths must stay inside it. Default: FILE's folder.")
def validate(file: Path, data_root: Path | None) -> None:
    """Check a fiche JSONL: lines parse, images exist and open, outputs (when present) match the schema.

    Prints FILE:LINE: FIELD: PROBLEM for each problem and exits 1 if there is any.

    Example: fiche validate data/fiches.jsonl
    """
    from converters.fiche import validate_fiche_file

    report = validate_fiche_file(file, data_root=data_root)
    for reject in report.rejects:
        click.echo(reject.message)
    substituted = f' ({report.substituted} " or \\ to be written as ″ or ⧵)' if report.substituted else ""
    click.echo(f"{location(file)}: {report.read} lines, {report.written} valid{substituted}, {report.rejected} with problems")
    if report.rejects:
        raise SystemExit(1)


COMMANDS = [convert, validate]
