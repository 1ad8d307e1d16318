"""Re-read the raw answers of a predictions.jsonl: extract with repairs, validate, canonicalise, write anew.

Every input line comes out: as a re-read record in the output, or (when it is no JSON record at all) in
`<out>.rejects.jsonl` as it was, with its line number and reason.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_write_text
from fiche_io.jsonl import dumps_jsonl, dumps_line, iter_jsonl
from fiche_io.predictions import finish_problem
from postprocess.extract import extract_json

JSON_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
                   float: "a number", type(None): "null"}


@dataclass
class RepairReport:
    """read = valid + invalid + unreadable; `unreadable` holds each line that is no JSON record, with its reason."""
    read: int = 0
    valid: int = 0
    invalid: int = 0
    repaired: int = 0
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    rejects_path: Path | None = None


def reread_answer(record: dict, errors_of: Callable[[Any], list[str]],
                  canonical: Callable[[dict], dict]) -> dict:
    """The record with `json`, `valid`, `errors` recomputed from `raw`, and `repairs` listing every change.

    As in `fiche predict`, only a finished, readable, schema-valid answer carries its `json`."""
    raw = record.get("raw")
    if isinstance(raw, str):
        extracted = extract_json(raw)
        repairs = [str(repair) for repair in extracted.repairs]
        errors = [] if extracted.error is None else [f"raw: {extracted.error}"]
        value = extracted.value
    else:
        repairs, value = [], None
        errors = [f"raw: expected the reply text (a string), got {JSON_TYPE_NAMES.get(type(raw), type(raw).__name__)}"]
    if value is not None:
        errors += errors_of(value)
    problem = finish_problem(record.get("finish_reason"))
    if problem is not None:
        errors.insert(0, problem)
    return {**record, "json": canonical(value) if not errors else None, "valid": not errors, "errors": errors,
            "repairs": repairs}


def repair_predictions(predictions: Path, out: Path, errors_of: Callable[[Any], list[str]],
                       canonical: Callable[[dict], dict]) -> RepairReport:
    """Write `out` (the JSON records, re-read) and `<out>.rejects.jsonl` (the other lines, as they were)."""
    report = RepairReport()
    kept: list[str] = []
    for line in iter_jsonl(predictions):
        report.read += 1
        if line.error is not None:
            report.unreadable.append({"source": str(predictions), "line": line.number, "reason": line.error.problem,
                                      "message": f"{line.where(predictions)}: {line.error.problem}", "raw": line.raw})
            continue
        result = reread_answer(line.value, errors_of, canonical)
        if result["valid"]:
            report.valid += 1
        else:
            report.invalid += 1
        report.repaired += bool(result["repairs"])
        kept.append(dumps_line(result))
    if not kept:
        return report  # nothing re-read: a failed run, so an earlier output stays as it was
    atomic_write_text(Path(out), "".join(line + "\n" for line in kept))
    report.rejects_path = Path(out).with_suffix(".rejects.jsonl")
    atomic_write_text(report.rejects_path, dumps_jsonl(report.unreadable))
    return report
