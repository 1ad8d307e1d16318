"""Fiche JSONL → sharegpt multimodal: fitted views, the training prompt, the canonical JSON answer.

A record whose `output` is null is rejected here: LLaMA-Factory drops a conversation without an assistant
turn ("Invalid message count"), so it could only train on nothing. Such fiches are inputs for `fiche predict`,
which reads the fiche JSONL itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from converters.engine import UniqueIds, finish, images_dir_for, judge_lines
from converters.media import open_image
from converters.report import ConvertReport
from converters.sharegpt import relative_posix
from fiche_io.files import StagedDir
from fiche_io.images import DEFAULT_LONG_SIDE, long_side_band
from fiche_io.jsonl import RecordError, iter_jsonl
from fiche_io.paths import resolve_inside
from fiche_io.progress import with_progress
from fiche_schema import IMAGE_TOKEN, load_schema
from fiche_schema.canonical import canonical_text
from fiche_schema.quotes import substitute_quotes
from fiche_schema.validate import json_schema_validator, pattern_problem

# The one instruction of the fiche workflow, verbatim (the sample fiches carry it too).
FICHE_INSTRUCTION = (
    "Tu es ingénieur produit. Analyse ensemble les IMAGES (vues/diagrammes) ET le TEXTE fourni. Rends un JSON "
    "STRICT et SEUL selon le schéma : object, function, global_shape, components[], interfaces[], "
    "working_principle, dimensions{H,W,D,unit}, materials_guess[], manufacturing[], assembly_hypothesis, "
    "assumptions[], uncertainties[], risks_limits[]. Ne renvoie que le JSON valide."
)


# An id names files `<id>_<k>.png`; file systems hold at most 255 bytes per name, so the id keeps room for the suffix.
MAX_ID_BYTES = 200


def user_prompt(instruction: str, context_text: str) -> str:
    """The text of the user turn after its images: the instruction, then a blank line and the context when there is one.

    `fiche predict` builds served prompts with this same function, so they equal the training prompts exactly.
    """
    return f"{instruction}\n\n{context_text}" if context_text.strip() else instruction


def schema_problem(output: Any, validator: Draft202012Validator) -> RecordError | None:
    """The most relevant schema violation of `output` as a RecordError on `output.<path>`, or None if valid."""
    errors = list(validator.iter_errors(output))
    if not errors:
        return None
    error = best_match(errors)
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    more = f" (and {len(errors) - 1} more schema errors)" if len(errors) > 1 else ""
    reason = pattern_problem(error.instance, error.validator_value) if error.validator == "pattern" else error.message
    return RecordError(f"output{path}", f"not valid against the fiche schema: {reason}{more}")


def gold_output(record: dict[str, Any], validator: Draft202012Validator) -> tuple[Any, int]:
    """The record's `output` with `"` and `\\` written as ″ and ⧵, schema-checked, and how many were written;
    None stays None."""
    output, substituted = substitute_quotes(record.get("output"))
    problem = schema_problem(output, validator) if output is not None else None
    if problem is not None:
        raise problem
    return output, substituted


def check_fiche_id(fiche_id: Any) -> str:
    """The id rule of `fiche convert` and `fiche validate`: a non-empty string that can start a file name
    (the fitted views are `<id>_<k>.png`): no '/', '\\', NUL, not '.' or '..', at most MAX_ID_BYTES in UTF-8."""
    if not isinstance(fiche_id, str) or not fiche_id.strip():
        raise RecordError("id", f"expected a non-empty string, got {fiche_id!r}")
    if any(char in fiche_id for char in "/\\\x00") or fiche_id in {".", ".."}:
        raise RecordError("id", f"{fiche_id!r} cannot name a file (no '/', '\\\\', NUL, '.' or '..')")
    size = len(fiche_id.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES:
        raise RecordError("id", f"{size} bytes long in UTF-8 ({len(fiche_id)} characters), more than the "
                                f"{MAX_ID_BYTES} an id may have (it names files, which hold at most 255 bytes): "
                                f"{fiche_id[:40]!r}…")
    return fiche_id


def check_text_fields(record: dict[str, Any]) -> tuple[str, str, str]:
    """(id, instruction, context_text) after type checks; `<image>` inside the text would add an image slot."""
    fiche_id = check_fiche_id(record.get("id"))
    instruction = record.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise RecordError("instruction", f"expected a non-empty string, got {instruction!r}")
    context_text = record.get("context_text", "")
    if not isinstance(context_text, str):
        raise RecordError("context_text", f"expected a string, got {type(context_text).__name__}")
    for field, text in (("instruction", instruction), ("context_text", context_text)):
        if IMAGE_TOKEN in text:
            raise RecordError(field, f"contains {IMAGE_TOKEN!r}: the <image> count would not equal the number of images")
    return fiche_id, instruction, context_text


def image_list(record: dict[str, Any]) -> list[Any]:
    images = record.get("images")
    if not isinstance(images, list) or not images:
        raise RecordError("images", f"expected a non-empty list of image paths, got {images!r}")
    return images


def convert_fiches(src: Path, out: Path, *, dataset_dir: Path, name: str,
                   long_side: tuple[int, int] = DEFAULT_LONG_SIDE, data_root: Path | None = None,
                   strict: bool = False, show_progress: bool = False) -> ConvertReport:
    """Convert the fiche JSONL `src` into the sharegpt file `out`, registered as `name` in `dataset_dir`.

    Every image is fitted to the 28-px grid once and saved as PNG in `<out stem>.images/<id>_<k>.png`; the
    records' image paths are relative to `dataset_dir` (LLaMA-Factory's default `media_dir`). Image paths in
    `src` must stay inside `data_root` (default: the folder of `src`). Rejected lines go to
    `<out>.rejects.jsonl` with their reasons; in strict mode any reject raises RejectedInput and nothing is written.
    """
    src, out, dataset_dir = Path(src), Path(out), Path(dataset_dir)
    long_side_band(*long_side)  # an empty band is the caller's error, not every line's
    root = Path(data_root) if data_root is not None else src.parent
    validator = json_schema_validator(load_schema("fiche"))
    images_dir = images_dir_for(out)
    staged = StagedDir(images_dir)
    report = ConvertReport(source=src)
    ids = UniqueIds()

    def convert_one(record: dict[str, Any], line: int) -> dict[str, Any]:
        fiche_id, instruction, context_text = check_text_fields(record)
        ids.check(fiche_id)  # a second one would overwrite the first one's fitted views
        names = image_list(record)
        if record.get("output") is None:
            raise RecordError("output", "is null: a training record needs the gold JSON as its assistant turn "
                                        "(use `fiche predict` on the fiche JSONL for inference)")
        output, substituted = gold_output(record, validator)
        fitted, notes = [], []
        for index, image_name in enumerate(names):
            field = f"images[{index}]"
            path = resolve_inside(root, image_name, field)
            done: list[str] = []
            fitted.append(open_image(path, image_name, field, long_side=long_side, notes=done))
            notes += [f"{src}:{line}: {field} {image_name!r}: {note}" for note in done]
        relative = []
        for index, image in enumerate(fitted):
            file_name = f"{fiche_id}_{index}.png"
            image.save(staged.path / file_name, format="PNG")
            relative.append(relative_posix(images_dir / file_name, dataset_dir))
        ids.claim(fiche_id, line)
        report.notes += notes
        report.substituted += substituted
        return {
            "id": fiche_id,
            "messages": [
                {"role": "user", "content": IMAGE_TOKEN * len(fitted) + user_prompt(instruction, context_text)},
                {"role": "assistant", "content": canonical_text(output)},
            ],
            "images": relative,
        }

    try:
        lines = None
        if show_progress:
            lines = with_progress(list(iter_jsonl(src)), f"fitting views of {src.name}")
        good = judge_lines(src, convert_one, report, lines)
        return finish(report, {name: (out, [item.record for item in good])}, out=out, dataset_dir=dataset_dir,
                      images=True, strict=strict, before_write=staged.publish)
    finally:
        staged.discard()


def validate_fiche_file(path: Path, *, data_root: Path | None = None) -> ConvertReport:
    """Check a fiche JSONL without writing anything: every line parses, ids are unique, every image lies
    inside the data root (default: the file's folder), exists and decodes, and `output`, when not null,
    validates against the fiche schema once `"` and `\\` are written as ″ and ⧵ (as the converter writes them;
    `report.substituted` counts them). The report's rejects list every problem line."""
    path = Path(path)
    root = Path(data_root) if data_root is not None else path.parent
    validator = json_schema_validator(load_schema("fiche"))
    report = ConvertReport(source=path)
    ids = UniqueIds()

    def check_one(record: dict[str, Any], line: int) -> dict[str, Any]:
        fiche_id, _, _ = check_text_fields(record)
        ids.check(fiche_id)
        for index, image_name in enumerate(image_list(record)):
            field = f"images[{index}]"
            open_image(resolve_inside(root, image_name, field), image_name, field)
        report.substituted += gold_output(record, validator)[1]
        ids.claim(fiche_id, line)
        return record

    report.written = len(judge_lines(path, check_one, report))
    report.check_counts()
    return report
