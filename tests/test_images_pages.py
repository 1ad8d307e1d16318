"""A scanner's multi-page TIFF gives one view per page, as a PDF does; where one file must be one view
(`convert fiche|qa|cadquery`, `fiche predict`) it is refused with the reason."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from image_files import close, patch_mean
from PIL import Image

from converters.engine import NothingConverted
from converters.fiche import convert_fiches, validate_fiche_file
from converters.pdf_ocr import convert_pdfs
from converters.views import convert_views
from fiche_io.images import MAX_IMAGE_PIXELS
from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.predict.inputs import ImageProblem, image_url

BAND = (224, 224)
# page colour as the user sees it; the second page is a CMYK scan, the third a greyscale one
PAGES = [((200, 30, 30), Image.new("RGB", (300, 420), (200, 30, 30))),
         ((255, 0, 0), Image.new("CMYK", (300, 420), (0, 255, 255, 0))),
         ((90, 90, 90), Image.new("L", (420, 300), 90))]


def scan(path: Path) -> Path:
    first, *rest = [page for _, page in PAGES]
    first.save(path, "TIFF", save_all=True, append_images=rest, compression="tiff_lzw")
    return path


def assert_pages(paths: list[Path]) -> None:
    assert len(paths) == len(PAGES)
    for path, (colour, page) in zip(paths, PAGES, strict=True):
        with Image.open(path) as view:
            assert (view.size[0] > view.size[1]) == (page.size[0] > page.size[1])
            assert close(patch_mean(view, (0.1, 0.1, 0.9, 0.9)), colour, 1), (path, patch_mean(view, (0.1, 0.1, 0.9, 0.9)))


def test_convert_views_takes_each_page_of_a_tiff_as_a_view(tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    scan(tmp_path / "scans" / "pump_a.tif")
    Image.new("RGB", (400, 300), "white").save(tmp_path / "scans" / "pump_b.png")
    report = convert_views(tmp_path / "scans", tmp_path / "out" / "f.jsonl", long_side=BAND)
    assert (report.read, report.written, report.rejected) == (2, 2, 0)
    line = json.loads((tmp_path / "out" / "f.jsonl").read_text())
    assert [Path(name).name for name in line["images"]] == ["pump_a_p01.png", "pump_a_p02.png", "pump_a_p03.png",
                                                            "pump_b.png"]
    assert_pages([tmp_path / "out" / name for name in line["images"][:3]])
    assert report.notes == ["pump_a.tif → pump_a_p01.png: page 1 of 3 of a TIFF",
                            "pump_a.tif → pump_a_p02.png: page 2 of 3 of a TIFF",
                            "pump_a.tif → pump_a_p02.png: converted from CMYK",
                            "pump_a.tif → pump_a_p03.png: page 3 of 3 of a TIFF"]


def test_convert_pdf_takes_a_tiff_as_a_scanned_document(tmp_path: Path) -> None:
    scan(tmp_path / "manuel.tif")
    report = convert_pdfs(tmp_path / "manuel.tif", tmp_path / "doc.jsonl", ocr=False, long_side=BAND)
    assert (report.read, report.written) == (1, 1)
    line = json.loads((tmp_path / "doc.jsonl").read_text())
    assert line["id"] == "manuel"
    assert [Path(name).name for name in line["images"]] == ["manuel_p01.png", "manuel_p02.png", "manuel_p03.png"]
    assert_pages([tmp_path / name for name in line["images"]])
    assert "manuel.tif: page 2 of 3 of a TIFF" in report.notes

    convert_pdfs(tmp_path / "manuel.tif", tmp_path / "pages.jsonl", per_page=True, ocr=False, long_side=BAND)
    ids = [json.loads(line)["id"] for line in (tmp_path / "pages.jsonl").read_text().splitlines()]
    assert ids == ["manuel_p01", "manuel_p02", "manuel_p03"]


def test_where_one_file_is_one_view_a_multi_page_tiff_is_refused_with_the_reason(tmp_path: Path) -> None:
    scan(tmp_path / "scan.tif")
    record = json.loads(SAMPLE_FICHES.read_text(encoding="utf-8").splitlines()[0])
    record["images"] = ["scan.tif"]
    (tmp_path / "fiches.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    reason = ("'scan.tif' is a TIFF of 3 pages; one view per file here (`fiche convert views` and "
              "`fiche convert pdf` take each page as a view)")
    with pytest.raises(NothingConverted) as refused:
        convert_fiches(tmp_path / "fiches.jsonl", tmp_path / "ds" / "f.json", dataset_dir=tmp_path / "ds",
                       name="f", long_side=BAND)
    assert [(reject.field, reject.problem) for reject in refused.value.report.rejects] == [("images[0]", reason)]
    assert [reject.problem for reject in validate_fiche_file(tmp_path / "fiches.jsonl").rejects] == [reason]
    with pytest.raises(ImageProblem, match="scan.tif is a TIFF of 3 pages"):
        image_url(str(tmp_path / "scan.tif"), BAND, MAX_IMAGE_PIXELS)
