"""Shared fixtures: the tiny model (built once, cached by its spec and corpus) and the sample data."""
from __future__ import annotations

from pathlib import Path

import pytest

from fiche_vlm import PROJECT_ROOT, SAMPLE_FICHES


@pytest.fixture(scope="session")
def sample_fiches() -> Path:
    return SAMPLE_FICHES


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny Qwen2-VL built from the sample corpus; rebuilt only when its spec or the corpus changes."""
    from fiche_vlm.tiny_model import ensure_tiny_model, spec_for_corpus

    key = spec_for_corpus([SAMPLE_FICHES]).key()
    return ensure_tiny_model(PROJECT_ROOT / ".cache" / "tiny-model" / key, [SAMPLE_FICHES])
