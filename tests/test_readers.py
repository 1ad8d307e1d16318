"""The one reading policy (fiche_io.jsonl) as users meet it in every command: a byte-order mark is accepted, a key
given twice, nesting too deep, bytes that are not UTF-8 and lone surrogates are refused for that line only, with
file:line and the reason, and the run goes on (issue 21, cases 6, 8, 12 and 16)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_converters_bad_input import BAD, good_line, run_converter

from converters.fiche import validate_fiche_file
from eval.loading import InputError as EvalInputError
from eval.loading import load_predictions
from fiche_io.jsonl import MAX_DEPTH, StrictJSONError, iter_jsonl, loads_strict
from fiche_vlm.cli import main
from fiche_vlm.predict import InputError, read_inputs
from postprocess.openscad import predictions_to_scad
from postprocess.repair import repair_predictions

DEEP = (BAD / "reader_nesting_10000_deep.jsonl").read_text(encoding="utf-8").strip()
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
BOM = "\ufeff"


def lines_file(path: Path, lines: list[str], *, bom: bool = False) -> Path:
    path.write_text((BOM if bom else "") + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_policy_itself():
    assert loads_strict('{"a": 1}') == {"a": 1}
    for text, reason in [('{"a": NaN}', "NaN"), ('{"id": "a", "id": "b"}', "key 'id' appears twice"),
                         (DEEP, TOO_DEEP), ('{"a": "\\ud800"}', "lone surrogate \\ud800"),
                         ("[" * 900 + "]" * 900, TOO_DEEP)]:
        with pytest.raises(StrictJSONError, match=reason.replace("\\", "\\\\")):
            loads_strict(text)


def test_a_byte_order_mark_keeps_line_1_in_every_reader(tmp_path: Path):
    good = good_line("fiche")
    src = lines_file(tmp_path / "fiches.jsonl", [good], bom=True)
    (tmp_path / "conv_view.png").write_bytes((BAD / "conv_view.png").read_bytes())
    report = run_converter(src, tmp_path / "out", kind="fiche")
    assert (report.read, report.written, report.rejected) == (1, 1, 0)
    assert validate_fiche_file(src).written == 1
    assert [item.id for item in read_inputs(src)] == ["good-line"]
    predictions = lines_file(tmp_path / "p.jsonl", ['{"id": "good-line", "raw": "{}", "finish_reason": "stop"}'],
                             bom=True)
    assert list(load_predictions(predictions).by_id) == ["good-line"]


def test_a_key_given_twice_is_refused_naming_the_key(tmp_path: Path):
    record = good_line("fiche")
    twice = record.replace('{"id": "good-line"', '{"id": "a", "id": "b"', 1)
    src = lines_file(tmp_path / "conv_fiche_twice.jsonl", [twice, record])
    report = run_converter(src, tmp_path / "out", kind="fiche")
    assert [reject.problem for reject in report.rejects] == ["key 'id' appears twice in one object"]
    assert report.written == 1
    with pytest.raises(InputError, match=r":1: line: key 'id' appears twice"):
        read_inputs(src, BAD)
    with pytest.raises(EvalInputError, match=r"reader_duplicate_key\.jsonl:1: line: key 'id' appears twice"):
        load_predictions(BAD / "reader_duplicate_key.jsonl")


@pytest.mark.parametrize("kind", ["fiche", "qa", "text2cad", "cadquery"])
def test_deep_nesting_is_refused_per_line_and_the_conversion_goes_on(kind: str, tmp_path: Path):
    src = lines_file(tmp_path / f"conv_{kind}_deep.jsonl", [DEEP, good_line(kind)])
    report = run_converter(src, tmp_path / "out")
    assert (report.written, [(reject.line, reject.problem) for reject in report.rejects]) == (1, [(1, TOO_DEEP)])


def test_deep_nesting_never_crashes_validate_predict_scad_or_repair(tmp_path: Path):
    src = lines_file(tmp_path / "fiches.jsonl", [DEEP, good_line("fiche")])
    assert [(reject.line, reject.problem) for reject in validate_fiche_file(src, data_root=BAD).rejects] == \
        [(1, TOO_DEEP)]
    with pytest.raises(InputError, match=f":1: line: {TOO_DEEP}"):
        read_inputs(src, BAD)
    predictions = lines_file(tmp_path / "p.jsonl", [DEEP, '{"id": "b", "raw": "{}", "finish_reason": "stop"}'])
    scad = predictions_to_scad(predictions, tmp_path / "scad")
    assert any(TOO_DEEP in (entry.skipped or "") for entry in scad.entries)
    repaired = repair_predictions(predictions, tmp_path / "r.jsonl", lambda obj: [], lambda obj: obj)
    assert [row["line"] for row in repaired.unreadable] == [1] and TOO_DEEP in repaired.unreadable[0]["reason"]
    assert repaired.read == 2


def test_nesting_900_deep_is_refused_by_cad_check_and_convert_text2cad(tmp_path: Path):
    result = CliRunner().invoke(main, ["cad-check", str(BAD / "reader_nesting_900_deep.json")])
    assert result.exit_code == 1 and f"reader_nesting_900_deep.json:1: {TOO_DEEP}" in result.output
    deep_cad = json.dumps({"id": "deep", "instruction": "Une plaque.", "cad": json.loads(
        (BAD / "reader_nesting_900_deep.json").read_text(encoding="utf-8"))})
    report = run_converter(lines_file(tmp_path / "conv_text2cad_deep.jsonl", [deep_cad, good_line("text2cad")]),
                           tmp_path / "out")
    assert [reject.problem for reject in report.rejects] == [TOO_DEEP] and report.written == 1


def test_bytes_that_are_not_utf8_are_that_line_s_problem(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["extract", str(BAD / "reader_reply_invalid_utf8.txt")])
    assert result.exit_code == 1 and "not valid UTF-8 (byte 0xff at offset 18)" in result.output
    predictions = BAD / "reader_predictions_invalid_utf8.jsonl"
    result = runner.invoke(main, ["repair", str(predictions), "-o", str(tmp_path / "r.jsonl"), "--schema", "none"])
    assert result.exit_code == 0, result.output
    assert f"{predictions}:1: not valid UTF-8" in result.output
    assert [json.loads(line)["id"] for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()] == ["b"]
    scad = predictions_to_scad(predictions, tmp_path / "scad")
    assert any("not valid UTF-8" in (entry.skipped or "") for entry in scad.entries)
    cad = tmp_path / "cad.json"
    cad.write_bytes(b'{"version": "1.0", "units": "mm\xff"}')
    result = runner.invoke(main, ["cad-check", str(cad)])
    assert result.exit_code == 1 and f"{cad}:1: not valid UTF-8" in result.output
    code = tmp_path / "part.py"
    code.write_bytes(b"import cadquery as cq\nresult = cq.Workplane().box(1, 1, 1)  # \xff\n")
    result = runner.invoke(main, ["cadquery-run", str(code), "-o", str(tmp_path / "cq")])
    assert result.exit_code == 1
    assert "not valid UTF-8" in json.loads((tmp_path / "cq" / "results.jsonl").read_text(encoding="utf-8"))["error"]


def test_a_lone_surrogate_is_refused_not_written(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["extract", str(BAD / "reader_reply_lone_surrogate.txt"), "--schema", "none"])
    assert result.exit_code == 1 and "lone surrogate \\ud800" in result.output
    predictions = lines_file(tmp_path / "p.jsonl", [
        json.dumps({"id": "in-the-answer", "raw": '{"object": "\\ud800"}', "finish_reason": "stop"}),
        '{"id": "in-the-line", "raw": "\\ud800", "finish_reason": "stop"}'])
    result = runner.invoke(main, ["repair", str(predictions), "-o", str(tmp_path / "r.jsonl"), "--schema", "none"])
    assert result.exit_code == 0, result.output
    assert f"{predictions}:2: a string holds a lone surrogate" in result.output
    repaired = json.loads((tmp_path / "r.jsonl").read_text(encoding="utf-8"))
    assert repaired["id"] == "in-the-answer" and not repaired["valid"]
    assert "lone surrogate" in repaired["errors"][0]
    assert [line.number for line in iter_jsonl(predictions) if line.error] == [2]


def test_a_jsonl_record_is_always_one_line():
    """U+2028, U+2029 and U+0085 may stand raw in a JSON string, but str.splitlines and editors break lines there."""
    from fiche_io.jsonl import dumps_jsonl

    text = dumps_jsonl([{"raw": "a\u2028b\u2029c\x85d"}, {"raw": "e"}])
    assert text.splitlines() == text.split("\n")[:-1] and len(text.splitlines()) == 2
    assert [json.loads(line)["raw"] for line in text.splitlines()] == ["a\u2028b\u2029c\x85d", "e"]
