"""Probe sets: the service-manual workflow's hand-written checks, each passed or failed, pass rates per category.

A probe file is a JSON array (or JSONL) of objects:
    {"id": "torque-head", "category": "critical", "image": "pages/p12.png", "question": "…",
     "expected_answer": "Stage 1: 40 Nm, Stage 2: 90 degrees"}          (or "expected_keywords": ["joint", "neuf"])
`image` is relative to the probe file's folder (or --media-dir) and may be left out for a text-only question.
A probe passes when:
- with `expected_answer`: the answer states every quantity, range and named item of it (numeric exact match);
  an expected answer without any is matched by its content words instead (keyword presence ≥ KEYWORD_SHARE);
- with `expected_keywords`: at least KEYWORD_SHARE of them are in the answer (whole normalised words);
- with both: both hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.loading import InputError, read_records_or_fail
from eval.report import Paragraph, Section, Table, number, rate_of
from eval.tasks.base import fraction, item_table
from fiche_io.files import atomic_write_text
from fiche_io.jsonl import dumps_line
from fiche_schema import IMAGE_TOKEN

KEYWORD_SHARE = 0.8  # the workflow's success criterion for keyword presence


@dataclass(frozen=True)
class Probe:
    id: str
    category: str
    image: str | None
    question: str
    expected_answer: str | None
    expected_keywords: tuple[str, ...]


def _probe(record: object, where: str) -> Probe:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name in ("id", "category", "question"):
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise InputError(f"{where}: {name}: expected a non-empty string, got {record.get(name)!r:.80}")
    image = record.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise InputError(f"{where}: image: expected a path or nothing, got {image!r:.80}")
    answer, keywords = record.get("expected_answer"), record.get("expected_keywords")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise InputError(f"{where}: expected_answer: expected a non-empty string, got {answer!r:.80}")
    if keywords is not None and (not isinstance(keywords, list) or not keywords
                                 or not all(isinstance(word, str) and word.strip() for word in keywords)):
        raise InputError(f"{where}: expected_keywords: expected a non-empty list of strings, got {keywords!r:.80}")
    if answer is None and keywords is None:
        raise InputError(f"{where}: expected_answer or expected_keywords: a probe needs one of them")
    return Probe(record["id"], record["category"], image, record["question"], answer, tuple(keywords or ()))


def load_probes(path: Path) -> list[Probe]:
    """The probes of a JSON array or JSONL file; the first bad one is an InputError naming file, position and field."""
    probes, seen = [], {}
    for line in read_records_or_fail(Path(path)):
        probe = _probe(line.value, line.where(path))
        if probe.id in seen:
            raise InputError(f"{line.where(path)}: id: duplicate {probe.id!r} (first at {seen[probe.id]})")
        seen[probe.id] = line.where(path)
        probes.append(probe)
    if not probes:
        raise InputError(f"{path}: no probes")
    return probes


def write_valset(probes: list[Probe], path: Path) -> Path:
    """The probes as a sharegpt Q&A valset (the expected answer, else the keywords, as the gold turn)."""
    lines = []
    for probe in probes:
        record = {"id": probe.id,
                  "messages": [{"role": "user", "content": (IMAGE_TOKEN if probe.image else "") + probe.question},
                               {"role": "assistant", "content": probe.expected_answer or ", ".join(probe.expected_keywords)}],
                  "images": [probe.image] if probe.image else [],
                  "metadata": {"category": probe.category}}
        if probe.expected_keywords:
            record["metadata"]["keywords"] = list(probe.expected_keywords)
        lines.append(dumps_line(record) + "\n")
    atomic_write_text(path, "".join(lines))
    return path


def probe_verdict(probe: Probe, item: dict | None) -> tuple[bool, str]:
    """Whether the scored Q&A item passes its probe, and why not."""
    from eval.metrics.qa import gold_keywords, keyword_presence

    if item is None or not item["answered"]:
        return False, "no answer"
    problems = []
    if probe.expected_answer is not None:
        if item["numeric_exact_match"] is False:
            problems.append("missing " + ", ".join(item["numeric_missing"]))
        elif item["numeric_exact_match"] is None:
            share = keyword_presence(item["answer"], gold_keywords(probe.expected_answer)) or 0.0
            if share < KEYWORD_SHARE:
                problems.append(f"answer words {share:.2f} < {KEYWORD_SHARE}")
    if probe.expected_keywords:
        share = keyword_presence(item["answer"], probe.expected_keywords) or 0.0
        if share < KEYWORD_SHARE:
            problems.append(f"keywords {share:.2f} < {KEYWORD_SHARE}")
    return not problems, "; ".join(problems)


def probe_results(probes: list[Probe], items: list[dict], threshold: float) -> dict:
    """Each probe's verdict and the pass rate per category, each category against `threshold`."""
    by_id = {item["id"]: item for item in items}
    verdicts = []
    for probe in probes:
        passed, why = probe_verdict(probe, by_id.get(probe.id))
        verdicts.append({"id": probe.id, "category": probe.category, "passed": passed, "why": why})
    categories = {}
    for category in sorted({probe.category for probe in probes}):
        members = [verdict for verdict in verdicts if verdict["category"] == category]
        rate = fraction(sum(verdict["passed"] for verdict in members), len(members))
        categories[category] = {**rate, "below_threshold": rate["rate"] < threshold}
    return {"threshold": threshold, "probes": verdicts, "categories": categories,
            "overall": fraction(sum(verdict["passed"] for verdict in verdicts), len(verdicts))}


def probes_section(results: dict) -> Section:
    threshold = results["threshold"]
    return Section("Probes").add(
        Paragraph(f"Pass rate per category against the threshold {threshold:g} given on the command line; a "
                  f"probe passes when its answer states every quantity of the expected answer and at least "
                  f"{KEYWORD_SHARE:g} of its keywords (rules in eval/probes.py). Overall: "
                  f"{rate_of(results['overall'])}."),
        Table(["category", "passed", "rate", "threshold", "verdict"],
              [[category, f"{stats['count']}/{stats['total']}", number(stats["rate"]), f"{threshold:g}",
                "BELOW" if stats["below_threshold"] else "ok"] for category, stats in results["categories"].items()]),
        *item_table(["probe", "category", "result", "why"],
                    [[verdict["id"], verdict["category"], "pass" if verdict["passed"] else "FAIL", verdict["why"]]
                     for verdict in results["probes"]]))
