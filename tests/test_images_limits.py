"""Limits on views, said plainly: the pixel limit of input images, the `--long-side` band held to it, and the
folder of fitted views made with the user's usual permissions."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from converters.engine import NothingConverted
from converters.fiche import convert_fiches
from converters.qa import convert_qa
from converters.views import convert_views
from fiche_io.images import long_side_band
from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.cli import main
from fiche_vlm.cli.convert import convert
from fiche_vlm.predict import predict_file

BAD = Path(__file__).parent / "data" / "bad"
BAND_ERRORS = {
    ("0", "0"): "no multiple of 28 px lies in the long-side band 0–0",
    ("29988", "29988"): "the long-side band 29988–29988 allows 29988×29988 = 899,280,144 px views, above the limit "
                        "of 50,000,000 px that input images have",
}


def one_view_folder(tmp_path: Path) -> Path:
    (tmp_path / "views").mkdir()
    Image.new("RGB", (400, 300), "steelblue").save(tmp_path / "views" / "pump_a.png")
    return tmp_path / "views"


@pytest.mark.parametrize("band", list(BAND_ERRORS))
def test_a_long_side_band_outside_the_pixel_limit_is_refused_before_anything_is_written(tmp_path: Path,
                                                                                        band: tuple[str, str]) -> None:
    views = one_view_folder(tmp_path)
    out = tmp_path / "f.jsonl"
    out.write_text("earlier output\n")
    result = CliRunner().invoke(convert, ["views", str(views), "--out", str(out), "--long-side", *band])
    assert result.exit_code == 2
    assert "Invalid value for '--long-side'" in result.output and BAND_ERRORS[band] in " ".join(result.output.split())
    assert out.read_text() == "earlier output\n" and not (tmp_path / "f.images").exists()
    predicted = CliRunner().invoke(main, ["predict", str(SAMPLE_FICHES), "--out", str(tmp_path / "p.jsonl"),
                                          "--long-side", *band])
    assert predicted.exit_code == 2 and BAND_ERRORS[band] in " ".join(predicted.output.split())

    lo, hi = int(band[0]), int(band[1])
    with pytest.raises(ValueError, match=BAND_ERRORS[band].replace("(", r"\(")):
        long_side_band(lo, hi)
    with pytest.raises(ValueError):
        convert_views(views, out, long_side=(lo, hi))
    with pytest.raises(ValueError):
        predict_file(SAMPLE_FICHES, tmp_path / "p.jsonl", base_url="http://127.0.0.1:9/v1", long_side=(lo, hi))
    assert out.read_text() == "earlier output\n" and not (tmp_path / "p.jsonl").exists()


def test_the_largest_band_within_the_limit_is_accepted() -> None:
    assert long_side_band(7000, 7071) == (7000, 7056)  # 7056² = 49.8 Mpx
    with pytest.raises(ValueError, match="7084×7084"):
        long_side_band(7000, 7084)


def test_a_144_megapixel_png_is_refused_with_its_size_and_no_pillow_warning(tmp_path: Path) -> None:
    views = one_view_folder(tmp_path)
    shutil.copy(BAD / "view_144_megapixels.png", views / "crane_a.png")  # a fiche of its own: pump still converts
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        report = convert_views(views, tmp_path / "f.jsonl", long_side=(224, 224))
    assert [reject.problem for reject in report.rejects] == [
        "'crane_a.png' is 12000×12000 = 144,000,000 px, above the limit of 50,000,000 px"]
    qa = tmp_path / "qa.jsonl"  # referenced in place (--keep-images): the header check holds the same limit
    qa.write_text(json.dumps({"image": "views/crane_a.png", "metadata": {"page_id": "p1"},
                              "conversations": [{"role": "user", "content": "Quoi ?"},
                                                {"role": "assistant", "content": "Une pompe."}]}) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NothingConverted) as refused:  # its only line: nothing written
            convert_qa(qa, tmp_path / "qa.json", dataset_dir=tmp_path, name="qa", long_side=None)
    assert [reject.problem for reject in refused.value.report.rejects] == [
        "'views/crane_a.png' is 12000×12000 = 144,000,000 px, above the limit of 50,000,000 px"]


def test_the_folders_of_fitted_views_get_the_users_usual_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        convert_views(one_view_folder(tmp_path), tmp_path / "views.jsonl", long_side=(224, 224))
        convert_fiches(SAMPLE_FICHES, tmp_path / "ds" / "fiches.json", dataset_dir=tmp_path / "ds", name="fiches",
                       long_side=(224, 224))
        qa = tmp_path / "qa.jsonl"
        qa.write_text(json.dumps({"image": "views/pump_a.png", "metadata": {"page_id": "p1"},
                                  "conversations": [{"role": "user", "content": "Quoi ?"},
                                                    {"role": "assistant", "content": "Une pompe."}]}) + "\n")
        convert_qa(qa, tmp_path / "ds" / "qa.json", dataset_dir=tmp_path / "ds", name="qa", long_side=(224, 224))
    finally:
        os.umask(old_umask)
    for folder in (tmp_path / "views.images", tmp_path / "ds" / "fiches.images", tmp_path / "ds" / "qa.images"):
        assert folder.stat().st_mode & 0o777 == 0o755, folder


def test_keep_images_refuses_a_view_stored_sideways(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (224, 168), "white").save(tmp_path / "page.jpg", exif=exif)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"image": "page.jpg", "metadata": {"page_id": "p1"},
                              "conversations": [{"role": "user", "content": "Quoi ?"},
                                                {"role": "assistant", "content": "Une page."}]}) + "\n")
    with pytest.raises(NothingConverted) as refused:
        convert_qa(qa, tmp_path / "qa.json", dataset_dir=tmp_path, name="qa", long_side=None)
    assert [reject.problem for reject in refused.value.report.rejects] == [
        ("'page.jpg' is shown turned 90° clockwise from how it is stored (EXIF orientation 6); LLaMA-Factory would "
         "train on it as stored: let it be fitted (leave out --keep-images)")]
