"""The postprocess commands of the `fiche` CLI, run through click's CliRunner."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fiche_vlm.cli import main

DATA = Path(__file__).parent / "data"


def first_sample(sample_fiches: Path) -> tuple[str, dict]:
    line = json.loads(sample_fiches.read_text(encoding="utf-8").splitlines()[0])
    return line["id"], line["output"]


def test_extract_prints_canonical_json_and_lists_repairs(sample_fiches, tmp_path):
    _, fiche = first_sample(sample_fiches)
    reply = tmp_path / "reply.txt"
    reply.write_text(f"Voici :\n```json\n{json.dumps(fiche, indent=2)}\n```", encoding="utf-8")
    result = CliRunner().invoke(main, ["extract", str(reply)])
    assert result.exit_code == 0, result.output
    from fiche_schema.canonical import canonical_text

    assert result.stdout.strip() == canonical_text(fiche)
    assert "repair: took the object from the code fence on line 2" in result.stderr


def test_extract_fails_with_the_typed_error():
    result = CliRunner().invoke(main, ["extract", str(DATA / "bad" / "post_reply_duplicate_key.txt")])
    assert result.exit_code == 1
    assert "duplicate_key at line 1, column 21: key 'object' appears twice" in result.stderr


def test_extract_reports_schema_errors_from_stdin():
    result = CliRunner().invoke(main, ["extract", "-"], input='{"object": "Pompe"}')
    assert result.exit_code == 1 and "$: 'function' is a required property" in result.stderr


def test_repair_rereads_raw_answers(sample_fiches, tmp_path):
    name, fiche = first_sample(sample_fiches)
    text = json.dumps(fiche)
    lines = [
        {"id": name, "raw": text.replace('"object"', "'object'"), "json": None, "valid": False, "errors": ["x"],
         "finish_reason": "stop"},
        {"id": "cut", "raw": text[:40], "json": None, "valid": False, "errors": [], "finish_reason": "length"},
    ]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines) + "[1]\n", encoding="utf-8")
    out = tmp_path / "repaired.jsonl"
    result = CliRunner().invoke(main, ["repair", str(predictions), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 read: 1 valid, 1 invalid (2 repaired, 1 unreadable lines)" in result.output
    first, second = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert first["valid"] and first["json"] == fiche and "single-quoted" in first["repairs"][0]
    assert not second["valid"] and second["errors"][0].startswith("finish_reason=length: the answer was cut")
    rejects = [json.loads(line) for line in out.with_suffix(".rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["line"] == 3 and "expected a JSON object, got list" in rejects[0]["reason"]


def test_cad_check_writes_canonical_mm_documents(tmp_path):
    result = CliRunner().invoke(main, ["cad-check", str(DATA / "post_cad_plate.json"), "--mm", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "post_cad_plate.json").read_text(encoding="utf-8"))
    assert written["units"] == "mm" and written["source"]["units"] == "in"


def test_cad_check_needs_a_unit_to_normalise_text2cad(tmp_path):
    bracket = DATA / "post_cad_t2c_bracket.json"
    refused = CliRunner().invoke(main, ["cad-check", str(bracket), "--mm", "--out", str(tmp_path)])
    assert refused.exit_code == 1
    assert f"{bracket}:1: $.units: the document declares no length unit" in refused.stdout
    assert not (tmp_path / "post_cad_t2c_bracket.json").exists()

    given = CliRunner().invoke(main, ["cad-check", str(bracket), "--mm", "--unit", "cm", "--out", str(tmp_path)])
    assert given.exit_code == 0, given.output
    written = json.loads((tmp_path / "post_cad_t2c_bracket.json").read_text(encoding="utf-8"))
    assert written["units"] == "mm"


def test_cad_check_lists_problems_with_file_and_path():
    bad = DATA / "bad"
    result = CliRunner().invoke(main, ["cad-check", str(bad / "post_cad_unknown_sketch.json"),
                                       str(bad / "post_cad_scientific_notation.json")])
    assert result.exit_code == 1
    unknown = bad / "post_cad_unknown_sketch.json"
    assert f"{unknown}:1: $.operations[1].sketch: 's9' names no earlier sketch" in result.stdout
    assert "$: number 5e-01 uses scientific notation" in result.stdout
    assert "2 document(s) checked, 2 with problems" in result.stderr


@pytest.mark.skipif(shutil.which("openscad") is None, reason="openscad is not installed")
def test_scad_command_writes_and_renders(sample_fiches, tmp_path):
    name, fiche = first_sample(sample_fiches)
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps({"id": name, "raw": "", "json": fiche, "valid": True, "errors": []}) + "\n"
                           + json.dumps({"id": "none", "raw": "", "json": None, "valid": False, "errors": []}) + "\n")
    result = CliRunner().invoke(main, ["scad", str(predictions), "--out", str(tmp_path / "scad"), "--render", "stl"])
    assert result.exit_code == 0, result.output
    assert ("2 line(s): 1 .scad written (cube 1, cylinder 0, tube 0; unsure 0), 1 skipped, 1 render(s) ok, 0 failed"
            in result.stdout)
    assert (tmp_path / "scad" / f"{name}.stl").stat().st_size > 0


def test_cadquery_run_reports_each_file(tmp_path):
    good = tmp_path / "syntax.py"
    good.write_text("result = (\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["cadquery-run", str(good), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    line = json.loads((tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8"))
    assert (line["syntax_ok"], line["ran"], line["solid"]) == (False, False, False)
    assert "1 file(s): 0 solid(s)" in result.stdout


def test_help_lists_the_postprocess_commands():
    result = CliRunner().invoke(main, ["--help"])
    for command in ("extract", "repair", "cad-check", "scad", "cadquery-run"):
        assert command in result.output


BAD = DATA / "bad"


def test_repair_lists_every_unreadable_line_and_keeps_it_as_it_was(tmp_path):
    src = BAD / "post_repair_unreadable_lines.jsonl"
    out = tmp_path / "repaired.jsonl"
    result = CliRunner().invoke(main, ["repair", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{src}:2: malformed JSON (Expecting value" in result.stderr
    assert f"{src}:3: expected a JSON object, got list" in result.stderr
    assert "3 read: 1 valid, 0 invalid (0 repaired, 2 unreadable lines)" in result.stdout
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["good"]
    rejects = [json.loads(line) for line in out.with_suffix(".rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    raw_lines = src.read_text(encoding="utf-8").splitlines()
    assert [(row["line"], row["raw"]) for row in rejects] == [(2, raw_lines[1]), (3, raw_lines[2])]


def test_repair_with_no_readable_line_fails_and_keeps_the_earlier_output(tmp_path):
    out = tmp_path / "repaired.jsonl"
    out.write_text("earlier\n")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    for src in (BAD / "empty_file.jsonl", garbage):
        result = CliRunner().invoke(main, ["repair", str(src), "--out", str(out)])
        assert result.exit_code == 1 and "nothing written" in result.stderr
        assert out.read_text() == "earlier\n" and not out.with_suffix(".rejects.jsonl").exists()


def test_repair_counts_an_unfinished_answer_invalid_as_predict_does(tmp_path):
    out = tmp_path / "repaired.jsonl"
    src = BAD / "post_repair_finish_reason_not_stop.jsonl"
    result = CliRunner().invoke(main, ["repair", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    filtered, unanswered = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert not filtered["valid"] and filtered["json"] is None
    assert filtered["errors"] == ["finish_reason=content_filter: the answer did not end normally"]
    assert not unanswered["valid"] and unanswered["errors"] == ["finish_reason=null: the answer did not end normally"]


def test_repair_names_a_raw_answer_that_is_not_text(tmp_path):
    out = tmp_path / "repaired.jsonl"
    CliRunner().invoke(main, ["repair", str(BAD / "post_repair_raw_not_text.jsonl"), "--out", str(out)])
    number, listed = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert number["errors"] == ["raw: expected the reply text (a string), got a number"]
    assert listed["errors"] == ["raw: expected the reply text (a string), got a list"]


@pytest.mark.parametrize("name", ["cad_empty_file.json", "empty_file.jsonl"])
def test_cad_check_refuses_an_empty_file(name):
    result = CliRunner().invoke(main, ["cad-check", str(BAD / name)])
    assert result.exit_code == 1
    assert f"{BAD / name}: empty file: it holds no CAD document" in result.stdout
