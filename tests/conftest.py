"""Shared fixtures: the tiny model (built once, cached by a hash of its spec and corpus) and the sample data."""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from fiche_vlm import PROJECT_ROOT

SAMPLE_FICHES = PROJECT_ROOT / "data" / "fiches.jsonl"
CACHE = PROJECT_ROOT / ".cache" / "tiny-model"


@pytest.fixture(scope="session")
def sample_fiches() -> Path:
    return SAMPLE_FICHES


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny Qwen2-VL built from the sample corpus; rebuilt only when its spec or the corpus changes."""
    from fiche_vlm.tiny_model import TinySpec, build_tiny_model

    spec = replace(TinySpec(), corpus_sha256=hashlib.sha256(SAMPLE_FICHES.read_bytes()).hexdigest())
    target = CACHE / spec.key()
    if not (target / "model.safetensors").exists():
        partial = target.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        build_tiny_model(partial, [SAMPLE_FICHES], spec)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target
