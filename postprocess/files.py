"""Output files: safe names from model-given ids, and atomic writes (temporary file in the same folder, then rename)."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any


def safe_file_stem(identifier: Any) -> str:
    """A file name stem from an id: [A-Za-z0-9._-] only, no leading dot or dash, never empty, at most 100 long."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(identifier))[:100].lstrip(".-")
    return stem or "unnamed"


def _replace_from_temp(path: Path, fill: Any) -> None:
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            fill(stream)
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    _replace_from_temp(Path(path), lambda stream: stream.write(text.encode("utf-8")))


def copy_atomic(source: Path, target: Path) -> None:
    with open(source, "rb") as origin:
        _replace_from_temp(Path(target), lambda stream: shutil.copyfileobj(origin, stream))
