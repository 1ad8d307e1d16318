"""PDF → PNG pages (pdf2image), left/right split of double pages, real OCR (tesseract fra+eng)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from converters.pdf_ocr import convert_pdfs, pdf_pages
from fiche_vlm.cli.convert import convert
from fiche_vlm.sample_inputs import double_page, text_page, write_pdf

FRENCH = ["Pompe centrifuge à aubes", "Débit nominal : quarante litres", "Étanchéité par garniture mécanique"]
ENGLISH = ["Centrifugal pump housing", "Maximum pressure: twelve bar"]


def words(lines: list[str]) -> set[str]:
    return {word.strip(":,.") for line in lines for word in line.split() if len(word.strip(":,.")) > 3}


def test_ocr_reads_french_and_english_words_back(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "pompe.pdf", [text_page(FRENCH + ENGLISH, (1240, 1754))])
    report = convert_pdfs(pdf, tmp_path / "out" / "fiches.jsonl", ocr=True)
    assert (report.read, report.written, report.rejected) == (1, 1, 0)
    line = json.loads((tmp_path / "out" / "fiches.jsonl").read_text())
    found = set(line["context_text"].replace(":", " ").split())
    missing = words(FRENCH + ENGLISH) - found
    assert not missing, f"OCR lost {missing} in {line['context_text']!r}"
    with Image.open(tmp_path / "out" / line["images"][0]) as page:
        assert 640 <= max(page.size) <= 768 and page.size[0] % 28 == 0 == page.size[1] % 28


def test_split_cuts_double_pages_only(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "manuel.pdf", [text_page(["Couverture"], (1240, 1754), drawing=False),
                                              double_page(["Vue de face gauche"], ["Right hand side view"])])
    labels = [label for label, _ in pdf_pages(pdf, dpi=100, split=True)]
    assert labels == ["p01", "p02l", "p02r"]
    assert [label for label, _ in pdf_pages(pdf, dpi=100)] == ["p01", "p02"]
    convert_pdfs(pdf, tmp_path / "pages.jsonl", split=True, per_page=True)
    lines = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "pages.jsonl").read_text().splitlines()}
    assert set(lines) == {"manuel_p01", "manuel_p02l", "manuel_p02r"}
    assert "gauche" in lines["manuel_p02l"]["context_text"] and "Right" not in lines["manuel_p02l"]["context_text"]
    assert "Right" in lines["manuel_p02r"]["context_text"] and "gauche" not in lines["manuel_p02r"]["context_text"]


def test_cli_convert_pdf_folder_counts_files(tmp_path: Path) -> None:
    folder = tmp_path / "pdfs"
    write_pdf(folder / "a.pdf", [text_page(["Fiche A"], (620, 877), text_size=30, drawing=False)])
    (folder / "b.pdf").write_bytes(b"%PDF-1.4 broken")
    result = CliRunner().invoke(convert, ["pdf", str(folder), "--out", str(tmp_path / "f.jsonl"), "--no-ocr"])
    assert result.exit_code == 0, result.output
    assert "read 2 PDF/TIFF files = written 1 + rejected 1" in result.stdout
    assert f"{folder / 'b.pdf'}: pdf: poppler cannot read it" in result.stderr
    rejects = [json.loads(line) for line in (tmp_path / "f.rejects.jsonl").read_text().splitlines()]
    assert [reject["raw"] for reject in rejects] == ["b.pdf"]
