"""The embedded sample: reproducible from its generator, schema-valid, true to its drawings, and learnable
from the images alone at the demo model's 224-px resolution."""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageChops, ImageStat

from fiche_io.images import fit_to_grid, grid_size
from fiche_schema import load_schema
from fiche_schema.validate import json_schema_validator
from fiche_vlm.cli import main
from fiche_vlm.samples import CONTEXT_TEXT, INSTRUCTION, render_view, sample_parts, write_sample

# Mean absolute difference (0–255, averaged over pixels and channels) between the first views of any two
# fiches after fit_to_grid(…, (224, 224)). Measured on the sample: minimum 21.3 (bracket-02 against
# channel-06), median 40.5. The same drawings with white instead of material fills: minimum 11.5, median
# 17.5, and 2 of 28 pairs under 15; uncoloured drawings were the ones the tiny model could not tell apart.
MIN_FIRST_VIEW_DISTANCE = 15.0


@pytest.fixture(scope="module")
def records(sample_fiches: Path) -> list[dict]:
    return [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines()]


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)}


def test_committed_sample_is_what_the_generator_writes(sample_fiches: Path, tmp_path: Path) -> None:
    write_sample(tmp_path)
    assert (tmp_path / "fiches.jsonl").read_bytes() == sample_fiches.read_bytes()
    committed = sorted(p.name for p in (sample_fiches.parent / "images").glob("*.png"))
    assert committed == sorted(p.name for p in (tmp_path / "images").glob("*.png")), "stale or missing images"
    for name in committed:
        with Image.open(sample_fiches.parent / "images" / name) as ours, Image.open(tmp_path / "images" / name) as new:
            assert ours.size == new.size, name
            assert ImageChops.difference(ours.convert("RGB"), new.convert("RGB")).getbbox() is None, name


def test_sample_shape(records: list[dict], sample_fiches: Path) -> None:
    assert len(records) == 8
    assert len({r["id"] for r in records}) == 8
    assert {r["instruction"] for r in records} == {INSTRUCTION}
    assert {r["context_text"] for r in records} == {CONTEXT_TEXT}
    for record in records:
        assert 2 <= len(record["images"]) <= 3, record["id"]
        for relative in record["images"]:
            assert not Path(relative).is_absolute()
            with Image.open(sample_fiches.parent / relative) as image:
                assert 640 <= max(image.size) <= 768, relative
                # already on the 28-px grid, so the converter and the client pass the pixels through unchanged
                assert grid_size(*image.size) == image.size, relative


def test_every_gold_validates_against_the_fiche_schema(records: list[dict]) -> None:
    validator = json_schema_validator(load_schema("fiche"))
    for record in records:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record["output"])]
        assert not errors, (record["id"], errors)


def test_first_views_are_far_apart_at_224_px(records: list[dict], sample_fiches: Path) -> None:
    firsts = {}
    for record in records:
        with Image.open(sample_fiches.parent / record["images"][0]) as image:
            firsts[record["id"]] = fit_to_grid(image, (224, 224))
            assert firsts[record["id"]].size == (224, 168)
    for (a, image_a), (b, image_b) in itertools.combinations(firsts.items(), 2):
        distance = sum(ImageStat.Stat(ImageChops.difference(image_a, image_b)).mean) / 3
        assert distance > MIN_FIRST_VIEW_DISTANCE, (a, b, distance)


def test_gold_is_true_of_the_drawing(records: list[dict]) -> None:
    by_id = {r["id"]: r for r in records}
    for part in sample_parts():
        gold = by_id[part.fiche_id]["output"]
        assert gold["dimensions"] == {**part.envelope, "unit": "mm"}
        sheets = [render_view(part, view) for view in part.views]
        drawn = set().union(*(_numbers(label) for sheet in sheets for label in sheet.labels))
        # every overall size and every number of the shape description is a dimension on some view
        assert {float(gold["dimensions"][k]) for k in "HWD"} <= drawn, part.fiche_id
        assert _numbers(gold["global_shape"]) <= drawn, (part.fiche_id, gold["global_shape"])
        for item in gold["components"] + gold["interfaces"]:
            assert {float(d) for d in re.findall(r"Ø(\d+)", item)} <= drawn, (part.fiche_id, item)
        # "N trous Ø d" in the gold: exactly N holes of diameter d are drawn
        holes = [d for sheet in sheets for d in sheet.holes]
        for item in gold["components"]:
            match = re.fullmatch(r"(\d+) trous(?: fraisés)? Ø(\d+)(?: sur Ø\d+)?", item)
            if match:
                assert holes.count(float(match[2])) == int(match[1]), (part.fiche_id, item, holes)


def test_parameters_drive_drawing_and_gold() -> None:
    from fiche_vlm.samples.parts import mounting_plate

    plate = mounting_plate(W=150, D=90, H=10, hole=11)
    gold = plate.gold()
    assert gold["dimensions"] == {"H": 10, "W": 150, "D": 90, "unit": "mm"}
    assert "4 trous Ø11" in gold["components"]
    labels = [label for view in plate.views for label in render_view(plate, view).labels]
    assert {"150", "90", "10", "4× Ø11"} <= set(labels)


def test_fiche_samples_command_writes_the_sample(tmp_path: Path, sample_fiches: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["samples", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "8 fiches, 17 views" in result.output
    assert (out / "fiches.jsonl").read_bytes() == sample_fiches.read_bytes()
    assert len(list((out / "images").glob("*.png"))) == 17
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "temporary files left behind"


def test_fiche_samples_refuses_a_file_as_out_dir(tmp_path: Path) -> None:
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    result = CliRunner().invoke(main, ["samples", "-o", str(target)])
    assert result.exit_code == 2
    assert "not_a_dir" in result.output and "is a file" in result.output
