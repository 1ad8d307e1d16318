"""Redraw the README's pictures from the sample: docs/report-pictures.png (the fiche report's "Views and scaffolds"
table in headless Chromium) and docs/scaffold-flange-04.png (the render of one `fiche scad` scaffold).

The report is scored against predictions made from the sample's gold with spacer-03's H doubled and channel-06
left out, so that it shows a wrong dimension and a missing answer. Run: .venv/bin/python docs/make_pictures.py
"""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

from PIL import Image

from eval.browser import headless_chromium, report_images, screenshot_element
from eval.runner import score
from fiche_vlm import SAMPLE_FICHES
from postprocess.openscad import fiche_to_scad
from postprocess.render import render_png

DOCS = Path(__file__).parent
SHOWN = 4  # fiches in the screenshot


def main() -> None:
    gold = [json.loads(line) for line in SAMPLE_FICHES.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        predictions = []
        for record in gold:
            fiche = copy.deepcopy(record["output"])
            if record["id"] == "spacer-03":
                fiche["dimensions"]["H"] *= 2
            if record["id"] != "channel-06":
                predictions.append({"id": record["id"], "raw": "", "json": fiche})
        (work / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions), encoding="utf-8")
        score(work / "predictions.jsonl", SAMPLE_FICHES, work / "report", pictures=SHOWN)
        with headless_chromium(width=760) as driver:
            broken = [image.src for image in report_images(driver, work / "report" / "report.html")
                      if image.natural_width <= 0]
            if broken:
                raise SystemExit(f"images that did not load: {broken}")
            shot = screenshot_element(driver, "table.pictures", work / "table.png")
        with Image.open(shot) as image:
            image.convert("RGB").quantize(128).save(DOCS / "report-pictures.png", optimize=True)

        flange = next(record for record in gold if record["id"] == "flange-04")
        scad = work / "flange-04.scad"
        scad.write_text(fiche_to_scad(flange["output"], "flange-04"), encoding="utf-8")
        result = render_png(scad, work / "flange-04.png", size=(480, 360))
        if not result.ok:
            raise SystemExit(result.error)
        with Image.open(result.path) as image:
            image.convert("RGB").quantize(128).save(DOCS / "scaffold-flange-04.png", optimize=True)
    for name in ("report-pictures.png", "scaffold-flange-04.png"):
        print(f"{DOCS / name}: {(DOCS / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
