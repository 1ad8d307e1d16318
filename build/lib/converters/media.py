"""Images named by input records: resolved inside the data root, checked once each, optionally fitted once."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from converters.sharegpt import relative_posix
from fiche_io.files import StagedDir
from fiche_io.images import (
    ORIENTATIONS,
    ImageRefused,
    check_pixel_count,
    long_side_band,
    opened_image,
    orientation_of,
    read_view,
)
from fiche_io.jsonl import RecordError
from fiche_io.paths import resolve_inside


def open_image(path: Path, name: str, field: str, *, long_side: tuple[int, int] | None = None,
               notes: list[str] | None = None) -> Image.Image:
    """The image at `path` as read_view() gives it (upright RGB, fitted when `long_side` is given); a
    RecordError naming the file when it is missing, unreadable or too large."""
    try:
        return read_view(path, long_side, name=repr(name), notes=notes)
    except ImageRefused as error:
        raise RecordError(field, str(error)) from error


def check_image_header(path: Path, name: str, field: str) -> tuple[int, int]:
    """(width, height) from the file header only: fast, catches missing, empty and non-image files, and views
    that only look right after a step the training loader does not take (EXIF rotation, several pages)."""
    try:
        with opened_image(path, repr(name)) as image:
            check_pixel_count(image, repr(name))
            width, height = image.size
            orientation = orientation_of(image, header_only=True)
            pages = image.n_frames if image.format == "TIFF" else 1
    except ImageRefused as error:
        raise RecordError(field, str(error)) from error
    if width <= 0 or height <= 0:
        raise RecordError(field, f"{name!r} has no pixels ({width}×{height})")
    if orientation != 1:
        raise RecordError(field, f"{name!r} is shown {ORIENTATIONS[orientation]} from how it is stored (EXIF "
                                 f"orientation {orientation}); LLaMA-Factory would train on it as stored: let it be "
                                 "fitted (leave out --keep-images)")
    if pages > 1:
        raise RecordError(field, f"{name!r} is a TIFF of {pages} pages; one view per file")
    return width, height


class ImageStore:
    """Each distinct image of a dataset, checked once; with `long_side`, fitted once to the 28-px grid and
    staged as PNG, then published to `images_dir` only when the dataset is written.

    `reference(name, field)` returns the path to put in the sharegpt record, relative to `dataset_dir`.
    """

    def __init__(self, root: Path, dataset_dir: Path, images_dir: Path,
                 long_side: tuple[int, int] | None) -> None:
        if long_side is not None:
            long_side_band(*long_side)  # an empty band is the caller's error, not every line's
        self.root, self.images_dir, self.long_side = root.resolve(), images_dir, long_side
        self.dataset_dir = dataset_dir.resolve()
        self._known: dict[str, str | RecordError] = {}
        self._targets: dict[Path, Path] = {}  # fitted file (relative to images_dir) → its source
        self._staged = StagedDir(images_dir)
        self.notes: list[str] = []  # what fitting did to each image (turned, converted …), for the report

    def reference(self, name: object, field: str) -> str:
        key = name if isinstance(name, str) else repr(name)
        known = self._known.get(key)
        if known is None:
            try:
                known = self._check(name, field)
            except RecordError as error:
                known = error
            self._known[key] = known
        if isinstance(known, RecordError):
            raise RecordError(field, known.problem)  # same problem, this record's field
        return known

    def _check(self, name: object, field: str) -> str:
        path = resolve_inside(self.root, name, field)
        assert isinstance(name, str)
        if self.long_side is None:
            check_image_header(path, name, field)
            return relative_posix(path, self.dataset_dir)
        notes: list[str] = []
        fitted = open_image(path, name, field, long_side=self.long_side, notes=notes)
        self.notes += [f"{name}: {note}" for note in notes]
        target = self._target_for(path)
        staged = self._staged.path / target
        staged.parent.mkdir(parents=True, exist_ok=True)
        fitted.save(staged, format="PNG")
        return relative_posix(self.images_dir / target, self.dataset_dir)

    def _target_for(self, source: Path) -> Path:
        relative = source.relative_to(self.root)
        target = relative.with_suffix(".png")
        if self._targets.setdefault(target, source) != source:  # e.g. a.jpg after a.png
            target = relative.with_name(relative.name + ".png")
            self._targets[target] = source
        return target

    def publish(self) -> None:
        """Replace `images_dir` by the fitted images (nothing to do when images are referenced in place)."""
        self._staged.publish()

    def discard(self) -> None:
        self._staged.discard()
