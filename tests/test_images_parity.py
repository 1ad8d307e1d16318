"""`fiche predict` sends exactly the pixels training saw: for views that need turning, converting or scaling,
the PNG `fiche convert fiche` writes and the PNG in predict's data URL are the same bytes."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from image_files import halves, heic_photo, phone_jpeg, png_48_bit

from converters.fiche import convert_fiches
from fiche_io.images import MAX_IMAGE_PIXELS
from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.predict.inputs import image_url

BAND = (224, 224)


def test_predict_sends_the_converters_png_byte_for_byte(tmp_path: Path) -> None:
    big_photo = tmp_path / "big_photo.jpg"  # decoded at a reduced scale by both
    halves("RGB", (200, 40, 40), (40, 40, 200), size=(2000, 1500)).save(big_photo, quality=90)
    grey = np.full((300, 400), 0x8080, np.uint16)
    grey[:, 200:] = 0x2000
    rgb16 = np.zeros((300, 400, 3), np.uint16)
    rgb16[:, :200] = (65535, 1000, 30000)
    views = {
        "sideways.jpg": lambda path: phone_jpeg(path, 6),
        "mirrored.jpg": lambda path: phone_jpeg(path, 7),
        "iphone.heic": heic_photo,
        "cmyk.tif": lambda path: halves("CMYK", (0, 200, 255, 10), (30, 0, 0, 90), size=(500, 300)).save(path),
        "grey16.png": lambda path: halves("I;16", 0x8080, 0x2000, size=(400, 300)).save(path),
        "colour48.png": lambda path: png_48_bit(path, rgb16),
        "palette.png": lambda path: halves("P", 0, 1).save(path, transparency=0),
    }
    for name, build in views.items():
        build(tmp_path / name)
    record = json.loads(SAMPLE_FICHES.read_text(encoding="utf-8").splitlines()[0])
    names = [*views, big_photo.name]
    record["images"] = names
    (tmp_path / "fiches.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    dataset_dir = tmp_path / "ds"
    report = convert_fiches(tmp_path / "fiches.jsonl", dataset_dir / "f.json", dataset_dir=dataset_dir, name="f",
                            long_side=BAND, strict=True)
    assert len(report.notes) >= len(views)  # each of them was turned, converted or scaled, and said so
    trained = json.loads((dataset_dir / "f.json").read_text())[0]["images"]
    for name, fitted in zip(names, trained, strict=True):
        sent = base64.b64decode(image_url(str(tmp_path / name), BAND, MAX_IMAGE_PIXELS).split(",", 1)[1])
        assert sent == (dataset_dir / fitted).read_bytes(), name
