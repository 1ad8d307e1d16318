"""Reading predictions.jsonl and gold sets (fiche JSONL, or sharegpt as a JSON array or JSONL) into matched pairs."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converters.sharegpt import IMAGE_TOKEN

TASKS = ("fiche", "cad_json", "cadquery", "qa")


class InputError(ValueError):
    """A file that cannot be read at all, or a line that breaks its contract; the message names file, line and field."""


@dataclass(frozen=True)
class Prediction:
    id: str
    raw: str
    json: Any
    finish_reason: str | None
    latency_s: float | None
    usage: dict | None
    line: int


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


def _records(path: Path) -> list[tuple[int, Any]]:
    """(line or position, parsed record) for a JSONL file or a JSON array file; bad JSON is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    if text.lstrip().startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        return list(enumerate(array, start=1))
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    return records


def load_predictions(path: Path) -> Predictions:
    """Every line of a predictions.jsonl; when an id appears again, the later line wins (a resumed run retried it)."""
    predictions = Predictions()
    for number, record in _records(Path(path)):
        predictions.lines += 1
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        prediction_id, raw = record.get("id"), record.get("raw")
        if not isinstance(prediction_id, str) or not prediction_id:
            raise InputError(f"{path}:{number}: id: expected a non-empty string, got {prediction_id!r}")
        if raw is not None and not isinstance(raw, str):
            raise InputError(f"{path}:{number}: raw: expected a string or null, got {type(raw).__name__}")
        if prediction_id in predictions.by_id:
            predictions.superseded += 1
        latency = record.get("latency_s")
        predictions.by_id[prediction_id] = Prediction(
            id=prediction_id, raw=raw or "", json=record.get("json"), finish_reason=record.get("finish_reason"),
            latency_s=latency if isinstance(latency, (int, float)) and not isinstance(latency, bool) else None,
            usage=record.get("usage") if isinstance(record.get("usage"), dict) else None, line=number)
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
            return json.loads(answer[1]), question_text
        except json.JSONDecodeError as error:
            raise ValueError(f"messages[{answer[0]}].content: gold answer is not JSON ({error.msg})") from None
    return answer[1], question_text


def load_gold(path: Path, task: str, media_dir: Path | None = None) -> GoldSet:
    """The scorable gold records; records that cannot be scored are listed in `skipped` with their reason.
    Image paths stay as written, relative to `media_dir` (default: the gold file's folder)."""
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    gold, seen = GoldSet(), {}
    for number, record in _records(Path(path)):
        gold.read += 1
        where = f"{path}:{number}"
        if not isinstance(record, dict):
            gold.skipped.append(f"{where}: expected a JSON object, got {type(record).__name__}")
            continue
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
                                       media_root=Path(media_dir) if media_dir is not None else Path(path).parent))
    return gold


def read_trainer_log(path: Path) -> list[dict]:
    """LLaMA-Factory's trainer_log.jsonl lines (one dict per logging step); a bad line is an error naming it."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict) or "current_steps" not in row:
            raise InputError(f"{path}:{number}: current_steps: missing (not a LLaMA-Factory trainer log line)")
        rows.append(row)
    return rows
