"""Images named by input records: resolved inside the data root, checked once each, optionally fitted once."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from converters.images import fit_to_grid, long_side_band
from converters.sharegpt import relative_posix
from fiche_io.files import StagedDir
from fiche_io.jsonl import RecordError
from fiche_io.paths import resolve_inside

READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def open_image(path: Path, name: str, field: str) -> Image.Image:
    """The image at `path`, fully decoded; a RecordError naming the file when it is missing or unreadable."""
    if not path.is_file():
        raise RecordError(field, f"image not found: {name!r} (looked at {path})")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except READ_ERRORS as error:
        raise RecordError(field, f"cannot read {name!r} as an image ({error})") from error


def check_image_header(path: Path, name: str, field: str) -> tuple[int, int]:
    """(width, height) from the file header only: fast, catches missing, empty and non-image files."""
    if not path.is_file():
        raise RecordError(field, f"image not found: {name!r} (looked at {path})")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except READ_ERRORS as error:
        raise RecordError(field, f"cannot read {name!r} as an image ({error})") from error
    if width <= 0 or height <= 0:
        raise RecordError(field, f"{name!r} has no pixels ({width}×{height})")
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
        image = open_image(path, name, field)
        try:
            fitted = fit_to_grid(image, self.long_side)
        except ValueError as error:
            raise RecordError(field, f"{name!r}: {error}") from error
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
