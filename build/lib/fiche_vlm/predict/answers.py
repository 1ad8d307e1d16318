"""What an answer is worth: the schema it is checked against, and the verdict on one reply."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiche_io.jsonl import StrictJSONError, loads_strict
from fiche_io.predictions import finish_problem
from fiche_vlm.predict.inputs import InputError

Check = Callable[[Any], list[str]]  # an answer's schema errors, each starting with its JSON path; [] = valid

FREE_TEXT = "text"  # --schema text: Q&A answers, CadQuery code; only finish_reason decides validity
SCHEMA_CHOICES = "fiche, cad, a JSON Schema file, none (any JSON) or text (free text: Q&A, CadQuery code)"


def load_answer_schema(name: str) -> tuple[dict | None, Check | None]:
    """(schema, check) for `fiche` (or another name under fiche_schema), `none` (any JSON), `text`
    (free text: no schema, no check) or a JSON Schema file."""
    from jsonschema.exceptions import SchemaError

    from fiche_schema import SCHEMA_DIR, load_schema
    from fiche_schema.checks import schema_check
    from fiche_schema.validate import compile_schema

    if name in ("none", FREE_TEXT):
        return None, None
    if (SCHEMA_DIR / f"{name}.schema.json").is_file():
        return load_schema(name), schema_check(name)
    path = Path(name)
    if not path.is_file():
        raise InputError(f"--schema {name!r}: neither a known schema nor a file ({SCHEMA_CHOICES})")
    try:
        schema = loads_strict(path.read_text(encoding="utf-8-sig"))
        return schema, compile_schema(schema).errors
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({error})") from error
    except StrictJSONError as error:
        raise InputError(f"{path}: not a JSON schema: {error}") from error
    except SchemaError as error:
        raise InputError(f"{path}: not a valid JSON Schema ({error.message})") from error


def judge_answer(raw: str, finish_reason: str | None, check: Check | None,
                 max_tokens: int, free_text: bool = False) -> tuple[Any, bool, list[str]]:
    """(json or None, valid, errors). Only a complete, parseable, schema-valid answer carries its json;
    a free-text answer is valid when it ended normally."""
    problem = finish_problem(finish_reason, max_tokens)
    if problem is not None:
        return None, False, [problem]
    if free_text:
        return None, True, []
    try:
        value = loads_strict(raw)
    except StrictJSONError as error:
        return None, False, [f"not JSON: {error}"]
    errors = check(value) if check is not None else []
    return (None, False, errors) if errors else (value, True, [])
