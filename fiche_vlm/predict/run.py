"""A whole run: every input asked with bounded concurrency, each answer appended as it arrives, resumable."""
from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_write_text
from fiche_io.images import DEFAULT_LONG_SIDE, long_side_band
from fiche_io.jsonl import dumps_jsonl, dumps_line
from fiche_io.predictions import iter_predictions
from fiche_io.progress import progress_bar
from fiche_io.retry import RetryPolicy
from fiche_vlm import DEFAULT_API_KEY_ENV
from fiche_vlm.predict import requests
from fiche_vlm.predict.answers import FREE_TEXT, load_answer_schema
from fiche_vlm.predict.inputs import DEFAULT_MAX_IMAGE_PIXELS, PredictInput, read_inputs
from fiche_vlm.predict.requests import AuthRejected, PredictSettings

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_TOKENS = 2048  # the longest fiche the schema allows fits; a cut answer is an error, never a result
DEFAULT_TIMEOUT_S = 300.0


def finished_answers(out: Path) -> dict[str, dict[str, Any]]:
    """The answered lines of an earlier run, by id; the file is rewritten without unanswered, duplicate or
    torn lines so that this run's appends leave exactly one line per input."""
    if not out.exists():
        return {}
    kept: dict[str, dict[str, Any]] = {}
    lines = 0
    for entry in iter_predictions(out):  # a line torn by a crash mid-write is dropped: it is asked again
        lines += 1
        if entry.prediction is not None and entry.prediction.answered:
            kept[entry.prediction.id] = entry.line.value
    if len(kept) != lines:
        atomic_write_text(out, dumps_jsonl(kept.values()))
    return kept


@dataclass
class PredictSummary:
    total: int
    skipped: int = 0  # answered by an earlier run
    valid: int = 0
    invalid: dict[str, str] = field(default_factory=dict)  # id → first error; the answers of this run and earlier ones
    failed: dict[str, str] = field(default_factory=dict)  # id → why no answer came (retried by the next run)
    output: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.invalid and not self.failed

    def count(self, record: dict[str, Any]) -> None:
        if record["valid"]:
            self.valid += 1
        elif record["finish_reason"] is None:
            self.failed[record["id"]] = record["errors"][0]
        else:
            self.invalid[record["id"]] = record["errors"][0]

    def report(self) -> str:
        lines = [(f"{self.valid}/{self.total} valid, {len(self.invalid)} invalid, {len(self.failed)} without an answer"
                  f" ({self.skipped} answered by an earlier run) → {self.output}")]
        lines += [f"  invalid {fiche_id}: {error}" for fiche_id, error in sorted(self.invalid.items())]
        lines += [f"  failed  {fiche_id}: {error}" for fiche_id, error in sorted(self.failed.items())]
        return "\n".join(lines)


def predict_file(inputs: str | Path, out: str | Path, *, base_url: str, model: str | None = None,
                 api_key: str | None = None, api_key_env: str = DEFAULT_API_KEY_ENV, schema: str = "fiche",
                 constrain: bool = True, concurrency: int = DEFAULT_CONCURRENCY, temperature: float = 0.0,
                 max_tokens: int = DEFAULT_MAX_TOKENS, timeout: float = DEFAULT_TIMEOUT_S, seed: int | None = None, long_side: tuple[int, int] = DEFAULT_LONG_SIDE,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, data_root: str | Path | None = None,
                 retry: RetryPolicy = RetryPolicy(), overwrite: bool = False, show_progress: bool = True,
                 on_result: Callable[[dict[str, Any]], None] | None = None) -> PredictSummary:
    """Predict every fiche of `inputs` (fiche JSONL or sharegpt) into `out` (predictions.jsonl), resuming.

    Raises InputError for a bad input file (nothing sent) and AuthRejected for a refused key (the run stops,
    the lines written so far stay). Per-fiche problems are lines with `valid: false` and their reasons.
    """
    long_side_band(*long_side)  # a bad band is the caller's error (ValueError), not every fiche's
    out = Path(out)
    items = read_inputs(Path(inputs), Path(data_root) if data_root else None)
    answer_schema, check = load_answer_schema(schema)
    if overwrite:
        out.unlink(missing_ok=True)
    done = finished_answers(out)
    summary = PredictSummary(total=len(items), output=out)
    for item in items:
        earlier = done.get(item.id)
        if earlier is None:
            continue
        summary.skipped += 1
        if earlier.get("valid"):
            summary.valid += 1
        else:
            summary.invalid[item.id] = (earlier.get("errors") or ["invalid"])[0]
    todo = [item for item in items if item.id not in done]
    if not todo:
        return summary
    schema_name = re.sub(r"[^A-Za-z0-9_-]", "_", Path(schema).name.removesuffix(".json").removesuffix(".schema"))

    async def run() -> None:
        client = requests.make_client(base_url, api_key or os.environ.get(api_key_env), timeout)
        async with client:
            settings = PredictSettings(
                model=model or await requests.served_model(client, retry), schema=answer_schema, check=check,
                schema_name=schema_name, constrain=constrain, free_text=schema == FREE_TEXT, temperature=temperature,
                max_tokens=max_tokens, seed=seed, long_side=long_side, max_image_pixels=max_image_pixels,
                timeout=timeout, retry=retry)
            await _ask_all(client, todo, settings, out, summary, max(1, concurrency), show_progress, on_result)

    asyncio.run(run())
    return summary


async def _ask_all(client: Any, todo: list[PredictInput], settings: PredictSettings, out: Path,
                   summary: PredictSummary, concurrency: int, show_progress: bool,
                   on_result: Callable[[dict[str, Any]], None] | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    slots = asyncio.Semaphore(concurrency)
    progress = progress_bar("predict", shown=show_progress)
    task = progress.add_task("predict", total=len(todo), status="")

    with progress, out.open("a", encoding="utf-8") as sink:
        async def one(item: PredictInput) -> None:
            async with slots:
                if stop.is_set():
                    return
                try:
                    record = await requests.ask(client, item, settings, stop)
                except AuthRejected:
                    stop.set()  # no new requests: each would be refused the same way
                    raise
            sink.write(dumps_line(record) + "\n")
            sink.flush()
            summary.count(record)
            if on_result is not None:
                on_result(record)
            progress.update(task, advance=1,
                            status=f"valid {summary.valid} invalid {len(summary.invalid)} failed {len(summary.failed)}")

        results = await asyncio.gather(*(one(item) for item in todo), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    auth = next((error for error in errors if isinstance(error, AuthRejected)), None)
    if auth is not None:
        raise auth
    if errors:
        raise errors[0]
