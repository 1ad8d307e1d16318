"""What every task scorer takes and gives back."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.loading import GoldRecord, Prediction
from eval.report import Block, Paragraph, Section, Table

MAX_ITEM_ROWS = 200  # per-item tables beyond this are cut in the report; metrics.json keeps every item


@dataclass(frozen=True)
class Pair:
    gold: GoldRecord
    prediction: Prediction | None  # None: no prediction for this gold id (counted as invalid)


@dataclass
class TaskResult:
    metrics: dict[str, Any]
    sections: list[Section]
    items: list[dict[str, Any]] = field(default_factory=list)  # per-item scores, for metrics.json


def fraction(count: int, total: int) -> dict[str, Any]:
    """A rate with its counts, as stored in metrics.json."""
    return {"count": count, "total": total, "rate": count / total if total else None}


def summary(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, median, min, max of a list of numbers (None for the statistics of an empty list)."""
    if not values:
        return {"n": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values), "median": statistics.median(values),
            "min": min(values), "max": max(values)}


def item_table(headers: list[str], rows: list[list[str]]) -> list[Block]:
    """The per-item table, cut to MAX_ITEM_ROWS rows with a note saying so."""
    blocks: list[Block] = [Table(headers, rows[:MAX_ITEM_ROWS])]
    if len(rows) > MAX_ITEM_ROWS:
        blocks.append(Paragraph(f"First {MAX_ITEM_ROWS} of {len(rows)} items; metrics.json lists them all."))
    return blocks
