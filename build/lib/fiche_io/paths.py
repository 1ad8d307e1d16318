"""Where things are: the project's bundle (sample, recipes, environments), and the data-root rule (a path named in
an input file must stay inside the data root once resolved)."""
from __future__ import annotations

import sys
from pathlib import Path

from fiche_io.jsonl import RecordError


def _bundle_root() -> Path:
    """The checkout this package sits in (data/, recipes/, the .venv* environments), or, for `pip install .`,
    the copy of data/, recipes/ and dataset_info/ installed under <prefix>/share/fiche-vlm."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "data" / "fiches.jsonl").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "fiche-vlm"


PROJECT_ROOT = _bundle_root()


def resolve_inside(root: Path, name: object, field: str) -> Path:
    """`name` resolved against `root`; a RecordError when it is not a non-empty string or escapes `root`.

    Absolute paths are accepted only when they lie inside the root; `..` segments and symlinks are judged
    after resolution, so `images/../a.png` is fine and `../secret.png` is not.
    """
    if not isinstance(name, str) or not name.strip():
        raise RecordError(field, f"expected a non-empty path string, got {name!r}")
    if "\x00" in name:
        raise RecordError(field, "path contains a NUL character")
    root = root.resolve()
    candidate = (root / name).resolve()  # an absolute `name` replaces root here
    if not candidate.is_relative_to(root):
        raise RecordError(field, f"path {name!r} escapes the data root {root}")
    return candidate
