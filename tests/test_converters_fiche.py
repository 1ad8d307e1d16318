"""`convert_fiches` / `fiche convert fiche` / `fiche validate` on the sample fiches."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from converters.fiche import convert_fiches, user_prompt
from fiche_io.images import fit_to_grid
from fiche_schema.canonical import canonical_text
from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.cli import main
from fiche_vlm.cli.convert import convert, validate


def sample_lines() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_FICHES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_user_prompt_is_instruction_blank_line_context() -> None:
    assert user_prompt("Analyse.", "Cotes en mm.") == "Analyse.\n\nCotes en mm."
    assert user_prompt("Analyse.", "") == "Analyse."
    assert user_prompt("Analyse.", "  \n") == "Analyse."


def test_sample_converts_to_training_records(tmp_path: Path) -> None:
    dataset_dir = tmp_path / "ds"
    report = convert_fiches(SAMPLE_FICHES, dataset_dir / "fiches.json", dataset_dir=dataset_dir, name="fiches",
                            long_side=(224, 224), strict=True)
    fiches = sample_lines()
    assert (report.read, report.written, report.rejected) == (len(fiches), len(fiches), 0)
    records = json.loads((dataset_dir / "fiches.json").read_text(encoding="utf-8"))
    for fiche, record in zip(fiches, records, strict=True):
        assert record["id"] == fiche["id"]
        user, assistant = record["messages"]
        assert user == {"role": "user", "content": "<image>" * len(fiche["images"])
                        + user_prompt(fiche["instruction"], fiche["context_text"])}
        assert assistant == {"role": "assistant", "content": canonical_text(fiche["output"])}
        assert len(record["images"]) == len(fiche["images"])
        for source, fitted in zip(fiche["images"], record["images"], strict=True):
            with Image.open(dataset_dir / fitted) as saved, Image.open(SAMPLE_FICHES.parent / source) as original:
                assert max(saved.size) == 224 and saved.size[0] % 28 == 0 and saved.size[1] % 28 == 0
                # the very pixels the client will send (same function), so training and serving agree
                assert list(saved.convert("RGB").getdata()) == list(fit_to_grid(original, (224, 224)).getdata())
    assert (dataset_dir / "fiches.rejects.jsonl").read_text() == ""


def test_training_json_keys_follow_the_schema_order(tmp_path: Path) -> None:
    """xgrammar emits keys in the schema's `properties` order; training text in another order gave 0/8 exact."""
    from fiche_schema import load_schema

    schema = load_schema("fiche")
    convert_fiches(SAMPLE_FICHES, tmp_path / "fiches.json", dataset_dir=tmp_path, name="fiches", long_side=(224, 224),
                   strict=True)
    for record in json.loads((tmp_path / "fiches.json").read_text(encoding="utf-8")):
        pairs = json.loads(record["messages"][1]["content"], object_pairs_hook=list)
        assert [key for key, _ in pairs] == list(schema["properties"])
        dimensions = dict(pairs)["dimensions"]
        assert [key for key, _ in dimensions] == list(schema["properties"]["dimensions"]["properties"])
    instruction = sample_lines()[0]["instruction"]  # the fields it names, in the schema's order
    positions = [instruction.index(key) for key in schema["properties"]]
    assert positions == sorted(positions)


def test_registration_keeps_other_entries_and_uses_relative_paths(tmp_path: Path) -> None:
    dataset_dir = tmp_path / "ds"
    dataset_dir.mkdir()
    other = {"file_name": "other.json", "formatting": "alpaca"}
    (dataset_dir / "dataset_info.json").write_text(json.dumps({"other": other}))
    out = tmp_path / "elsewhere" / "fiches.json"  # output outside dataset_dir
    convert_fiches(SAMPLE_FICHES, out, dataset_dir=dataset_dir, name="fiches", long_side=(224, 224))
    registry = json.loads((dataset_dir / "dataset_info.json").read_text())
    assert registry["other"] == other
    entry = registry["fiches"]
    assert entry["file_name"] == "../elsewhere/fiches.json"
    assert entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "messages", "images": "images"}
    assert entry["tags"]["user_tag"] == "user" and entry["tags"]["assistant_tag"] == "assistant"
    for record in json.loads(out.read_text()):
        for image in record["images"]:
            assert image.startswith("../elsewhere/fiches.images/") and (dataset_dir / image).is_file()


def test_reconversion_replaces_images_and_leaves_no_temp_files(tmp_path: Path) -> None:
    dataset_dir = tmp_path / "ds"
    for band in ((224, 224), (280, 336)):
        convert_fiches(SAMPLE_FICHES, dataset_dir / "fiches.json", dataset_dir=dataset_dir, name="fiches", long_side=band)
    sizes = {Image.open(path).size for path in (dataset_dir / "fiches.images").iterdir()}
    assert all(280 <= max(size) <= 336 for size in sizes)
    assert sorted(path.name for path in dataset_dir.iterdir()) == [
        "dataset_info.json", "fiches.images", "fiches.json", "fiches.rejects.jsonl"]


def test_good_lines_convert_and_bad_lines_are_counted(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_FICHES.parent / "images", tmp_path / "images")
    lines = SAMPLE_FICHES.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[1])
    broken["images"][0] = "images/missing.png"
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join([lines[0], json.dumps(broken), "not json", lines[2]]) + "\n", encoding="utf-8")
    report = convert_fiches(src, tmp_path / "ds" / "m.json", dataset_dir=tmp_path / "ds", name="m",
                            long_side=(224, 224))
    assert (report.read, report.written, report.rejected) == (4, 2, 2)
    assert [reject.line for reject in report.rejects] == [2, 3]
    assert [record["id"] for record in json.loads((tmp_path / "ds" / "m.json").read_text())] == [
        json.loads(lines[0])["id"], json.loads(lines[2])["id"]]


def test_cli_convert_fiche_default_and_strict(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["fiche", str(SAMPLE_FICHES), "--out", str(tmp_path / "ds" / "f.json"), "--dataset-dir", str(tmp_path / "ds"),
            "--name", "fiches", "--long-side", "224", "224", "--strict"]
    result = runner.invoke(main, ["convert", *args])
    assert result.exit_code == 0, result.output
    assert "read 8 lines = written 8 + rejected 0" in result.stdout

    src = tmp_path / "one_bad.jsonl"
    src.write_text(SAMPLE_FICHES.read_text(encoding="utf-8") + "{broken\n", encoding="utf-8")
    shutil.copytree(SAMPLE_FICHES.parent / "images", tmp_path / "images")
    lenient = runner.invoke(convert, ["fiche", str(src), "--out", str(tmp_path / "l" / "f.json"),
                                      "--dataset-dir", str(tmp_path / "l"), "--name", "f", "--long-side", "224", "224"])
    assert lenient.exit_code == 0
    assert f"{src}:9: line: malformed JSON" in lenient.stderr
    assert "read 9 lines = written 8 + rejected 1" in lenient.stdout
    strict = runner.invoke(convert, ["fiche", str(src), "--out", str(tmp_path / "s" / "f.json"),
                                     "--dataset-dir", str(tmp_path / "s"), "--name", "f", "--strict"])
    assert strict.exit_code == 1
    assert "1 of 9 input lines rejected (strict mode, nothing written)" in strict.stderr
    assert not (tmp_path / "s" / "f.json").exists()


def test_cli_validate_accepts_the_sample() -> None:
    result = CliRunner().invoke(validate, [str(SAMPLE_FICHES)])
    assert result.exit_code == 0, result.output
    assert "8 lines, 8 valid, 0 with problems" in result.output


def test_cli_refuses_a_band_holding_no_multiple_of_28(tmp_path: Path) -> None:
    result = CliRunner().invoke(convert, ["fiche", str(SAMPLE_FICHES), "--out", str(tmp_path / "f.json"),
                                          "--dataset-dir", str(tmp_path), "--name", "f", "--long-side", "100", "110"])
    assert result.exit_code == 2  # a usage error, refused before anything is read
    assert "no multiple of 28 px lies in the long-side band 100–110" in result.output
    assert not (tmp_path / "f.json").exists()
