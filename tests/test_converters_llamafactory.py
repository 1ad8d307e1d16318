"""Every converter's output loads with LLaMA-Factory's own loader and the qwen2_vl template on the tiny model:
all examples kept, no warning (invalid role/count, dropped example, missing media), and each image seen at
exactly the fitted size (its number of <|image_pad|> tokens is the 28-px grid's cell count)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from converters.cad_json import convert_text2cad
from converters.cadquery import convert_cadquery
from converters.fiche import convert_fiches
from converters.qa import convert_qa
from fiche_vlm import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"
TINY_BAND = (224, 224)


class WarningLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_with_llamafactory(model_dir: Path, dataset_dir: Path, name: str, tmp_path: Path):
    """(tokenized train dataset, tokenizer, warnings logged by llamafactory while loading it)."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, *_ = get_train_args({
        "model_name_or_path": str(model_dir), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "dataset": name, "dataset_dir": str(dataset_dir), "template": "qwen2_vl", "cutoff_len": 4096,
        "output_dir": str(tmp_path / "lf-out"), "overwrite_cache": True, "report_to": "none",
        "image_max_pixels": 224 * 224,
    })
    log = WarningLog()
    logger = logging.getLogger("llamafactory")  # its handlers do not propagate to the root logger
    logger.addHandler(log)
    try:
        tokenizer_module = load_tokenizer(model_args)
        template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
        module = get_dataset(template, model_args, data_args, training_args, "sft", **tokenizer_module)
    finally:
        logger.removeHandler(log)
    return module["train_dataset"], tokenizer_module["tokenizer"], log.messages


def expected_pad_tokens(record: dict, dataset_dir: Path) -> int:
    total = 0
    for image in record.get("images", []):
        with Image.open(dataset_dir / image) as opened:
            width, height = opened.size
        total += (width // 28) * (height // 28)  # one token per 28×28 cell after the 2×2 merge of 14-px patches
    return total


def check_loads(model_dir: Path, dataset_dir: Path, name: str, tmp_path: Path) -> None:
    entry = json.loads((dataset_dir / "dataset_info.json").read_text())[name]
    records = json.loads((dataset_dir / entry["file_name"]).read_text())
    assert records, f"{name} is empty"
    dataset, tokenizer, warnings = load_with_llamafactory(model_dir, dataset_dir, name, tmp_path)
    assert warnings == []
    assert len(dataset) == len(records)
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for row, record in zip(dataset["input_ids"], records, strict=True):
        assert row.count(pad) == expected_pad_tokens(record, dataset_dir)
    for row in dataset["labels"]:
        assert any(label != -100 for label in row)  # the assistant turn is trained on


def test_fiche_output_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    convert_fiches(DATA / "fiches.jsonl", tmp_path / "ds" / "fiches.json", dataset_dir=tmp_path / "ds",
                   name="fiches", long_side=TINY_BAND, strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", "fiches", tmp_path)


def test_realistic_french_fiche_output_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The French fiche with ’ « » ≤ ⌀ N·m, 1/2" threads (written ″), a Windows path and a 1,000-character
    paragraph trains: its converted record loads with nothing dropped."""
    convert_fiches(Path(__file__).parent / "data" / "fiche_verin_fr.jsonl", tmp_path / "ds" / "verin.json",
                   dataset_dir=tmp_path / "ds", name="verin", long_side=TINY_BAND, data_root=DATA.parent, strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", "verin", tmp_path)


@pytest.mark.parametrize("split", ["train", "val"])
def test_qa_output_loads(tiny_model_dir: Path, tmp_path: Path, split: str) -> None:
    convert_qa(DATA / "qa" / "manual_qa.jsonl", tmp_path / "ds" / "manual_qa.json", dataset_dir=tmp_path / "ds",
               name="manual_qa", long_side=TINY_BAND, strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", f"manual_qa_{split}", tmp_path)


def test_text2cad_output_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    convert_text2cad(DATA / "text2cad" / "text2cad.jsonl", tmp_path / "ds" / "text2cad.json",
                     dataset_dir=tmp_path / "ds", name="text2cad", strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", "text2cad", tmp_path)


def test_text2cad_explain_output_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    convert_text2cad(DATA / "text2cad" / "text2cad.jsonl", tmp_path / "ds" / "text2cad.json",
                     dataset_dir=tmp_path / "ds", name="text2cad", direction="explain", strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", "text2cad_explain", tmp_path)


def test_cadquery_output_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    convert_cadquery(DATA / "cadquery" / "cadquery.jsonl", tmp_path / "ds" / "cadquery.json",
                     dataset_dir=tmp_path / "ds", name="cadquery", long_side=TINY_BAND, strict=True)
    check_loads(tiny_model_dir, tmp_path / "ds", "cadquery", tmp_path)


def test_images_outside_dataset_dir_still_resolve(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Records that point at original images elsewhere (`../data/…` from dataset_dir) load too."""
    convert_cadquery(DATA / "cadquery" / "cadquery.jsonl", tmp_path / "ds" / "cadquery.json",
                     dataset_dir=tmp_path / "ds", name="cadquery", long_side=None, strict=True)
    records = json.loads((tmp_path / "ds" / "cadquery.json").read_text())
    assert all(image.startswith("../") for record in records for image in record["images"])
    dataset, _, warnings = load_with_llamafactory(tiny_model_dir, tmp_path / "ds", "cadquery", tmp_path)
    assert warnings == [] and len(dataset) == len(records)


def test_a_record_without_assistant_turn_is_dropped_by_llamafactory(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Why `convert fiche` rejects `output: null`: LLaMA-Factory would warn and drop such a record. This also
    shows the checks above can see a dropped example."""
    from converters.sharegpt import register_dataset, write_records

    dataset_dir = tmp_path / "ds"
    good = {"messages": [{"role": "user", "content": "Bonjour"},
                                    {"role": "assistant", "content": "{}"}]}
    user_only = {"messages": [{"role": "user", "content": "Bonjour"}]}
    write_records(dataset_dir / "mixed.json", [good, user_only])
    register_dataset(dataset_dir, "mixed", dataset_dir / "mixed.json", images=False)
    dataset, _, warnings = load_with_llamafactory(tiny_model_dir, dataset_dir, "mixed", tmp_path)
    assert len(dataset) == 1
    assert any("Invalid message count" in message for message in warnings)
