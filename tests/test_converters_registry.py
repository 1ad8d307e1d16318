"""The committed dataset_info/dataset_info.json registers exactly what the README's convert commands write."""
from __future__ import annotations

import json
from pathlib import Path

from converters.cad_json import convert_text2cad
from converters.cadquery import convert_cadquery
from converters.fiche import convert_fiches
from converters.qa import convert_qa
from fiche_vlm import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"


def test_committed_registry_matches_the_converters(tmp_path: Path) -> None:
    convert_fiches(DATA / "fiches.jsonl", tmp_path / "fiche_sample.json", dataset_dir=tmp_path,
                   name="fiche_sample", long_side=(224, 224))
    convert_qa(DATA / "qa" / "manual_qa.jsonl", tmp_path / "manual_qa.json", dataset_dir=tmp_path, name="manual_qa")
    convert_text2cad(DATA / "text2cad" / "text2cad.jsonl", tmp_path / "text2cad.json", dataset_dir=tmp_path,
                     name="text2cad")
    convert_cadquery(DATA / "cadquery" / "cadquery.jsonl", tmp_path / "cadquery.json", dataset_dir=tmp_path,
                     name="cadquery")
    committed = json.loads((PROJECT_ROOT / "dataset_info" / "dataset_info.json").read_text(encoding="utf-8"))
    assert committed == json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
