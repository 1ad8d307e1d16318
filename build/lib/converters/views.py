"""A folder of views named `<fiche>_<view>` (`pump_a.png`, `pump_b.jpg`, `valve_1.png`, …) → fiche JSONL skeleton."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from PIL import Image

from converters.fiche import check_fiche_id
from converters.pdf_ocr import OCR_LANG, ocr_text
from converters.report import ConvertReport, Reject
from converters.skeleton import SkeletonWriter, skeleton_line
from fiche_io.images import DEFAULT_LONG_SIDE, page_count, read_view
from fiche_io.jsonl import RecordError
from fiche_io.progress import with_progress

# Named views, in the order a drawing usually presents them (French first, then English).
VIEW_WORDS = ("face", "dessus", "gauche", "droite", "cote", "côté", "dessous", "arriere", "arrière", "coupe",
              "detail", "détail", "iso", "perspective", "front", "top", "left", "right", "side", "bottom", "back",
              "section")
VIEW_NAME = re.compile(r"^(?P<fiche>.+)_(?P<view>[A-Za-z]|\d{1,3}|" + "|".join(VIEW_WORDS) + r")$", re.IGNORECASE)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"}


def view_order(view: str) -> tuple[int, int | str]:
    """Letters first (a, b, c), then numbers in numeric order (1, 2, 10), then named views (face, dessus, …)."""
    if view.isdigit():
        return (1, int(view))
    if len(view) == 1:
        return (0, view.lower())
    return (2, VIEW_WORDS.index(view.lower()))


def group_views(folder: Path, report: ConvertReport) -> dict[str, list[tuple[str, Path]]]:
    """Fiche id → [(view, path)] in view order; files that name no view are added to the rejects."""
    groups: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # editor and OS droppings (.DS_Store), not user data
        report.read += 1
        match = VIEW_NAME.match(path.stem)
        problem = None
        if path.is_dir():
            problem = "is a folder (only the top level of SRC is read)"
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            problem = f"not an image file name (expected one of {', '.join(sorted(IMAGE_SUFFIXES))})"
        elif match is None:
            problem = ("the name carries no view suffix (expected <fiche>_a, <fiche>_b …, <fiche>_1, <fiche>_2 … "
                       "or a view name such as <fiche>_face, <fiche>_dessus, <fiche>_coupe)")
        elif not path.resolve().is_relative_to(folder.resolve()):
            problem = f"a link to {path.resolve()}, outside {folder} (the data root)"
        elif match["view"].lower() in {view.lower() for view in groups[match["fiche"]]}:
            problem = f"a second file for view {match['view']!r} of fiche {match['fiche']!r}"
        else:
            try:
                check_fiche_id(match["fiche"])
            except RecordError as error:
                problem = f"the fiche id taken from the name is refused: {error}"
        if problem is not None:
            report.rejects.append(Reject(str(path), None, "file", problem, path.name))
            continue
        groups[match["fiche"]][match["view"]] = path
    return {fiche: sorted(views.items(), key=lambda item: view_order(item[0])) for fiche, views in groups.items() if views}


def reject_whole_fiche(report: ConvertReport, fiche_id: str, views: list[tuple[str, Path]],
                       problems: dict[Path, str], staged: list[str], writer: SkeletonWriter) -> None:
    """Every file of `fiche_id` into the rejects: the unreadable ones with their reason, the others naming them;
    the views already staged for it are removed."""
    unreadable = ", ".join(path.name for path in problems)
    for name in staged:
        writer.unstage(Path(name).name)
    for view, path in views:
        problem = problems.get(path, f"fiche {fiche_id!r} rejected whole: its view(s) {unreadable} cannot be used")
        report.rejects.append(Reject(str(path), None, "file", problem, path.name))


def fitted_pages(path: Path, stem: str, long_side: tuple[int, int], ocr: bool,
                 ocr_lang: str) -> list[tuple[str, Image.Image, str, list[str]]]:
    """(file name, fitted view, OCR text, notes) per page of the file: one for an image, one per page of a
    multi-page TIFF (`<stem>_p01.png`, …). OCR reads the upright view at full size."""
    name = repr(path.name)
    count = page_count(path, name)
    pages = []
    for page in [None] if count == 1 else range(count):
        notes: list[str] = []
        image = read_view(path, long_side, name=name, page=page, notes=notes)
        text = ocr_text(read_view(path, None, name=name, page=page), ocr_lang) if ocr else ""
        pages.append((stem + ("" if page is None else f"_p{page + 1:02d}") + ".png", image, text, notes))
    return pages


def convert_views(src: Path, out: Path, *, long_side: tuple[int, int] = DEFAULT_LONG_SIDE, ocr: bool = False,
                  ocr_lang: str = OCR_LANG, strict: bool = False, show_progress: bool = False) -> ConvertReport:
    """Write the fiche JSONL `out`: one line per fiche found in the folder `src`, views fitted to the 28-px
    grid into `<out stem>.images/`, `context_text` from OCR of the original views when `ocr`, the fixed
    French instruction, `output: null`. `read` counts files: read = files used + files rejected."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: not a folder of view images")
    report = ConvertReport(source=src, unit="files")
    writer = SkeletonWriter(out, long_side)
    try:
        groups = group_views(src, report)
        lines = []
        for fiche_id, views in with_progress(list(groups.items()), f"fitting views in {src.name}", show_progress):
            images, texts, fiche_notes, problems = [], [], [], {}
            for view, path in views:
                try:
                    pages = fitted_pages(path, f"{fiche_id}_{view}", writer.long_side, ocr, ocr_lang)
                except (RecordError, ValueError) as error:  # ImageRefused among them
                    problems[path] = error.problem if isinstance(error, RecordError) else str(error)
                    continue
                for file_name, image, text, notes in pages:
                    images.append(writer.save_view(image, file_name))
                    texts.append(text)
                    fiche_notes += [f"{path.name} → {file_name}: {note}" for note in notes]
            if problems:  # a fiche is written whole or not at all: a missing view would teach a wrong answer
                reject_whole_fiche(report, fiche_id, views, problems, images, writer)
                continue
            report.written += len(views)
            report.notes += fiche_notes
            lines.append(skeleton_line(fiche_id, images, "\n".join(text for text in texts if text)))
        inputs = [path for views in groups.values() for _, path in views]
        return writer.finish(report, lines, inputs, strict=strict)
    finally:
        writer.discard()
