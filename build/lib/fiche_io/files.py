"""Output files: safe names from model-given ids, and atomic writes (temporary file in the same folder, then rename)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from fiche_io.locations import location


def safe_file_stem(identifier: Any) -> str:
    """A file name stem from an id: [A-Za-z0-9._-] only, no leading dot or dash, never empty, at most 100 long."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(identifier))[:100].lstrip(".-")
    return stem or "unnamed"


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary path beside `path` for the block to write: when the block ends normally it replaces
    `path` (readers see the old file or the new one, never half of one); otherwise it is removed. Writers
    create it with open(…, "x"), so it gets the user's usual permissions, not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_synced(temporary: Path, fill: Callable[[BinaryIO], object]) -> None:
    with open(temporary, "xb") as stream:
        fill(stream)
        stream.flush()
        os.fsync(stream.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, flushed to disk before the rename."""
    with atomic_path(path) as temporary:
        _write_synced(temporary, lambda stream: stream.write(text.encode("utf-8")))


class StagedDir:
    """A folder built under a temporary name beside `target` and swapped in by `publish()`, so a failed run
    never leaves half a folder; `discard()` removes what was not published. The temporary folder is made on
    first use of `path`, so a run that stages nothing leaves `target` as it was."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else self._make()

    def _make(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        umask = os.umask(0)  # mkdtemp makes it 0700, which the published folder would keep
        os.umask(umask)
        self._path.chmod(0o777 & ~umask)
        return self._path

    def publish(self) -> None:
        if self._path is not None:
            shutil.rmtree(self.target, ignore_errors=True)
            self._path.rename(self.target)
            self._path = None

    def discard(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


def copy_atomic(source: Path, target: Path) -> None:
    with open(source, "rb") as origin, atomic_path(target) as temporary:
        _write_synced(temporary, lambda stream: shutil.copyfileobj(origin, stream))


class OutputIsInput(ValueError):
    """An output path names one of the command's input files; the CLI reports it as a usage error of --out."""


def refuse_output_over_input(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Raise OutputIsInput when any output is the same file as any input file. Files are compared, not
    spellings (`os.path.samefile`): `./a.jsonl`, `dir/../a.jsonl`, a symlink or a hard link to the input count."""
    candidates = [Path(path) for path in inputs if Path(path).is_file()]
    for output in outputs:
        if not Path(output).is_file():
            continue  # not there yet (or a folder): writing it cannot replace an input file
        for candidate in candidates:
            if os.path.samefile(output, candidate):
                same = "" if str(output) == str(candidate) else f" (the same file as input {location(candidate)})"
                raise OutputIsInput(f"{location(output)}: output is an input file{same}; "
                                    "refusing to overwrite it, choose another --out")
