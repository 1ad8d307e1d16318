"""fiche_io.files.atomic_path / atomic_write_text: the one way outputs are written."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fiche_io.files import atomic_path, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "predictions.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half", encoding="utf-8")
        raise RuntimeError("crash mid-write")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["predictions.jsonl"]


def test_written_files_get_the_usual_permissions_not_0600(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "sub" / "report.md", "# report\n")
    finally:
        os.umask(umask)
    written = tmp_path / "sub" / "report.md"
    assert written.read_text(encoding="utf-8") == "# report\n"
    assert written.stat().st_mode & 0o777 == 0o644
