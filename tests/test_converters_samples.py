"""The committed converter sample inputs are exactly what their generator writes."""
from __future__ import annotations

from pathlib import Path

from fiche_vlm import PROJECT_ROOT
from fiche_vlm.sample_inputs import write_all


def test_committed_samples_match_the_generator(tmp_path: Path) -> None:
    write_all(tmp_path)
    generated = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    assert generated, "the generator wrote nothing"
    for relative in generated:
        committed = PROJECT_ROOT / "data" / relative
        assert committed.is_file(), f"{relative} is not committed"
        assert committed.read_bytes() == (tmp_path / relative).read_bytes(), f"{relative} differs from the generator"
