"""The predictions.jsonl record that `fiche predict` writes and every later stage reads, and its one reader."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.jsonl import Line, RecordError, iter_jsonl

COMPLETE = "stop"  # the only finish_reason of an answer that ended by itself


def finish_problem(finish_reason: Any, max_tokens: int | None = None) -> str | None:
    """Why an answer with this finish_reason is not a result, or None when it ended normally."""
    if finish_reason == COMPLETE:
        return None
    if finish_reason == "length":
        bound = f" at max_tokens={max_tokens}" if max_tokens is not None else " at max_tokens"
        return f"finish_reason=length: the answer was cut{bound}"
    shown = "null" if finish_reason is None else finish_reason  # null: the request got no answer at all
    return f"finish_reason={shown}: the answer did not end normally"


@dataclass
class Prediction:
    """One line of predictions.jsonl. `finish_reason` None marks a request that got no answer (retried by the
    next run); `valid` is the writer's verdict, which readers re-check rather than trust."""
    id: str
    raw: str
    json: Any = None
    valid: bool = False
    errors: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    latency_s: float | None = None
    usage: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys other stages added (e.g. `repairs`), kept as they are
    line: int | None = field(default=None, compare=False)  # where it was read from; not part of the record

    @property
    def answered(self) -> bool:
        return self.finish_reason is not None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        return {**{key: value for key, value in record.items() if key not in ("extra", "line")}, **self.extra}

    @classmethod
    def from_json(cls, record: dict[str, Any], line: int | None = None) -> Prediction:
        """The record of a parsed line; RecordError names the first field that breaks the contract."""
        identifier, raw = record.get("id"), record.get("raw")
        if not isinstance(identifier, str) or not identifier.strip():
            raise RecordError("id", f"expected a non-empty string, got {identifier!r}")
        if raw is not None and not isinstance(raw, str):
            raise RecordError("raw", f"expected the answer text (a string) or null, got {type(raw).__name__}")
        finish_reason = record.get("finish_reason")
        if finish_reason is not None and not isinstance(finish_reason, str):
            raise RecordError("finish_reason", f"expected a string or null, got {finish_reason!r}")
        errors = record.get("errors") or []
        if not isinstance(errors, list):
            raise RecordError("errors", f"expected a list, got {type(errors).__name__}")
        latency = record.get("latency_s")
        known = {"id", "raw", "json", "valid", "errors", "finish_reason", "latency_s", "usage"}
        return cls(id=identifier, raw=raw or "", json=record.get("json"), valid=record.get("valid") is True,
                   errors=[str(error) for error in errors], finish_reason=finish_reason,
                   latency_s=latency if isinstance(latency, (int, float)) and not isinstance(latency, bool) else None,
                   usage=record.get("usage") if isinstance(record.get("usage"), dict) else None,
                   extra={key: value for key, value in record.items() if key not in known}, line=line)


@dataclass(frozen=True)
class PredictionLine:
    """A line of predictions.jsonl: its record, or why it has none (the raw text kept so nothing is lost)."""
    line: Line
    prediction: Prediction | None
    error: RecordError | None


def iter_predictions(path: Path | str) -> Iterator[PredictionLine]:
    """Every non-blank line of a predictions.jsonl in order; each reader decides what a bad line means to it."""
    for line in iter_jsonl(path):
        if line.error is not None:
            yield PredictionLine(line, None, line.error)
            continue
        try:
            yield PredictionLine(line, Prediction.from_json(line.value, line.number), None)
        except RecordError as error:
            yield PredictionLine(line, None, error)
