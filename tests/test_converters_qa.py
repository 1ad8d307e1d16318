"""Service-manual Q&A → sharegpt multimodal, split by page."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from converters.qa import convert_qa, split_pages
from fiche_io.jsonl import dumps_jsonl
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli.convert import convert
from fiche_vlm.sample_inputs import synthetic_qa_lines, write_synthetic_qa

SAMPLE = PROJECT_ROOT / "data" / "qa" / "manual_qa.jsonl"


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_sample_converts_with_image_first_and_turns_kept(tmp_path: Path) -> None:
    report = convert_qa(SAMPLE, tmp_path / "qa.json", dataset_dir=tmp_path, name="qa", strict=True)
    sources = {json.loads(line)["id"]: json.loads(line) for line in SAMPLE.read_text().splitlines()}
    records = load(tmp_path / "qa_train.json") + load(tmp_path / "qa_val.json")
    assert report.read == report.written == len(sources) == len(records)
    for record in records:
        source = sources[record["id"]]
        turns = source["conversations"]
        assert len(record["messages"]) == len(turns)  # multi-turn kept whole
        assert record["messages"][0]["content"] == "<image>" + turns[0]["content"]
        assert [m["content"] for m in record["messages"][1:]] == [t["content"] for t in turns[1:]]
        assert sum(m["content"].count("<image>") for m in record["messages"]) == len(record["images"]) == 1
        assert record["metadata"] == source["metadata"]
    assert any(len(record["messages"]) > 2 for record in records)
    registry = json.loads((tmp_path / "dataset_info.json").read_text())
    assert registry["qa_train"]["file_name"] == "qa_train.json" and registry["qa_val"]["file_name"] == "qa_val.json"


def test_no_page_lands_in_both_splits(tmp_path: Path) -> None:
    src = write_synthetic_qa(tmp_path / "in", records=600, pages=60)
    report = convert_qa(src, tmp_path / "qa.json", dataset_dir=tmp_path, name="qa", val_ratio=0.2,
                        long_side=None)
    train, val = load(tmp_path / "qa_train.json"), load(tmp_path / "qa_val.json")
    train_pages = {record["metadata"]["page_id"] for record in train}
    val_pages = {record["metadata"]["page_id"] for record in val}
    assert train_pages and val_pages and not train_pages & val_pages
    assert len(train) + len(val) == report.written == 600
    assert 0.1 < len(val_pages) / 60 < 0.35


def test_a_page_keeps_its_side_when_data_grows() -> None:
    small = {f"p{index}" for index in range(50)}
    large = small | {f"p{index}" for index in range(50, 500)}
    assert split_pages(small, 0.1) == split_pages(large, 0.1) & small


def test_two_pages_give_one_val_page_and_one_train_page() -> None:
    assert len(split_pages({"a", "b"}, 0.1)) == 1
    assert len(split_pages({"a", "b"}, 0.99)) == 1
    assert split_pages({"a", "b"}, 0.0) == set()


def test_from_value_turns_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    write_synthetic_qa(tmp_path / "in", records=1, pages=1)
    line = synthetic_qa_lines(1, 1)[0]
    line["conversations"] = [{"from": "human", "value": "Q ?"}, {"from": "gpt", "value": "R."}]
    (tmp_path / "in" / "qa.jsonl").write_text(dumps_jsonl([line]))
    convert_qa(tmp_path / "in" / "qa.jsonl", tmp_path / "qa.json", dataset_dir=tmp_path, name="qa",
               long_side=None, strict=True)
    records = load(tmp_path / "qa_train.json") + load(tmp_path / "qa_val.json")
    assert records[0]["messages"] == [{"role": "user", "content": "<image>Q ?"}, {"role": "assistant", "content": "R."}]


def test_cli_convert_qa(tmp_path: Path) -> None:
    result = CliRunner().invoke(convert, ["qa", str(SAMPLE), "--out", str(tmp_path / "qa.json"),
                                          "--dataset-dir", str(tmp_path), "--name", "manual_qa", "--long-side", "224", "224"])
    assert result.exit_code == 0, result.output
    assert "read 12 lines = written 12 + rejected 0" in result.stdout
    assert "manual_qa_train" in result.stdout and "manual_qa_val" in result.stdout
