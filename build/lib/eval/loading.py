"""Reading predictions.jsonl and gold sets (fiche JSONL, or sharegpt as a JSON array or JSONL) into matched pairs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.jsonl import Line, StrictJSONError, loads_strict, read_records
from fiche_io.locations import location
from fiche_io.predictions import Prediction, iter_predictions
from fiche_schema import IMAGE_TOKEN

TASKS = ("fiche", "cad_json", "cadquery", "qa")


class InputError(ValueError):
    """A file that cannot be read at all, or a line that breaks its contract; the message names file, line and field."""


@dataclass(frozen=True)
class GoldRecord:
    id: str
    target: Any  # the gold object (fiche, cad_json) or text (cadquery code, Q&A answer)
    question: str | None
    metadata: dict
    line: int
    images: tuple[str, ...] = ()  # the record's image paths as written, relative to media_root
    media_root: Path | None = None


@dataclass
class Predictions:
    by_id: dict[str, Prediction] = field(default_factory=dict)
    lines: int = 0
    superseded: int = 0  # earlier lines for an id that a later line replaced (a resumed run's retries)


@dataclass
class GoldSet:
    records: list[GoldRecord] = field(default_factory=list)
    read: int = 0
    skipped: list[str] = field(default_factory=list)  # "file:line: field: reason", one per record not scored


def read_records_or_fail(path: Path) -> list[Line]:
    """The records of a JSONL or JSON array file; any line that is not a JSON object is an InputError."""
    try:
        lines = read_records(path)
    except OSError as error:
        raise InputError(f"{location(path)}: cannot read ({error.strerror or error})") from None
    for line in lines:
        if line.error is not None:
            raise InputError(f"{line.where(path)}: {line.error}")
    return lines


def load_predictions(path: Path) -> Predictions:
    """Every line of a predictions.jsonl; when an id appears again, the later line wins (a resumed run retried it)."""
    predictions = Predictions()
    try:
        entries = list(iter_predictions(path))
    except OSError as error:
        raise InputError(f"{location(path)}: cannot read ({error.strerror or error})") from None
    for entry in entries:
        predictions.lines += 1
        if entry.error is not None:
            raise InputError(f"{entry.line.where(path)}: {entry.error}")
        if entry.prediction.id in predictions.by_id:
            predictions.superseded += 1
        predictions.by_id[entry.prediction.id] = entry.prediction
    return predictions


def _text(content: Any) -> str:
    """A message content as text: a string, or the text parts of an OpenAI-style list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise ValueError(f"expected a string, got {type(content).__name__}")


def _last_turn(messages: list, role: str) -> tuple[int, str] | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == role:
            return index, _text(message.get("content"))
    return None


def _gold_of(record: dict, task: str) -> tuple[Any, str | None]:
    """(target, question) of one gold record; ValueError("field: problem") when it has none."""
    if task == "fiche" and "output" in record:
        if record["output"] is None:
            raise ValueError("output: is null (an inference-only fiche has no gold)")
        return record["output"], None
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: missing or empty (need a sharegpt record, or a fiche line with output)")
    answer = _last_turn(messages, "assistant")
    if answer is None:
        raise ValueError("messages: no assistant turn holds the gold answer")
    question = _last_turn(messages[: answer[0]], "user")
    question_text = question[1].replace(IMAGE_TOKEN, "").strip() if question else None
    if task in ("fiche", "cad_json"):
        try:
            return loads_strict(answer[1]), question_text
        except StrictJSONError as error:
            raise ValueError(f"messages[{answer[0]}].content: gold answer is not JSON ({error})") from None
    return answer[1], question_text


def load_gold(path: Path, task: str, data_root: Path | None = None) -> GoldSet:
    """The scorable gold records; records that cannot be scored are listed in `skipped` with their reason.
    Image paths stay as written, relative to `data_root` (default: the gold file's folder)."""
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    gold, seen = GoldSet(), {}
    for line in read_records_or_fail(Path(path)):
        gold.read += 1
        number, record, where = line.number, line.value, line.where(path)
        gold_id = record.get("id")
        if not isinstance(gold_id, str) or not gold_id:
            gold.skipped.append(f"{where}: id: expected a non-empty string, got {gold_id!r}")
            continue
        if gold_id in seen:
            gold.skipped.append(f"{where}: id: duplicate {gold_id!r} (first at line {seen[gold_id]})")
            continue
        try:
            target, question = _gold_of(record, task)
        except ValueError as error:
            gold.skipped.append(f"{where}: {error}")
            continue
        seen[gold_id] = number
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        images = record.get("images") if isinstance(record.get("images"), list) else []
        gold.records.append(GoldRecord(id=gold_id, target=target, question=question, metadata=metadata, line=number,
                                       images=tuple(name for name in images if isinstance(name, str)),
                                       media_root=Path(data_root) if data_root is not None else Path(path).parent))
    return gold


def read_trainer_log(path: Path) -> list[dict]:
    """LLaMA-Factory's trainer_log.jsonl lines (one dict per logging step); a bad line is an error naming it."""
    rows = []
    for line in read_records_or_fail(Path(path)):
        if "current_steps" not in line.value:
            raise InputError(f"{line.where(path)}: current_steps: missing (not a LLaMA-Factory trainer log line)")
        rows.append(line.value)
    return rows
