"""Precision / recall / F1 from true-positive, false-positive and false-negative counts over multisets."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PRCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: PRCounts) -> PRCounts:
        return PRCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def empty(self) -> bool:
        """Nothing expected and nothing predicted: F1 is undefined, not perfect."""
        return self.tp == self.fp == self.fn == 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        # 2TP / (2TP + FP + FN) equals the harmonic mean of P and R wherever both exist, and stays defined
        # when only one of them does (e.g. nothing predicted: F1 = 0).
        return None if self.empty else 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


def multiset_counts(predicted: Iterable[str], expected: Iterable[str]) -> PRCounts:
    """Counts of a predicted multiset against an expected one: a repeated item matches at most as often as expected."""
    got, want = Counter(predicted), Counter(expected)
    tp = sum((got & want).values())
    return PRCounts(tp=tp, fp=sum(got.values()) - tp, fn=sum(want.values()) - tp)


def mean_defined(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else None
