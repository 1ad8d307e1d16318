"""Each bad input under tests/data/bad/conv_* is rejected with a message naming file, line and field; the
rejected line is kept verbatim in the rejects file; counts add up; strict mode writes nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from converters.cad_json import convert_text2cad
from converters.cadquery import convert_cadquery
from converters.engine import NothingConverted
from converters.fiche import convert_fiches
from converters.pdf_ocr import convert_pdfs
from converters.qa import convert_qa
from converters.report import RejectedInput
from fiche_vlm.cli.convert import convert, validate

BAD = Path(__file__).parent / "data" / "bad"
DATA = Path(__file__).parents[1] / "data"
SUPPORT_FILES = {"conv_view.png", "conv_fiche_corrupt_image.png"}  # referenced by the cases, not cases

# file → (line, field, words the problem must contain)
CASES: dict[str, tuple[int, str, str]] = {
    "conv_fiche_malformed_json.jsonl": (1, "line", "malformed JSON"),
    "conv_fiche_not_an_object.jsonl": (1, "line", "expected a JSON object, got list"),
    "conv_fiche_nan_number.jsonl": (1, "line", "non-standard JSON constant NaN"),
    "conv_fiche_invalid_utf8.jsonl": (1, "line", "not valid UTF-8"),
    "conv_fiche_missing_image.jsonl": (1, "images[1]", "image not found: 'views/absent_b.png'"),
    "conv_fiche_corrupt_image.jsonl": (1, "images[0]", "cannot read 'conv_fiche_corrupt_image.png' as an image"),
    "conv_fiche_image_escapes_root.jsonl": (1, "images[0]", "escapes the data root"),
    "conv_fiche_absolute_image_outside_root.jsonl": (1, "images[0]", "path '/etc/passwd' escapes the data root"),
    "conv_fiche_no_images.jsonl": (1, "images", "expected a non-empty list of image paths"),
    "conv_fiche_output_null.jsonl": (1, "output", "is null: a training record needs the gold JSON"),
    "conv_fiche_output_schema_invalid.jsonl": (1, "output.dimensions.H", "-5 is less than or equal to the minimum of 0"),
    "conv_fiche_paragraph_over_limit.jsonl": (1, "output.working_principle",
                                              "is 1001 characters long; the limit is 1000"),
    "conv_fiche_image_token_in_text.jsonl": (1, "context_text", "contains '<image>'"),
    "conv_fiche_id_with_slash.jsonl": (1, "id", "cannot name a file"),
    "conv_fiche_id_too_long.jsonl": (1, "id", "260 bytes long in UTF-8 (260 characters), more than the 200"),
    "conv_fiche_duplicate_id.jsonl": (2, "id", "duplicate id 'f-1' (first on line 1)"),
    "conv_fiche_missing_instruction.jsonl": (1, "instruction", "expected a non-empty string"),
    "conv_qa_missing_page_id.jsonl": (1, "metadata.page_id", "expected a non-empty string or integer, got None"),
    "conv_qa_turns_not_alternating.jsonl": (1, "conversations[1].role", "expected 'assistant' here"),
    "conv_qa_ends_on_user_turn.jsonl": (1, "conversations[2]", "the last turn must be the assistant's answer"),
    "conv_qa_unknown_role.jsonl": (1, "conversations[0].role", "unknown role 'technician'"),
    "conv_qa_empty_answer.jsonl": (1, "conversations[1].content", "expected non-empty text"),
    "conv_qa_image_token_in_question.jsonl": (1, "conversations[0].content", "the converter places the single image"),
    "conv_qa_image_escapes_root.jsonl": (1, "image", "path '../conv_view.png' escapes the data root"),
    "conv_text2cad_cad_not_object.jsonl": (1, "cad", "expected a non-empty JSON object"),
    "conv_text2cad_missing_instruction.jsonl": (1, "instruction", "expected non-empty text, got None"),
    "conv_text2cad_infinite_number.jsonl": (1, "line", "non-standard JSON constant Infinity"),
    "conv_text2cad_scale_rounds_to_zero.jsonl": (1, "cad.parts.part_1.extrusion.sketch_scale",
                                                 "(the input gives 1e-09, which rounds to 0 at 1e-6)"),
    "conv_cadquery_code_syntax_error.jsonl": (1, "cadquery", "not valid Python: SyntaxError: '(' was never closed (line 2)"),
    "conv_cadquery_code_nested_100000_unary_minus.jsonl": (1, "cadquery", "nested too deeply for Python's parser"),
    "conv_cadquery_missing_code.jsonl": (1, "cadquery", "expected non-empty text, got None"),
}


def run_converter(src: Path, out_dir: Path, *, strict: bool = False, kind: str | None = None):
    kind = kind or src.name.split("_")[1]
    common = {"dataset_dir": out_dir, "name": "bad", "strict": strict}
    if kind == "fiche":
        return convert_fiches(src, out_dir / "bad.json", long_side=(224, 224), data_root=BAD, **common)
    if kind == "qa":
        return convert_qa(src, out_dir / "bad.json", long_side=(224, 224), data_root=BAD, **common)
    if kind == "text2cad":
        return convert_text2cad(src, out_dir / "bad.json", **common)
    if kind == "cadquery":
        return convert_cadquery(src, out_dir / "bad.json", long_side=(224, 224), data_root=BAD, **common)
    raise AssertionError(f"no converter for {src.name}")


def good_line(kind: str) -> str:
    """The first line of the sample input of `kind`, its image replaced by one under BAD (the data root)."""
    sample = {"fiche": "fiches.jsonl", "qa": "qa/manual_qa.jsonl", "text2cad": "text2cad/text2cad.jsonl",
              "cadquery": "cadquery/cadquery.jsonl"}[kind]
    record = json.loads((DATA / sample).read_text(encoding="utf-8").splitlines()[0])
    record["id"] = "good-line"
    if "images" in record:
        record["images"] = ["conv_view.png"]
    if "image" in record:
        record["image"] = "conv_view.png"
    return json.dumps(record, ensure_ascii=False)


def with_good_line(name: str, folder: Path) -> Path:
    """A copy of the bad case with one good line after it, so the run writes a dataset and its rejects."""
    text = (BAD / name).read_bytes()
    copy = folder / name
    copy.write_bytes(text + (b"" if text.endswith(b"\n") else b"\n") + good_line(name.split("_")[1]).encode() + b"\n")
    return copy


def test_every_bad_file_is_a_checked_case() -> None:
    files = {path.name for path in BAD.glob("conv_*")} - SUPPORT_FILES - {"conv_pdf_damaged.pdf"}
    assert files == set(CASES)
    assert len(CASES) + 1 >= 15


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_line_is_rejected_with_its_reason(name: str, tmp_path: Path) -> None:
    line, field, problem = CASES[name]
    src = with_good_line(name, tmp_path)
    report = run_converter(src, tmp_path / "out")
    assert report.read == report.written + report.rejected
    assert (report.written, report.rejected) == (len((BAD / name).read_bytes().splitlines()), 1)
    reject = report.rejects[0]
    assert reject.message.startswith(f"{src}:{line}: {field}: ")
    assert problem in reject.problem
    saved = [json.loads(row) for row in report.rejects_path.read_text(encoding="utf-8").splitlines()]
    assert [(row["line"], row["field"]) for row in saved] == [(line, field)]
    raw_lines = src.read_bytes().decode("utf-8", "replace").splitlines()
    assert saved[0]["raw"] == raw_lines[line - 1]  # the input line itself, nothing lost


@pytest.mark.parametrize("name", sorted(set(CASES) - {"conv_fiche_duplicate_id.jsonl"}))  # its line 1 is good
def test_a_run_that_converts_nothing_fails_and_names_every_reject(name: str, tmp_path: Path) -> None:
    with pytest.raises(NothingConverted) as raised:
        run_converter(BAD / name, tmp_path)
    assert f"{BAD / name}:{CASES[name][0]}: {CASES[name][1]}: " in str(raised.value)
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_strict_mode_refuses_and_writes_nothing(name: str, tmp_path: Path) -> None:
    with pytest.raises(RejectedInput) as raised:
        run_converter(BAD / name, tmp_path / "out", strict=True)
    assert f"{BAD / name}:{CASES[name][0]}: {CASES[name][1]}: " in str(raised.value)
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("name", [name for name in sorted(CASES) if name.startswith("conv_fiche")
                                  and name not in {"conv_fiche_output_null.jsonl"}])
def test_validate_reports_the_same_problem(name: str) -> None:
    line, field, problem = CASES[name]
    result = CliRunner().invoke(validate, [str(BAD / name)])
    assert result.exit_code == 1
    assert f"{BAD / name}:{line}: {field}: " in result.output and problem in result.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("kind", ["fiche", "qa", "text2cad", "cadquery"])
def test_empty_input_keeps_the_previous_dataset_its_images_and_registration(kind: str, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(good_line(kind) + "\n", encoding="utf-8")
    out = tmp_path / "ds"
    options = ["--out", str(out / "d.json"), "--dataset-dir", str(out), "--name", "d"]
    if kind != "text2cad":
        options += ["--data-root", str(BAD)]
    assert CliRunner().invoke(convert, [kind, str(good), *options]).exit_code == 0
    before = snapshot(out)
    assert "dataset_info.json" in before and (kind == "text2cad" or (out / "d.images").is_dir())
    result = CliRunner().invoke(convert, [kind, str(BAD / "empty_file.jsonl"), *options])
    assert result.exit_code == 1
    assert "nothing converted" in result.output and "earlier outputs kept" in result.output
    assert snapshot(out) == before


def test_views_run_that_converts_nothing_keeps_the_previous_output(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "pump_a.png").write_bytes((BAD / "conv_view.png").read_bytes())
    out = tmp_path / "out"
    assert CliRunner().invoke(convert, ["views", str(photos), "--out", str(out / "f.jsonl")]).exit_code == 0
    before = snapshot(out)
    (photos / "pump_a.png").write_bytes((BAD / "conv_fiche_corrupt_image.png").read_bytes())
    result = CliRunner().invoke(convert, ["views", str(photos), "--out", str(out / "f.jsonl")])
    assert result.exit_code == 1 and "cannot read 'pump_a.png' as an image" in result.output
    assert snapshot(out) == before


def test_damaged_pdf_is_rejected_and_the_previous_output_kept(tmp_path: Path) -> None:
    (tmp_path / "f.jsonl").write_text("earlier\n")
    with pytest.raises(NothingConverted) as raised:
        convert_pdfs(BAD / "conv_pdf_damaged.pdf", tmp_path / "f.jsonl", ocr=False)
    report = raised.value.report
    assert (report.read, report.written, report.rejected) == (1, 0, 1)
    assert report.rejects[0].message.startswith(f"{BAD / 'conv_pdf_damaged.pdf'}: pdf: poppler cannot read it")
    assert (tmp_path / "f.jsonl").read_text() == "earlier\n"
