"""Refusals every `fiche` command shares (issue 21): an output that is an input file, numeric options out of
range, and file names that would break a `file:line` message."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fiche_io.files import OutputIsInput, refuse_output_over_input
from fiche_io.locations import location, printable
from fiche_vlm.cli import main

ROOT = Path(__file__).parents[1]
BAD = Path(__file__).parent / "data" / "bad"


def _fiche(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "fiches.jsonl"
    shutil.copy(ROOT / "data" / "fiches.jsonl", src)
    (tmp / "link.jsonl").symlink_to(src)  # another spelling of the same file
    return src, ["convert", "fiche", str(src), "--out", str(tmp / "link.jsonl"), "--name", "f",
                 "--dataset-dir", str(tmp), "--data-root", str(ROOT / "data")]


def _qa(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "qa_train.json"  # --out qa.json writes qa_train.json
    shutil.copy(ROOT / "data" / "qa" / "manual_qa.jsonl", src)
    return src, ["convert", "qa", str(src), "--out", str(tmp / "qa.json"), "--name", "q", "--dataset-dir", str(tmp),
                 "--data-root", str(ROOT / "data" / "qa")]


def _text2cad(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "t.jsonl"
    shutil.copy(ROOT / "data" / "text2cad" / "text2cad.jsonl", src)
    return src, ["convert", "text2cad", str(src), "--out", str(tmp / "." / "t.jsonl"), "--name", "t",
                 "--dataset-dir", str(tmp)]


def _views(tmp: Path) -> tuple[Path, list[str]]:
    (tmp / "photos").mkdir()
    src = tmp / "photos" / "pump_a.png"
    shutil.copy(BAD / "conv_view.png", src)
    return src, ["convert", "views", str(tmp / "photos"), "--out", str(src)]


def _repair(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "p.jsonl"
    shutil.copy(BAD / "post_repair_raw_not_text.jsonl", src)
    (tmp / "sub").mkdir()
    return src, ["repair", str(src), "--out", str(tmp / "sub" / ".." / "p.jsonl")]


def _cad_check(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "plate.json"
    shutil.copy(Path(__file__).parent / "data" / "post_cad_plate.json", src)
    return src, ["cad-check", str(src), "--out", str(tmp)]


def _scad(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "index.json"
    shutil.copy(BAD / "post_repair_raw_not_text.jsonl", src)
    return src, ["scad", str(src), "--out", str(tmp), "--render", "none"]


def _predict(tmp: Path) -> tuple[Path, list[str]]:
    src, _ = _fiche(tmp)
    return src, ["predict", str(src), "--out", str(tmp / "link.jsonl"), "--base-url", "http://127.0.0.1:9/v1"]


def _eval(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "predictions.jsonl"  # the valset where eval appends its answers
    shutil.copy(ROOT / "data" / "fiches.jsonl", src)
    return src, ["eval", str(src), "--out", str(tmp), "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]


def _score(tmp: Path) -> tuple[Path, list[str]]:
    src = tmp / "metrics.json"  # an earlier report's metrics.json given as the gold
    shutil.copy(ROOT / "data" / "fiches.jsonl", src)
    return src, ["score", str(BAD / "eval_predictions_dimensions_out_of_range.jsonl"), "--gold", str(src),
                 "--out", str(tmp)]


@pytest.mark.parametrize("setup", [_fiche, _qa, _text2cad, _views, _repair, _cad_check, _scad, _predict, _eval, _score],
                         ids=lambda setup: setup.__name__.strip("_"))
def test_an_output_that_is_an_input_file_is_refused(tmp_path, setup):
    src, arguments = setup(tmp_path)
    before = src.read_bytes()
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code in (1, 2), result.output
    assert "output is an input file" in result.output and "refusing to overwrite it" in result.output
    assert src.read_bytes() == before


def test_the_same_file_is_found_through_hard_links_and_nothing_else_is(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("{}\n")
    (tmp_path / "hard.jsonl").hardlink_to(src)
    with pytest.raises(OutputIsInput, match="the same file as input"):
        refuse_output_over_input([tmp_path / "hard.jsonl"], [src])
    (tmp_path / "copy.jsonl").write_text("{}\n")
    refuse_output_over_input([tmp_path / "copy.jsonl", tmp_path / "absent.jsonl"], [src])


@pytest.mark.parametrize("arguments, message", [
    (["predict", "IN", "--out", "o.jsonl", "--timeout", "-1"], "'--timeout': -1.0 is not in the range x>0"),
    (["predict", "IN", "--out", "o.jsonl", "--timeout", "nan"], "'--timeout': 'nan' is not a finite number"),
    (["scad", "IN", "--out", "o", "--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    (["cadquery-run", "IN", "--out", "o", "--timeout", "inf"], "'--timeout': 'inf' is not a finite number"),
    (["cadquery-run", "IN", "--out", "o", "--memory-mb", "0"], "'--memory-mb': 0 is not in the range x>=256"),
    (["convert", "pdf", "IN", "--out", "o.jsonl", "--dpi", "0"], "'--dpi': 0 is not in the range x>=1"),
    (["convert", "qa", "IN", "--out", "o.json", "--name", "q", "--val-ratio", "1"],
     "'--val-ratio': 1.0 is not in the range 0<=x<1"),
])
def test_numeric_options_are_validated_when_the_command_line_is_parsed(tmp_path, arguments, message):
    src = tmp_path / "in.jsonl"
    src.write_text("{}\n")
    result = CliRunner().invoke(main, [str(src) if argument == "IN" else argument for argument in arguments])
    assert result.exit_code == 2 and message in result.output


def test_a_file_name_with_a_newline_stays_on_its_own_line(tmp_path):
    src = tmp_path / "fiches\nof 2026.jsonl"
    src.write_bytes((BAD / "conv_fiche_missing_instruction.jsonl").read_bytes())
    result = CliRunner().invoke(main, ["validate", str(src), "--data-root", str(BAD)])
    assert result.exit_code == 1
    shown = str(tmp_path / "fiches\\nof 2026.jsonl")
    assert result.output.splitlines() == [f"{shown}:1: instruction: expected a non-empty string, got ''",
                                          f"{shown}: 1 lines, 0 valid, 1 with problems"]


def test_printable_escapes_controls_and_keeps_letters():
    assert printable("pièce «1»\t⌀ 12") == "pièce «1»\\t⌀ 12"
    assert printable("a\\nb\x1b[2J\u202e\udcff") == "a\\\\nb\\x1b[2J\\u202e\\udcff"
    assert location(Path("d/x\ny.jsonl"), 3) == "d/x\\ny.jsonl:3" and location("plain.jsonl") == "plain.jsonl"
    json.dumps(printable("\udcff"))  # a lone surrogate no longer reaches a terminal or a JSON writer
