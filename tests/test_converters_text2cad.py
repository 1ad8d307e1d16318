"""Text → CAD JSON: system prompt, text-only records, canonical numbers (1e-6, never an exponent), the target
equal to fiche_schema.cad_json.cad_text of the array spelling, invalid CAD rejected with its path in the user's
spelling, CADmium-style annotations accepted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from converters.cad_json import EXPLAIN_SYSTEM_PROMPT, SYSTEM_PROMPT, convert_text2cad
from converters.engine import NothingConverted
from fiche_schema.cad_json import cad_text, validate_cad
from fiche_schema.canonical import dumps_plain, plain_number_text
from fiche_schema.text2cad import to_arrays, to_keyed
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli.convert import convert

SAMPLE = PROJECT_ROOT / "data" / "text2cad" / "text2cad.jsonl"


@pytest.mark.parametrize(("value", "text"), [
    (1e-07, "0"), (-1e-07, "0"), (0.1 + 0.2, "0.3"), (0.05000000000000001, "0.05"), (1.2345678e-05, "0.000012"),
    (1e20, "100000000000000000000"), (-90.0, "-90"), (7, "7"), (0.0, "0"), (-2.5, "-2.5"),
])
def test_number_text(value: float, text: str) -> None:
    assert plain_number_text(value) == text


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_numbers_round_trip_within_a_millionth_and_never_use_exponents(value: float) -> None:
    text = dumps_plain({"x": [value]})
    assert "e" not in text.lower()
    assert abs(json.loads(text)["x"][0] - value) <= 5e-7 + abs(value) * 1e-15


def test_non_finite_number_is_refused() -> None:
    with pytest.raises(ValueError, match=r"inf is not a JSON number"):
        dumps_plain({"a": [1, float("inf")]})


def test_sample_converts_to_text_only_records(tmp_path: Path) -> None:
    report = convert_text2cad(SAMPLE, tmp_path / "t.json", dataset_dir=tmp_path, name="text2cad", strict=True)
    assert (report.read, report.written) == (5, 5)
    sources = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    records = json.loads((tmp_path / "t.json").read_text())
    for source, record in zip(sources, records, strict=True):
        system, user, assistant = record["messages"]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert user == {"role": "user", "content": source["instruction"]}
        assert assistant["role"] == "assistant" and "e-" not in assistant["content"]
        assert assistant["content"] == cad_text(to_arrays(source["cad"]))  # the spelling vLLM can constrain
        assert validate_cad(json.loads(assistant["content"])) == []
        assert cad_text(to_keyed(json.loads(assistant["content"]))) == cad_text(source["cad"])  # nothing lost
        assert "images" not in record
    holed = json.loads(records[1]["messages"][2]["content"])["parts"][0]
    assert holed["coordinate_system"]["Translation Vector"] == [0, 0, 0]  # 1e-07 rounded away
    assert holed["sketch"][0][1] == [{"Center": [0.375, 0.375], "Radius": 0.15}]  # 0.1 + 0.2 - 0.15
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["text2cad"]
    assert entry["columns"] == {"messages": "messages"} and entry["tags"]["system_tag"] == "system"


def test_cli_convert_text2cad(tmp_path: Path) -> None:
    result = CliRunner().invoke(convert, ["text2cad", str(SAMPLE), "--out", str(tmp_path / "t.json"),
                                          "--dataset-dir", str(tmp_path), "--name", "text2cad"])
    assert result.exit_code == 0, result.output
    assert "read 5 lines = written 5 + rejected 0" in result.stdout


def test_a_target_that_fails_the_cad_checks_is_rejected_with_its_path(tmp_path: Path) -> None:
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    first["cad"]["parts"]["part_1"]["extrusion"]["operation"] = "CutFeatureOperation"  # nothing to cut yet
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(first) + "\n")
    with pytest.raises(NothingConverted) as raised:
        convert_text2cad(src, tmp_path / "t.json", dataset_dir=tmp_path, name="t")
    report = raised.value.report
    assert (report.read, report.written, report.rejected) == (1, 0, 1)
    reject = report.rejects[0]
    assert reject.field == "cad.parts.part_1.extrusion.operation" and "a cut needs a body" in reject.problem


def test_explain_direction_writes_the_reverse_pairs_under_their_own_name(tmp_path: Path) -> None:
    forward = convert_text2cad(SAMPLE, tmp_path / "t.json", dataset_dir=tmp_path, name="text2cad", strict=True)
    report = convert_text2cad(SAMPLE, tmp_path / "t.json", dataset_dir=tmp_path, name="text2cad",
                              direction="explain", strict=True)
    assert (report.read, report.written) == (5, 5)
    assert report.outputs == {"text2cad_explain": tmp_path / "t_explain.json"}
    generate = json.loads((tmp_path / "t.json").read_text())  # the forward dataset is left as it was
    explain = json.loads((tmp_path / "t_explain.json").read_text())
    for there, back in zip(generate, explain, strict=True):
        system, user, assistant = back["messages"]
        assert back["id"] == there["id"]
        assert system == {"role": "system", "content": EXPLAIN_SYSTEM_PROMPT}
        assert user == {"role": "user", "content": there["messages"][2]["content"]}  # the canonical CAD text
        assert assistant == {"role": "assistant", "content": there["messages"][1]["content"]}  # the instruction
    registry = json.loads((tmp_path / "dataset_info.json").read_text())
    assert registry["text2cad"]["file_name"] == "t.json" and registry["text2cad_explain"]["file_name"] == "t_explain.json"
    assert forward.rejects_path != report.rejects_path and report.rejects_path.exists()


def test_cli_convert_text2cad_explain(tmp_path: Path) -> None:
    result = CliRunner().invoke(convert, ["text2cad", str(SAMPLE), "--out", str(tmp_path / "t.json"),
                                          "--dataset-dir", str(tmp_path), "--name", "text2cad",
                                          "--direction", "explain"])
    assert result.exit_code == 0, result.output
    assert "read 5 lines = written 5 + rejected 0 (text2cad_explain: 5" in result.stdout
    assert not (tmp_path / "t.json").exists()


def test_explain_refuses_cad_text_that_llamafactory_would_read_as_an_image(tmp_path: Path) -> None:
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    first["cad"]["parts"]["part_1"]["description"] = {"name": "plate <image>", "shape": "plate", "length": 0.75,
                                                   "width": 0.5, "height": 0.0375}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(first) + "\n")
    with pytest.raises(NothingConverted) as refused:  # its only line: nothing written
        convert_text2cad(src, tmp_path / "t.json", dataset_dir=tmp_path, name="t", direction="explain")
    report = refused.value.report
    assert (report.read, report.written, report.rejected) == (1, 0, 1)
    assert report.rejects[0].field == "cad" and "image slot" in report.rejects[0].problem


def test_cadmium_style_annotations_convert_with_their_quotes_substituted(tmp_path: Path) -> None:
    """CADmium's descriptions have a shape and sizes but no name, and final_shape may be empty."""
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    first["cad"]["final_shape"] = ""
    first["cad"]["parts"]["part_1"]["description"] = {"shape": 'A 3" plate', "length": 0.75, "width": 0.5,
                                                      "height": 0.0375}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(first) + "\n")
    report = convert_text2cad(src, tmp_path / "t.json", dataset_dir=tmp_path, name="t", strict=True)
    assert (report.written, report.substituted) == (1, 1)
    target = json.loads(json.loads((tmp_path / "t.json").read_text())[0]["messages"][2]["content"])
    assert target["final_shape"] == "" and target["parts"][0]["description"]["shape"] == "A 3″ plate"
    assert validate_cad(target) == []


def test_a_keyed_text_the_answer_spelling_refuses_is_rejected_with_its_keyed_path(tmp_path: Path) -> None:
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    first["cad"]["parts"]["part_1"]["description"] = {"shape": "plate\u0007", "length": 1, "width": 1, "height": 1}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(first) + "\n")
    with pytest.raises(NothingConverted) as refused:  # its only line: nothing written
        convert_text2cad(src, tmp_path / "t.json", dataset_dir=tmp_path, name="t")
    report = refused.value.report
    assert (report.written, report.rejected) == (0, 1)
    reject = report.rejects[0]
    assert reject.field == "cad.parts.part_1.description.shape" and "U+0007" in reject.problem
