"""The fiche report in a real browser: headless Chromium loads every image report.html references, and the
renders of a predicted and a gold scaffold share one scale, so a wrong dimension shows."""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from eval.browser import chromium_available, headless_chromium, report_images, screenshot_element
from fiche_vlm.cli import main
from postprocess.render import png_available

# Skipped only outside CI: CI installs chromium, chromium-driver, openscad and xvfb (make system).
pytestmark = pytest.mark.skipif((chromium_available() or png_available()) is not None and not os.environ.get("CI"),
                                reason=str(chromium_available() or png_available()))
FICHES = ("plate-01", "spacer-03", "shaft-05")  # a cube, a tube and a cylinder: three fiches keep it to ~10 s


@pytest.fixture(scope="module")
def small_report(tmp_path_factory, sample_fiches) -> Path:
    """Three gold fiches with their first view; plate predicted exactly, spacer twice as tall, shaft missing."""
    tmp_path = tmp_path_factory.mktemp("report")
    records = {record["id"]: record for record in map(json.loads, sample_fiches.read_text("utf-8").splitlines())}
    gold, predictions = [], []
    for name in FICHES:
        record = dict(records[name], images=records[name]["images"][:1])
        (tmp_path / "images").mkdir(exist_ok=True)
        shutil.copy(sample_fiches.parent / record["images"][0], tmp_path / record["images"][0])
        gold.append(record)
    taller = copy.deepcopy(records["spacer-03"]["output"])
    taller["dimensions"]["H"] *= 2
    predictions = [{"id": "plate-01", "raw": "", "json": records["plate-01"]["output"]},
                   {"id": "spacer-03", "raw": "", "json": taller}]
    for path, rows in ((tmp_path / "gold.jsonl", gold), (tmp_path / "predictions.jsonl", predictions)):
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["score", str(tmp_path / "predictions.jsonl"), "--gold",
                                       str(tmp_path / "gold.jsonl"), "--out", str(out), "--pictures", "3"])
    assert result.exit_code == 0, result.output
    return out


def silhouette(path: Path) -> np.ndarray:
    """Pixels that differ from the background (the corner pixel's colour)."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    return np.abs(pixels - pixels[0, 0]).sum(axis=2) > 30


def test_every_image_of_the_report_loads_in_headless_chromium(small_report, tmp_path):
    html = (small_report / "report.html").read_text(encoding="utf-8")
    referenced = re.findall(r'<img src="([^"]+)"', html)
    pictures = [f"pictures/{name}.{role}.png" for name in FICHES for role in ("view", "predicted", "gold")
                if (name, role) != ("shaft-05", "predicted")]
    assert set(pictures) <= set(referenced)
    assert "none: no prediction for this id" in html  # the missing shaft prediction is said, not drawn

    with headless_chromium() as driver:
        loaded = report_images(driver, small_report / "report.html")
        assert sorted(image.src for image in loaded) == sorted(referenced)
        assert [image.src for image in loaded if image.natural_width <= 0] == []
        shot = screenshot_element(driver, "table.pictures", tmp_path / "pictures.png")
        assert shot.read_bytes().startswith(b"\x89PNG")

        copy_of_report = shutil.copytree(small_report, tmp_path / "copy")
        (copy_of_report / "pictures" / "plate-01.gold.png").unlink()  # control: a missing file is caught
        broken = report_images(driver, copy_of_report / "report.html")
        assert [image.src for image in broken if image.natural_width <= 0] == ["pictures/plate-01.gold.png"]


def test_predicted_and_gold_renders_share_one_scale(small_report):
    pictures = small_report / "pictures"
    same = [silhouette(pictures / f"plate-01.{role}.png") for role in ("predicted", "gold")]
    assert (same[0] & same[1]).sum() / (same[0] | same[1]).sum() > 0.97  # right size: the same silhouette
    rows = [np.flatnonzero(silhouette(pictures / f"spacer-03.{role}.png").any(axis=1))
            for role in ("predicted", "gold")]
    heights = [row[-1] - row[0] for row in rows]
    assert heights[0] > 1.5 * heights[1]  # twice as tall predicted: visibly taller than the gold
