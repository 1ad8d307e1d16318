"""Pictures of one fiche for the report: its first view as a thumbnail beside OpenSCAD renders of the predicted
and the gold scaffold, both seen by one camera so that a wrong size shows at a glance."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from fiche_io.files import atomic_path, atomic_write_text
from fiche_io.images import ImageRefused, read_view
from fiche_io.jsonl import RecordError
from fiche_io.paths import resolve_inside
from postprocess.openscad import ScadError, build_scaffold, envelope_of
from postprocess.render import camera_for_box, render_png

DEFAULT_PICTURES = 24  # fiches shown by `fiche score` unless --pictures says otherwise: two renders each
PICTURES_DIR = "pictures"  # under the report's folder, so that report.html references relative paths only
PICTURE_SIZE = (320, 240)
GOLD_COLORSCHEME = "Tomorrow"  # the predicted render keeps OpenSCAD's default, so the two never look alike


@dataclass
class FichePictures:
    """Paths relative to the report's folder; `missing` says why a picture is absent (view, predicted, gold)."""

    view: str | None = None
    predicted: str | None = None
    gold: str | None = None
    missing: dict[str, str] = field(default_factory=dict)
    renders: int = 0
    render_seconds: float = 0.0


def _thumbnail(source: Path, target: Path) -> None:
    """The view as the user sees it (EXIF orientation, colour mode and depth handled by the one view reader)."""
    image = read_view(source, None)
    image.thumbnail(PICTURE_SIZE)
    with atomic_path(target, suffix=".png") as temporary:
        image.save(temporary, format="PNG")


def _first_view(images: tuple[str, ...], media_root: Path | None, target: Path) -> str | None:
    """Thumbnail the first view into `target`; None when done, else why not."""
    if not images or media_root is None:
        return "the gold record names no image"
    try:
        source = resolve_inside(media_root, images[0], "images[0]")
    except RecordError as error:
        return str(error)
    try:
        _thumbnail(source, target)
    except ImageRefused as error:
        return str(error)
    return None


def fiche_pictures(stem: str, name: str, images: tuple[str, ...], media_root: Path | None,
                   predicted: object, gold: object, out_dir: Path) -> FichePictures:
    """Write `<stem>.view.png`, `<stem>.predicted.scad/.png` and `<stem>.gold.scad/.png` under out_dir/pictures."""
    folder = Path(out_dir) / PICTURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    pictures = FichePictures()
    problem = _first_view(images, media_root, folder / f"{stem}.view.png")
    if problem is None:
        pictures.view = f"{PICTURES_DIR}/{stem}.view.png"
    else:
        pictures.missing["view"] = problem
    scaffolds = {}
    for role, fiche in (("predicted", predicted), ("gold", gold)):
        if not isinstance(fiche, dict):
            pictures.missing[role] = "no JSON" if role == "predicted" else "no gold fiche"
            continue
        try:
            scaffolds[role] = (build_scaffold(fiche, name)[0], envelope_of(fiche))
        except ScadError as error:
            pictures.missing[role] = f"no scaffold: {error}"
    if not scaffolds:
        return pictures
    sides = [(e.width_mm, e.depth_mm, e.height_mm) for _, e in scaffolds.values()]
    camera = camera_for_box(tuple(max(side[axis] for side in sides) for axis in range(3)))
    started, pictures.renders = time.perf_counter(), len(scaffolds)
    for role, (text, _) in scaffolds.items():
        scad = folder / f"{stem}.{role}.scad"
        atomic_write_text(scad, text)
        result = render_png(scad, scad.with_suffix(".png"), size=PICTURE_SIZE, camera=camera,
                            colorscheme=GOLD_COLORSCHEME if role == "gold" else None)
        if result.ok:
            setattr(pictures, role, f"{PICTURES_DIR}/{scad.with_suffix('.png').name}")
        else:
            pictures.missing[role] = f"render failed: {result.error}"
    pictures.render_seconds = time.perf_counter() - started
    return pictures
