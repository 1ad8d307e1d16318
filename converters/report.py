"""What a conversion did: counts that add up, and every rejected input line with its reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.locations import location


@dataclass(frozen=True)
class Reject:
    """An input line that was not converted, kept verbatim so nothing is lost."""
    source: str
    line: int | None  # None when the input is a file of a folder rather than a line
    field: str
    problem: str
    raw: str

    @property
    def message(self) -> str:
        return f"{location(self.source, self.line)}: {self.field}: {self.problem}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "field": self.field, "reason": self.problem,
                "message": self.message, "raw": self.raw}


@dataclass
class ConvertReport:
    """read = written + rejected, always; `outputs` maps a dataset name to the file it was written to."""
    source: Path
    read: int = 0
    written: int = 0
    rejects: list[Reject] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # written per dataset name
    rejects_path: Path | None = None
    unit: str = "lines"  # what `read` counts: input lines, or files for the folder converters
    notes: list[str] = field(default_factory=list)  # what was done to written inputs (a view turned upright …)
    substituted: int = 0  # `"` and `\` written as ″ and ⧵ in the gold answers (fiche_schema.quotes)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def check_counts(self) -> None:
        if self.read != self.written + self.rejected:
            raise AssertionError(f"counts do not add up: read {self.read} ≠ written {self.written} + rejected {self.rejected}")

    def summary(self) -> str:
        parts = [f"read {self.read} {self.unit}", f"written {self.written}", f"rejected {self.rejected}"]
        per_dataset = ", ".join(f"{name}: {self.counts.get(name, 0)} → {location(path)}"
                                for name, path in self.outputs.items())
        text = " = ".join([parts[0], " + ".join(parts[1:])])
        if per_dataset:
            text += f" ({per_dataset})"
        if self.substituted:
            text += f'; {self.substituted} " or \\ in gold text written as ″ or ⧵'
        if self.rejects_path is not None:
            text += f"; rejects → {location(self.rejects_path)}"
        if self.notes:
            text += f"; {len(self.notes)} note(s) on what was done to the views"
        return text


class RejectedInput(Exception):
    """Raised in strict mode when any input line was rejected; nothing has been written."""

    def __init__(self, report: ConvertReport) -> None:
        self.report = report
        lines = [reject.message for reject in report.rejects]
        super().__init__(f"{report.rejected} of {report.read} input {report.unit} rejected (strict mode, nothing written):\n"
                         + "\n".join(lines))
