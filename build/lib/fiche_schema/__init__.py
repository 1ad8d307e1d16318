"""The JSON Schemas, kept as .json files beside this module."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).parent


@cache
def load_schema(name: str = "fiche") -> dict:
    """The schema `<name>.schema.json`; cached, so callers must not mutate it."""
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


IMAGE_TOKEN = "<image>"  # LLaMA-Factory's IMAGE_PLACEHOLDER: one per view, in the user turn of a sharegpt record
