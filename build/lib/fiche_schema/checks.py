"""Which check an answer gets, by schema name: the schema alone, or for `cad` the full CAD check."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fiche_schema.cad_json import validate_cad
from fiche_schema.validate import schema_validator


def schema_check(name: str) -> Callable[[Any], list[str]]:
    """The errors function for answers under `fiche_schema/<name>.schema.json`. For `cad` it is
    `validate_cad`, which also checks what the schema cannot: operation order, references, frames and units."""
    if name == "cad":
        return validate_cad
    return schema_validator(name).errors
