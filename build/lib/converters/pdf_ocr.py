"""PDF pages (pdf2image over poppler's pdftoppm) or a scanner's multi-page TIFF → PNG views, optional left/right
split, OCR (tesseract, fra+eng)."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from converters.fiche import check_fiche_id
from converters.report import ConvertReport, Reject
from converters.skeleton import SkeletonWriter, skeleton_line
from fiche_io.images import DEFAULT_LONG_SIDE, page_count, read_view
from fiche_io.progress import with_progress

OCR_LANG = "fra+eng"
DEFAULT_DPI = 200
TIFF_SUFFIXES = (".tif", ".tiff")


class PdfError(ValueError):
    """A PDF that poppler cannot read (damaged, encrypted, not a PDF)."""


def ocr_text(image: Image.Image, lang: str = OCR_LANG) -> str:
    """The text tesseract reads in `image`, whitespace tidied: single spaces, at most one blank line in a row."""
    import pytesseract

    raw = pytesseract.image_to_string(image, lang=lang)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in raw.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def split_double_page(page: Image.Image) -> list[Image.Image]:
    """A landscape page (a scan of two facing pages) cut into its left and right halves; a portrait page whole."""
    width, height = page.size
    if width <= height:
        return [page]
    middle = width // 2
    return [page.crop((0, 0, middle, height)), page.crop((middle, 0, width, height))]


def pdf_pages(pdf: Path, *, dpi: int = DEFAULT_DPI, split: bool = False) -> list[tuple[str, Image.Image]]:
    """(label, image) per page, labels `p01`, `p02`, …; with `split`, landscape pages give `p01l` and `p01r`."""
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFInfoNotInstalledError, PDFPageCountError, PDFSyntaxError

    try:
        pages = convert_from_path(str(pdf), dpi=dpi)
    except PDFInfoNotInstalledError as error:
        raise RuntimeError("poppler-utils (pdftoppm, pdfinfo) is not installed") from error
    except (PDFPageCountError, PDFSyntaxError) as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise PdfError(f"poppler cannot read it ({detail})") from error
    if not pages:
        raise PdfError("has no pages")
    return label_pages(pages, split)


def tiff_pages(tiff: Path, *, split: bool = False, notes: list[str] | None = None) -> list[tuple[str, Image.Image]]:
    """(label, image) per page of a TIFF, upright RGB at full size, labelled as pdf_pages() labels them."""
    name = repr(tiff.name)
    count = page_count(tiff, name)
    return label_pages([read_view(tiff, None, name=name, page=None if count == 1 else page, notes=notes)
                        for page in range(count)], split)


def label_pages(pages: list[Image.Image], split: bool) -> list[tuple[str, Image.Image]]:
    width = max(2, len(str(len(pages))))
    labelled: list[tuple[str, Image.Image]] = []
    for number, page in enumerate(pages, start=1):
        parts = split_double_page(page) if split else [page]
        sides = ["l", "r"] if len(parts) == 2 else [""]
        labelled += [(f"p{number:0{width}d}{side}", part.convert("RGB")) for side, part in zip(sides, parts, strict=True)]
    return labelled


def find_pdfs(src: Path) -> list[Path]:
    if src.is_dir():
        return sorted(path for path in src.iterdir()
                      if path.suffix.lower() in (".pdf", *TIFF_SUFFIXES) and not path.name.startswith("."))
    if src.is_file():
        return [src]
    raise FileNotFoundError(f"{src}: no such PDF file or folder")


def convert_pdfs(src: Path, out: Path, *, split: bool = False, per_page: bool = False, ocr: bool = True,
                 ocr_lang: str = OCR_LANG, dpi: int = DEFAULT_DPI,
                 long_side: tuple[int, int] = DEFAULT_LONG_SIDE, strict: bool = False,
                 show_progress: bool = False) -> ConvertReport:
    """Write the fiche JSONL `out` from a PDF or TIFF (or a folder of them): one fiche per file whose views are its
    pages (or, with `per_page`, one fiche per page or half page), fitted into `<out stem>.images/`;
    `context_text` is the OCR of those pages at full resolution when `ocr`. `read` counts PDF and TIFF files."""
    src, out = Path(src), Path(out)
    pdfs = find_pdfs(src)
    report = ConvertReport(source=src, unit="PDF/TIFF files")
    writer = SkeletonWriter(out, long_side)
    try:
        lines = []
        for pdf in with_progress(pdfs, "rendering PDF pages", show_progress):
            report.read += 1
            try:
                check_fiche_id(pdf.stem)  # it names the fiche and its page files
                notes: list[str] = []
                if pdf.suffix.lower() in TIFF_SUFFIXES:
                    pages = tiff_pages(pdf, split=split, notes=notes)
                else:
                    pages = pdf_pages(pdf, dpi=dpi, split=split)
                pdf_lines = []
                for group in ([[page] for page in pages] if per_page else [pages]):
                    fiche_id = f"{pdf.stem}_{group[0][0]}" if per_page else pdf.stem
                    images = [writer.save_view(image, f"{pdf.stem}_{label}.png") for label, image in group]
                    text = "\n\n".join(filter(None, (ocr_text(image, ocr_lang) for _, image in group))) if ocr else ""
                    pdf_lines.append(skeleton_line(fiche_id, images, text))
            except (PdfError, ValueError) as error:
                report.rejects.append(Reject(str(pdf), None, "pdf", str(error), pdf.name))
                continue
            lines += pdf_lines
            report.notes += [f"{pdf.name}: {note}" for note in notes]
            report.written += 1
        return writer.finish(report, lines, pdfs, strict=strict)
    finally:
        writer.discard()
