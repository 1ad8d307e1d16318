"""The shape every converter shares: check every line first, then write outputs, rejects and registrations.

A converter supplies a function turning one parsed input line into a sharegpt record (raising RecordError
with the field and problem when it cannot). Nothing is written until every line has been judged, so strict
mode can refuse the whole input with the complete list of problems and leave no file behind, and a run that
converts nothing fails the same way, leaving the previous dataset, its images and its registration untouched.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converters.report import ConvertReport, Reject, RejectedInput
from converters.sharegpt import register_dataset, write_records
from fiche_io.files import atomic_write_text, refuse_output_over_input
from fiche_io.jsonl import Line, RecordError, dumps_jsonl, iter_jsonl
from fiche_io.locations import location

ConvertOne = Callable[[dict[str, Any], int], dict[str, Any]]


@dataclass
class Converted:
    line: int
    raw: str
    record: dict[str, Any]


def judge_lines(src: Path, convert_one: ConvertOne, report: ConvertReport,
                lines: Iterable[Line] | None = None) -> list[Converted]:
    """Run `convert_one` on every line of `src`, filling `report.read` and `report.rejects`; the good records."""
    if not src.is_file():
        raise FileNotFoundError(f"{src}: input file not found")
    good: list[Converted] = []
    for line in (lines if lines is not None else iter_jsonl(src)):
        report.read += 1
        try:
            if line.error is not None:
                raise line.error
            good.append(Converted(line.number, line.raw, convert_one(line.value, line.number)))
        except RecordError as error:
            report.rejects.append(Reject(str(src), line.number, error.field, error.problem, line.raw))
    return good


def images_dir_for(out: Path) -> Path:
    """`dataset_info/fiches.json` → `dataset_info/fiches.images` (where fitted images are written)."""
    return out.with_name(out.name.split(".")[0] + ".images")


def rejects_path_for(out: Path) -> Path:
    """`data/demo.sharegpt.json` → `data/demo.sharegpt.rejects.jsonl`."""
    return out.with_suffix(".rejects.jsonl")


def finish(report: ConvertReport, datasets: dict[str, tuple[Path, list[dict[str, Any]]]], *, out: Path,
           dataset_dir: Path | None, images: bool, strict: bool,
           before_write: Callable[[], None] | None = None) -> ConvertReport:
    """Raise (writing nothing) as refuse_failed_run says. Otherwise write each dataset, the rejects file
    (always, so an old one never lingers) and the registry entries."""
    report.written = sum(len(records) for _, records in datasets.values())
    outputs = [path for path, _ in datasets.values()] + [rejects_path_for(out)]
    refuse_failed_run(report, outputs + ([dataset_dir / "dataset_info.json"] if dataset_dir else []),
                      [report.source], strict=strict)
    if before_write is not None:
        before_write()
    for name, (path, records) in datasets.items():
        write_records(path, records)
        report.outputs[name] = path
        report.counts[name] = len(records)
        if dataset_dir is not None:
            register_dataset(dataset_dir, name, path, images=images)
    report.rejects_path = rejects_path_for(out)
    atomic_write_text(report.rejects_path, dumps_jsonl(reject.to_json() for reject in report.rejects))
    return report


class NothingConverted(RejectedInput):
    """Raised when no input line (or file) could be converted: nothing has been written, earlier outputs stay."""

    def __init__(self, report: ConvertReport) -> None:
        self.report = report
        if report.read == 0:
            head = f"{location(report.source)}: no input {report.unit} (an empty input)"
        else:
            head = f"all {report.read} input {report.unit} of {location(report.source)} rejected"
        Exception.__init__(self, "\n".join([f"nothing converted: {head}; nothing written, earlier outputs kept",
                                             *(reject.message for reject in report.rejects)]))


def refuse_failed_run(report: ConvertReport, outputs: list[Path], inputs: list[Path], *, strict: bool) -> None:
    """Before any write: no output may be an input file (OutputIsInput); strict mode refuses any reject;
    every mode refuses a run that converted nothing."""
    refuse_output_over_input(outputs, inputs)
    report.check_counts()
    if strict and report.rejects:
        raise RejectedInput(report)
    if report.written == 0:
        raise NothingConverted(report)


class UniqueIds:
    """Refuses a record id already claimed by an earlier good line of this input."""

    def __init__(self) -> None:
        self._first_line: dict[str, int] = {}

    def check(self, record_id: str) -> None:
        """Raise if `record_id` is taken; call it before work that a duplicate must not do (writing files)."""
        first = self._first_line.get(record_id)
        if first is not None:
            raise RecordError("id", f"duplicate id {record_id!r} (first on line {first})")

    def claim(self, record_id: str, line: int) -> None:
        """Take `record_id` for `line`, once the line is known to be good."""
        self.check(record_id)
        self._first_line[record_id] = line
