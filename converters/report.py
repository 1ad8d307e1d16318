"""What a conversion did: counts that add up, and every rejected input line with its reason."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """One input record cannot be converted: `field` names the part that is wrong (dotted, e.g. `images[1]`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


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
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.field}: {self.problem}"

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
    substituted: int = 0  # `"` and `\` written as ″ and ⧵ in the gold answers (postprocess.quotes)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def check_counts(self) -> None:
        if self.read != self.written + self.rejected:
            raise AssertionError(f"counts do not add up: read {self.read} ≠ written {self.written} + rejected {self.rejected}")

    def summary(self) -> str:
        parts = [f"read {self.read} {self.unit}", f"written {self.written}", f"rejected {self.rejected}"]
        per_dataset = ", ".join(f"{name}: {self.counts.get(name, 0)} → {path}" for name, path in self.outputs.items())
        text = " = ".join([parts[0], " + ".join(parts[1:])])
        if per_dataset:
            text += f" ({per_dataset})"
        if self.substituted:
            text += f'; {self.substituted} " or \\ in gold text written as ″ or ⧵'
        if self.rejects_path is not None:
            text += f"; rejects → {self.rejects_path}"
        return text


class RejectedInput(Exception):
    """Raised in strict mode when any input line was rejected; nothing has been written."""

    def __init__(self, report: ConvertReport) -> None:
        self.report = report
        lines = [reject.message for reject in report.rejects]
        super().__init__(f"{report.rejected} of {report.read} input {report.unit} rejected (strict mode, nothing written):\n"
                         + "\n".join(lines))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} (JSON has no NaN or Infinity)")


# JSON as the standard has it (no NaN/Infinity); built once: json.loads(…, kw) builds a decoder per call.
STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def iter_jsonl(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | RecordError]]:
    """(line number, raw text, parsed object or the parse error) for every non-blank line of a JSONL file."""
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError:
                yield number, raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), \
                    RecordError("line", "not valid UTF-8")
                continue
            try:
                value = STRICT_JSON.decode(raw)
            except json.JSONDecodeError as error:
                yield number, raw, RecordError("line", f"malformed JSON ({error.msg} at column {error.colno})")
                continue
            except ValueError as error:
                yield number, raw, RecordError("line", str(error))
                continue
            if not isinstance(value, dict):
                yield number, raw, RecordError("line", f"expected a JSON object, got {type(value).__name__}")
                continue
            yield number, raw, value


def with_progress(items: list[Any], description: str, shown: bool = True) -> Iterator[Any]:
    """`items` with a rich progress bar on stderr (stdout keeps only the counts), when `shown`."""
    if not shown:
        return iter(items)
    from rich.console import Console
    from rich.progress import track

    return iter(track(items, description=description, console=Console(stderr=True), transient=True))
