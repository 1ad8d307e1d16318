"""Views as phones and scanners make them come out upright and in true colour, wherever a view is read:
`convert views` (and through the same reader `convert fiche|qa|cadquery`), OCR, and `fiche predict`."""
from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from image_files import (
    BLUE,
    RED,
    WHITE,
    close,
    halves,
    heic_photo,
    patch_mean,
    phone_jpeg,
    png_48_bit,
    upright_picture,
)
from PIL import Image, ImageDraw

from converters.engine import NothingConverted
from converters.views import convert_views
from fiche_io.images import MAX_IMAGE_PIXELS
from fiche_vlm.cli.convert import convert
from fiche_vlm.predict.inputs import image_url
from fiche_vlm.sample_inputs import font

BAD = Path(__file__).parent / "data" / "bad"
BAND = (224, 224)
TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT, BOTTOM_RIGHT = (0.03, 0.05, 0.25, 0.28), (0.75, 0.05, 0.97, 0.28), \
    (0.03, 0.72, 0.25, 0.95), (0.75, 0.72, 0.97, 0.95)


def converted_views(src: Path, out: Path) -> tuple[dict[str, Image.Image], list[str]]:
    """convert_views over `src`: {fiche id: its first fitted view}, and the report's notes."""
    report = convert_views(src, out, long_side=BAND)
    assert report.rejected == 0, [reject.message for reject in report.rejects]
    views = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        with Image.open(out.parent / record["images"][0]) as view:
            views[record["id"]] = view.convert("RGB")
    return views, report.notes


def assert_upright(view: Image.Image) -> None:
    assert view.size[0] > view.size[1], f"lies on its side: {view.size}"
    assert close(patch_mean(view, TOP_LEFT), RED, 25), patch_mean(view, TOP_LEFT)
    assert close(patch_mean(view, TOP_RIGHT), BLUE, 25), patch_mean(view, TOP_RIGHT)
    for corner in (BOTTOM_LEFT, BOTTOM_RIGHT):
        assert close(patch_mean(view, corner), WHITE, 10), patch_mean(view, corner)


def sent_view(path: Path) -> Image.Image:
    url = image_url(str(path), BAND, MAX_IMAGE_PIXELS)
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


# --- orientation --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phone_photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Image.Image], list[str]]:
    folder = tmp_path_factory.mktemp("phone")
    (folder / "photos").mkdir()
    for orientation in range(1, 9):
        phone_jpeg(folder / "photos" / f"o{orientation}_a.jpg", orientation)
    heic_photo(folder / "photos" / "iphone_a.heic")
    views, notes = converted_views(folder / "photos", folder / "out" / "fiches.jsonl")
    return folder / "photos", views, notes


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_phone_jpeg_with_any_exif_orientation_is_converted_and_sent_upright(phone_photos, orientation: int) -> None:
    photos, views, notes = phone_photos
    assert_upright(views[f"o{orientation}"])
    assert_upright(sent_view(photos / f"o{orientation}_a.jpg"))
    turned = [note for note in notes if note.startswith(f"o{orientation}_a.jpg → o{orientation}_a.png: ")]
    assert len(turned) == (orientation != 1)
    assert all(note.endswith(f"(EXIF orientation {orientation})") for note in turned)


def test_a_heic_photo_is_converted_and_sent_upright(phone_photos) -> None:
    photos, views, notes = phone_photos
    assert_upright(views["iphone"])
    assert_upright(sent_view(photos / "iphone_a.heic"))
    assert "iphone_a.heic → iphone_a.png: turned 90° clockwise (EXIF orientation 6, by the HEIF decoder)" in notes


def test_ocr_reads_a_sideways_phone_photo_upright(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    page = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(page).text((40, 100), "Roulement étanche 6204", font=font(48), fill="black")
    exif = Image.Exif()
    exif[0x0112] = 6
    page.transpose(Image.Transpose.ROTATE_90).save(src / "bearing_a.jpg", "JPEG", quality=95, exif=exif)
    result = CliRunner().invoke(convert, ["views", str(src), "--out", str(tmp_path / "f.jsonl"), "--ocr"])
    assert result.exit_code == 0, result.output
    assert "note: bearing_a.jpg → bearing_a.png: turned 90° clockwise (EXIF orientation 6)" in result.stderr
    assert "1 note(s) on what was done to the views" in result.stdout
    assert "Roulement étanche 6204" in json.loads((tmp_path / "f.jsonl").read_text())["context_text"]


# --- colour modes and bit depths ----------------------------------------------------------------------------

def cmyk_tiff(path: Path) -> None:
    halves("CMYK", (0, 255, 255, 0), (0, 0, 0, 128)).save(path, "TIFF")


def cmyk_jpeg(path: Path) -> None:
    halves("CMYK", (0, 255, 255, 0), (0, 0, 0, 128)).save(path, "JPEG", quality=95)


def grey_16_bit_png(path: Path) -> None:
    shutil.copy(BAD / "view_16bit_grey.png", path)  # I;16: 0x8080 left, 0x4000 right


def grey_16_bit_big_endian_tiff(path: Path) -> None:
    grey = np.full((48, 64), 0x8080, np.uint16)
    grey[:, 32:] = 0x4000
    Image.frombuffer("I;16B", (64, 48), grey.astype(">u2").tobytes(), "raw", "I;16B", 0, 1).save(path, "TIFF")


def colour_48_bit_png(path: Path) -> None:
    rgb = np.zeros((48, 64, 3), np.uint16)
    rgb[:, :32] = (65535, 32896, 0)
    rgb[:, 32:] = (0, 16448, 65535)
    png_48_bit(path, rgb)


def palette_with_transparency(path: Path) -> None:
    image = halves("P", 0, 1)
    image.putpalette([0, 0, 0, 20, 20, 220])
    image.save(path, "PNG", transparency=0)


def grey_with_alpha(path: Path) -> None:
    halves("LA", (0, 0), (60, 255)).save(path, "PNG")


def rgba(path: Path) -> None:
    halves("RGBA", (255, 0, 0, 128), (0, 255, 0, 255)).save(path, "PNG")


# file, builder, (left half, right half) as the user sees them, the note the report carries
MODES = {
    "cmyk_a.tif": (cmyk_tiff, ((255, 0, 0), (127, 127, 127)), "converted from CMYK"),
    "cmykjpeg_a.jpg": (cmyk_jpeg, ((255, 0, 0), (127, 127, 127)), "converted from CMYK"),
    "grey16_a.png": (grey_16_bit_png, ((128,) * 3, (64,) * 3), "16-bit grey (I;16) scaled to 8 bits"),
    "grey16b_a.tif": (grey_16_bit_big_endian_tiff, ((128,) * 3, (64,) * 3), "16-bit grey (I;16B) scaled to 8 bits"),
    "colour48_a.png": (colour_48_bit_png, ((255, 128, 0), (0, 64, 255)), "16-bit colour reduced to 8 bits"),
    "palette_a.png": (palette_with_transparency, (WHITE, BLUE), "transparency flattened onto white"),
    "greyalpha_a.png": (grey_with_alpha, (WHITE, (60, 60, 60)), "transparency flattened onto white"),
    "rgba_a.png": (rgba, ((255, 127, 127), (0, 255, 0)), "transparency flattened onto white"),
}


@pytest.fixture(scope="module")
def mode_views(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Image.Image], list[str]]:
    folder = tmp_path_factory.mktemp("modes")
    (folder / "views").mkdir()
    for name, (build, _, _) in MODES.items():
        build(folder / "views" / name)
    views, notes = converted_views(folder / "views", folder / "out" / "fiches.jsonl")
    return folder / "views", views, notes


@pytest.mark.parametrize("name", MODES)
def test_each_colour_mode_and_depth_becomes_true_rgb(mode_views, name: str) -> None:
    folder, views, notes = mode_views
    _, (left, right), note = MODES[name]
    tolerance = 6 if name.endswith(".jpg") else 1.5
    for view in (views[name.split("_")[0]], sent_view(folder / name)):
        assert close(patch_mean(view, (0.05, 0.1, 0.4, 0.9)), left, tolerance), patch_mean(view, (0.05, 0.1, 0.4, 0.9))
        assert close(patch_mean(view, (0.6, 0.1, 0.95, 0.9)), right, tolerance), patch_mean(view, (0.6, 0.1, 0.95, 0.9))
    assert f"{name} → {name.split('.')[0]}.png: {note}" in notes


def test_32_bit_pixels_are_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "views").mkdir()
    Image.new("F", (64, 48), 0.5).save(tmp_path / "views" / "depth_a.tif")
    with pytest.raises(NothingConverted) as refused:
        convert_views(tmp_path / "views", tmp_path / "f.jsonl", long_side=BAND)
    assert refused.value.report.rejects[0].problem == ("'depth_a.tif': its pixels are 32-bit floats (mode F), whose range to scale "
                                         "to 8 bits is unknown; save it as an 8- or 16-bit image")


def test_a_whole_upright_rgb_view_passes_unchanged(tmp_path: Path) -> None:
    (tmp_path / "views").mkdir()
    upright = upright_picture().resize((224, 168))
    upright.save(tmp_path / "views" / "plain_a.png")
    views, notes = converted_views(tmp_path / "views", tmp_path / "f.jsonl")
    assert notes == []
    assert views["plain"].tobytes() == upright.tobytes()
