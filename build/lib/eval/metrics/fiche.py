"""Fiche metrics: schema validity, exact match after canonicalisation, slot F1 over the list fields."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eval.metrics.counts import PRCounts, mean_defined, multiset_counts
from eval.metrics.text import normalise
from fiche_schema.canonical import canonical_text

LIST_FIELDS = ("components", "interfaces", "materials_guess", "manufacturing", "assumptions", "uncertainties",
               "risks_limits")


def fiche_errors(obj: Any) -> list[str]:
    """Schema errors, each starting with its JSON path (fiche_schema.validate); [] = valid; no JSON is an error."""
    from fiche_schema.validate import validate_fiche

    if obj is None:
        return ["no JSON object in the answer"]
    return validate_fiche(obj)


def exact_match(predicted: Any, gold: Any) -> bool:
    """The prediction equals the gold once both are in canonical text (schema key order, canonical numbers)."""
    if predicted is None:
        return False
    return canonical_text(predicted) == canonical_text(gold)


def _slot_items(obj: Any, field: str) -> list[str]:
    value = obj.get(field) if isinstance(obj, Mapping) else None
    if not isinstance(value, list):
        return []
    normalised = (normalise(item) for item in value if isinstance(item, str))
    return [item for item in normalised if item]


def slot_counts(predicted: Any, gold: Mapping[str, Any]) -> dict[str, PRCounts]:
    """Per list field, the multiset match of normalised strings; a missing or non-object prediction predicts nothing."""
    return {field: multiset_counts(_slot_items(predicted, field), _slot_items(gold, field)) for field in LIST_FIELDS}


@dataclass(frozen=True)
class SlotF1:
    per_field: dict[str, PRCounts]
    micro: PRCounts

    @property
    def macro_f1(self) -> float | None:
        """Unweighted mean of the per-field F1s; a field with nothing expected nor predicted anywhere is left out."""
        return mean_defined(counts.f1 for counts in self.per_field.values())

    @property
    def undefined_fields(self) -> list[str]:
        return [field for field, counts in self.per_field.items() if counts.empty]


def slot_f1(per_item: Iterable[Mapping[str, PRCounts]]) -> SlotF1:
    """Pool per-item counts: per field (for macro) and over every field and item (micro)."""
    per_field = {field: PRCounts() for field in LIST_FIELDS}
    for item in per_item:
        for field in LIST_FIELDS:
            per_field[field] = per_field[field] + item[field]
    micro = sum(per_field.values(), PRCounts())
    return SlotF1(per_field=per_field, micro=micro)
