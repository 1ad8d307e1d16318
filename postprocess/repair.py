"""Re-read the raw answers of a predictions.jsonl: extract with repairs, validate, canonicalise, write anew."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_write_text
from fiche_io.jsonl import iter_jsonl
from postprocess.extract import extract_json


def reread_answer(record: dict, errors_of: Callable[[Any], list[str]],
                  canonical: Callable[[dict], dict]) -> dict:
    """The record with `json`, `valid`, `errors` recomputed from `raw`, and `repairs` listing every change."""
    raw = record.get("raw")
    extracted = extract_json(raw if isinstance(raw, str) else "")
    errors = [] if extracted.error is None else [f"raw: {extracted.error}"]
    value = extracted.value
    if value is not None:
        errors += errors_of(value)
        if not errors:
            value = canonical(value)
    if record.get("finish_reason") == "length":
        errors.insert(0, "finish_reason is 'length': the answer was cut off at max_tokens")
    return {**record, "json": value, "valid": not errors, "errors": errors,
            "repairs": [str(repair) for repair in extracted.repairs]}


def repair_predictions(predictions: Path, out: Path, errors_of: Callable[[Any], list[str]],
                       canonical: Callable[[dict], dict]) -> dict[str, int]:
    """Write `out` (same lines, re-read) and `<out>.rejects.jsonl` for lines that are not JSON records."""
    counts = {"read": 0, "valid": 0, "invalid": 0, "repaired": 0, "unreadable": 0}
    kept: list[str] = []
    rejects: list[str] = []
    for line in iter_jsonl(predictions):
        counts["read"] += 1
        if line.error is not None:
            counts["unreadable"] += 1
            rejects.append(json.dumps({"line": line.number, "text": line.raw,
                                       "reason": f"{line.where(predictions)}: {line.error}"}, ensure_ascii=False))
            continue
        result = reread_answer(line.value, errors_of, canonical)
        counts["valid" if result["valid"] else "invalid"] += 1
        counts["repaired"] += bool(result["repairs"])
        kept.append(json.dumps(result, ensure_ascii=False))
    atomic_write_text(Path(out), "".join(line + "\n" for line in kept))
    rejects_path = Path(out).with_suffix(".rejects.jsonl")
    if rejects or rejects_path.exists():
        atomic_write_text(rejects_path, "".join(line + "\n" for line in rejects))
    return counts
