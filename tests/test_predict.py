"""`fiche predict` without a server: what it sends, how it judges answers, what it retries, how it resumes.

The OpenAI client runs for real over an httpx MockTransport that answers like vLLM, so these tests see the
exact HTTP requests; the same paths against the real vLLM server are in test_serve_server.py.
"""
from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image

import fiche_vlm.predict.requests as requests_module
from converters.fiche import user_prompt
from fiche_io.images import grid_size
from fiche_schema import load_schema
from fiche_schema.canonical import canonical_text
from fiche_schema.validate import validate_fiche
from fiche_vlm.cli import main
from fiche_vlm.predict import (
    AuthRejected,
    InputError,
    PredictSettings,
    RetryPolicy,
    chat_messages,
    finished_answers,
    judge_answer,
    load_answer_schema,
    predict_file,
    predict_one,
    read_inputs,
)

BAD = Path(__file__).parent / "data" / "bad"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


def sample_records(sample_fiches: Path) -> list[dict]:
    return [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def fiches(tmp_path: Path, sample_fiches: Path) -> Path:
    """The first three sample fiches, copied with their views into tmp_path."""
    records = sample_records(sample_fiches)[:3]
    for record in records:
        for name in record["images"]:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sample_fiches.parent / name, tmp_path / name)
    path = tmp_path / "fiches.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def completion(content: str, finish_reason: str = "stop") -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fiche",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}


class FakeVLLM:
    """An httpx handler answering /models and /chat/completions; records every request it saw."""

    def __init__(self, answer: Callable[[dict], httpx.Response]) -> None:
        self.answer = answer
        self.chats: list[dict] = []
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "fiche", "object": "model"}]})
        body = json.loads(request.content)
        self.chats.append(body)
        return self.answer(body)

    def client(self):
        from openai import AsyncOpenAI

        return AsyncOpenAI(base_url="http://fake/v1", api_key="k", max_retries=0,
                           http_client=httpx.AsyncClient(transport=httpx.MockTransport(self)))


@pytest.fixture
def gold_answers(sample_fiches: Path) -> dict[str, str]:
    return {record["id"]: canonical_text(record["output"]) for record in sample_records(sample_fiches)}


def use_fake(monkeypatch, fake: FakeVLLM) -> None:
    monkeypatch.setattr(requests_module, "make_client", lambda *args, **kwargs: fake.client())


# --- what is sent ---------------------------------------------------------------------------------------------

def test_fiche_request_is_views_then_the_training_prompt(fiches: Path) -> None:
    record = json.loads(fiches.read_text(encoding="utf-8").splitlines()[0])
    item = read_inputs(fiches)[0]
    messages = chat_messages(item, (224, 224), 10**8)
    content = messages[0]["content"]
    assert [part["type"] for part in content] == ["image_url"] * len(record["images"]) + ["text"]
    assert content[-1]["text"] == user_prompt(record["instruction"], record["context_text"])
    url = content[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    with Image.open(fiches.parent / record["images"][0]) as original:
        assert sent.size == grid_size(*original.size, long_side=(224, 224))


def test_sharegpt_request_renders_to_the_training_text(tmp_path: Path, fiches: Path, tiny_model_dir: Path) -> None:
    """`<image><image>TEXT` is sent as [image, image, text]; through the served model's chat template (rendered
    by transformers, as vLLM does) it is LLaMA-Factory's qwen2_vl training text."""
    from transformers import AutoTokenizer

    record = json.loads(fiches.read_text(encoding="utf-8").splitlines()[0])
    text = "<image>" * len(record["images"]) + user_prompt(record["instruction"], record["context_text"])
    sharegpt = [{"id": record["id"], "images": record["images"],
                 "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "{}"}]}]
    path = tmp_path / "val.json"
    path.write_text(json.dumps(sharegpt, ensure_ascii=False), encoding="utf-8")
    messages = chat_messages(read_inputs(path)[0], (224, 224), 10**8)
    assert all(message["role"] != "assistant" for message in messages)  # the gold is not sent
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    vision = "<|vision_start|><|image_pad|><|vision_end|>"
    assert rendered == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                        + text.replace("<image>", vision) + "<|im_end|>\n<|im_start|>assistant\n")


def test_images_between_texts_keep_their_place(tmp_path: Path, fiches: Path) -> None:
    record = json.loads(fiches.read_text(encoding="utf-8").splitlines()[0])
    sharegpt = {"id": "q1", "images": record["images"][:2],
                "messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "Front <image> and top <image> — which is wider?"}]}
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(sharegpt) + "\n", encoding="utf-8")
    messages = chat_messages(read_inputs(path)[0], (224, 224), 10**8)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    kinds = [(part["type"], part.get("text")) for part in messages[1]["content"]]
    assert kinds == [("text", "Front "), ("image_url", None), ("text", " and top "), ("image_url", None),
                     ("text", " — which is wider?")]


def test_constrained_request_sends_the_strict_json_schema(fiches: Path, gold_answers: dict[str, str]) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion(next(iter(gold_answers.values())))))
    settings = PredictSettings(model="fiche", schema=load_schema("fiche"), long_side=(224, 224), seed=7)
    items = read_inputs(fiches)
    predict_one(fake.client(), items[1], settings)
    body = fake.chats[0]
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "fiche", "schema": load_schema("fiche"), "strict": True}}
    assert body["temperature"] == 0.0 and body["seed"] == 8 and body["model"] == "fiche"
    assert "guided_json" not in body and "guided_json" not in json.dumps(body.get("extra_body", {}))


def test_no_constraint_sends_no_response_format_but_still_validates(fiches: Path) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion('{"object": "x"}')))
    settings = PredictSettings(model="fiche", schema=load_schema("fiche"), check=validate_fiche, constrain=False,
                               long_side=(224, 224))
    record = predict_one(fake.client(), read_inputs(fiches)[0], settings)
    assert "response_format" not in fake.chats[0]
    assert record["valid"] is False and record["json"] is None
    assert any("'function' is a required property" in error for error in record["errors"])


# --- how answers are judged -----------------------------------------------------------------------------------

def test_a_cut_answer_is_an_error_not_a_result(gold_answers: dict[str, str]) -> None:
    gold = next(iter(gold_answers.values()))
    value, valid, errors = judge_answer(gold, "length", validate_fiche, 64)
    assert (value, valid) == (None, False) and "finish_reason=length" in errors[0] and "64" in errors[0]


def test_a_valid_answer_carries_its_json(gold_answers: dict[str, str]) -> None:
    gold = next(iter(gold_answers.values()))
    assert judge_answer(gold, "stop", validate_fiche, 64) == (json.loads(gold), True, [])


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"object": "x"', "not JSON"),
    ('{"object": NaN}', "not JSON"),
    ("[]", "$: [] fails type 'object'"),
])
def test_invalid_answers_say_why(raw: str, expected: str) -> None:
    value, valid, errors = judge_answer(raw, "stop", validate_fiche, 64)
    assert value is None and not valid and expected in errors[0]


def test_schema_errors_name_the_field(gold_answers: dict[str, str]) -> None:
    answer = json.loads(next(iter(gold_answers.values())))
    answer["dimensions"]["H"] = -3
    answer["object"] = "bad\u0001char"
    _, valid, errors = judge_answer(json.dumps(answer), "stop", validate_fiche, 64)
    assert not valid
    assert any(error.startswith("$.dimensions.H:") for error in errors)
    assert any(error.startswith("$.object:") for error in errors)


def test_free_text_answers_are_valid_when_they_end(fiches: Path) -> None:
    """Q&A and CadQuery answers: no response_format, no JSON parse; only finish_reason decides."""
    code = "import cadquery as cq\nresult = cq.Workplane().box(1, 2, 3)"
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion(code)))
    schema, check = load_answer_schema("text")
    settings = PredictSettings(model="fiche", schema=schema, check=check, free_text=True, long_side=(224, 224))
    record = predict_one(fake.client(), read_inputs(fiches)[0], settings)
    assert "response_format" not in fake.chats[0]
    assert (record["raw"], record["valid"], record["json"], record["errors"]) == (code, True, None, [])
    assert judge_answer(code, "length", None, 64, free_text=True)[1] is False


def test_cad_answers_get_the_full_cad_check() -> None:
    """--schema cad checks what the schema alone cannot: here a feature that names a sketch that does not exist."""
    from fiche_schema.validate import schema_validator

    document = json.loads((Path(__file__).parent / "data" / "post_cad_plate.json").read_text(encoding="utf-8"))
    _, check = load_answer_schema("cad")
    assert check(document) == []
    extrude = next(operation for operation in document["operations"] if operation["type"] == "extrude")
    extrude["sketch"] = "s9"
    assert schema_validator("cad_operations").errors(document) == []  # the schema alone lets it through
    errors = check(document)
    assert errors and any("s9" in error for error in errors), errors


def test_a_custom_schema_uses_ecma_patterns(tmp_path: Path) -> None:
    """A schema's `$` ends the string (ECMA-262, as xgrammar reads it); Python's re also lets a final newline by."""
    path = tmp_path / "part.schema.json"
    path.write_text(json.dumps({"type": "object", "properties": {"ref": {"type": "string", "pattern": "^\\d+$"}},
                                "required": ["ref"], "additionalProperties": False}), encoding="utf-8")
    _, check = load_answer_schema(str(path))
    assert check({"ref": "123"}) == []
    assert check({"ref": "123\n"})


# --- what is retried ------------------------------------------------------------------------------------------

def test_5xx_is_retried_until_an_answer_comes(fiches: Path, gold_answers: dict[str, str]) -> None:
    statuses = iter([503, 500])

    def answer(body: dict) -> httpx.Response:
        status = next(statuses, 200)
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "engine dead", "code": status}})
        return httpx.Response(200, json=completion(next(iter(gold_answers.values()))))

    fake = FakeVLLM(answer)
    record = predict_one(fake.client(), read_inputs(fiches)[0],
                         PredictSettings(model="fiche", schema=load_schema("fiche"), check=validate_fiche,
                                                         long_side=(224, 224), retry=FAST_RETRY))
    assert len(fake.chats) == 3 and record["valid"]


@pytest.mark.parametrize(("error", "reported"), [
    (httpx.ConnectError("connection refused"), "APIConnectionError: Connection error. after 3 attempt(s)"),
    (httpx.ReadTimeout("read timed out"), "request timed out after 3 attempt(s)"),
])
def test_connection_errors_and_timeouts_are_retried_then_reported(fiches: Path, error: Exception,
                                                                  reported: str) -> None:
    attempts = []

    def fail(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise error

    from openai import AsyncOpenAI
    client = AsyncOpenAI(base_url="http://fake/v1", api_key="k", max_retries=0,
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(fail)))
    record = predict_one(client, read_inputs(fiches)[0],
                         PredictSettings(model="fiche", schema=None, long_side=(224, 224), retry=FAST_RETRY))
    assert len(attempts) == 3
    assert record["finish_reason"] is None and record["errors"] == [reported]


@pytest.mark.parametrize("status", [400, 404, 413, 422, 429])
def test_4xx_is_never_retried(fiches: Path, status: int) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(status, json={"error": {"message": "too many images", "code": status}}))
    record = predict_one(fake.client(), read_inputs(fiches)[0],
                         PredictSettings(model="fiche", schema=None, long_side=(224, 224), retry=FAST_RETRY))
    assert len(fake.chats) == 1
    assert record["errors"] == [f"HTTP {status}: too many images (not retried)"]


def test_a_refused_key_stops_the_run_without_a_retry_storm(tmp_path: Path, fiches: Path, monkeypatch) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(401, json={"error": "Unauthorized"}))
    use_fake(monkeypatch, fake)
    with pytest.raises(AuthRejected, match="refused the API key"):
        predict_file(fiches, tmp_path / "p.jsonl", base_url="http://fake/v1", model="fiche", concurrency=2,
                     long_side=(224, 224), retry=FAST_RETRY, show_progress=False)
    assert len(fake.chats) <= 2  # the requests already in flight, each once


# --- resume and exit codes ------------------------------------------------------------------------------------

def test_results_are_appended_and_a_rerun_redoes_only_unanswered(tmp_path: Path, fiches: Path,
                                                                 gold_answers: dict[str, str], monkeypatch) -> None:
    items = read_inputs(fiches)
    failing = {items[1].id}

    def answer(body: dict) -> httpx.Response:
        if failing and body.get("seed") == 1:
            return httpx.Response(502, json={"error": {"message": "bad gateway"}})
        return httpx.Response(200, json=completion(next(iter(gold_answers.values()))))

    fake = FakeVLLM(answer)
    use_fake(monkeypatch, fake)
    out = tmp_path / "predictions.jsonl"
    first = predict_file(fiches, out, base_url="http://fake/v1", model="fiche", seed=0, long_side=(224, 224),
                         retry=FAST_RETRY, show_progress=False)
    assert first.valid == 2 and list(first.failed) == [items[1].id] and not first.ok
    with out.open("a", encoding="utf-8") as sink:
        sink.write('{"id": "torn')  # a crash in the middle of a line
    failing.clear()
    calls_before = len(fake.chats)
    second = predict_file(fiches, out, base_url="http://fake/v1", model="fiche", seed=0, long_side=(224, 224),
                          retry=FAST_RETRY, show_progress=False)
    assert len(fake.chats) == calls_before + 1  # only the unanswered fiche
    assert second.ok and second.skipped == 2 and second.valid == 3
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item.id for item in items)
    assert set(lines[0]) == {"id", "raw", "json", "valid", "errors", "finish_reason", "latency_s", "usage"}


def test_finished_answers_keep_the_last_answer_per_id(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    out.write_text('{"id": "a", "finish_reason": "stop", "valid": false}\n'
                   '{"id": "a", "finish_reason": "stop", "valid": true}\n'
                   '{"id": "b", "finish_reason": null, "valid": false}\n', encoding="utf-8")
    assert finished_answers(out) == {"a": {"id": "a", "finish_reason": "stop", "valid": True}}
    assert out.read_text(encoding="utf-8") == '{"id": "a", "finish_reason": "stop", "valid": true}\n'


def test_cli_exits_1_and_names_each_invalid_fiche(tmp_path: Path, fiches: Path, monkeypatch) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion('{"object": "x"}', "length")))
    use_fake(monkeypatch, fake)
    out = tmp_path / "p.jsonl"
    result = CliRunner().invoke(main, ["predict", str(fiches), "--out", str(out), "--long-side", "224", "224",
                                       "--max-tokens", "16"])
    assert result.exit_code == 1
    for item in read_inputs(fiches):
        assert f"invalid {item.id}: finish_reason=length" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_cli_exits_0_when_every_answer_is_valid(tmp_path: Path, fiches: Path, gold_answers: dict[str, str],
                                               monkeypatch) -> None:
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion(next(iter(gold_answers.values())))))
    use_fake(monkeypatch, fake)
    result = CliRunner().invoke(main, ["predict", str(fiches), "--out", str(tmp_path / "p.jsonl"),
                                       "--long-side", "224", "224", "--concurrency", "3"])
    assert result.exit_code == 0, result.output
    assert "3/3 valid" in result.output
    assert fake.calls[0].endswith("/models")  # the model name came from the server


# --- bad inputs -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("serve_duplicate_id.jsonl", ":2: id: duplicate id 'plate-01' (first at"),
    ("serve_missing_instruction.jsonl", ":1: instruction: expected a non-empty string"),
    ("serve_malformed_line.jsonl", ":2: line: malformed JSON"),
    ("serve_image_escapes_root.jsonl", ":1: images[0]: path '../../secret.png' escapes the data root"),
    ("serve_image_marker_count.json", ".json:1: images: 1 images for 2 <image> markers"),
    ("serve_last_turn_not_user.json", ".json:1: messages: the last turn to send must be a user turn"),
])
def test_bad_input_files_name_file_line_and_field(name: str, expected: str) -> None:
    with pytest.raises(InputError) as raised:
        read_inputs(BAD / name)
    assert f"{BAD / name}" in str(raised.value) and expected in str(raised.value)


@pytest.mark.parametrize(("image", "expected"), [
    ("serve_corrupt_image.png", "cannot read serve_corrupt_image.png as an image"),
    ("serve_huge_image.png", "serve_huge_image.png is 12000×9000 = 108,000,000 px, above the limit"),
    ("serve_absent_image.png", "image not found"),
])
def test_a_bad_view_fails_its_fiche_only(tmp_path: Path, fiches: Path, image: str, expected: str,
                                         gold_answers: dict[str, str], monkeypatch) -> None:
    records = [json.loads(line) for line in fiches.read_text(encoding="utf-8").splitlines()]
    if (BAD / image).exists():
        shutil.copy(BAD / image, tmp_path / image)
    records[1]["images"] = [records[1]["images"][0], image]
    fiches.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    fake = FakeVLLM(lambda body: httpx.Response(200, json=completion(next(iter(gold_answers.values())))))
    use_fake(monkeypatch, fake)
    summary = predict_file(fiches, tmp_path / "p.jsonl", base_url="http://fake/v1", model="fiche",
                           long_side=(224, 224), show_progress=False)
    assert summary.valid == 2 and len(fake.chats) == 2
    assert expected in summary.failed[records[1]["id"]]
    assert f"{fiches}:2: images:" in summary.failed[records[1]["id"]]


# --- replies that are no chat completion, and servers that never finish (issue 21, cases 15 and 18) -----------

@pytest.mark.parametrize(("reply", "attempts", "expected"), [
    (lambda: httpx.Response(200, text="<html>proxy says hi</html>", headers={"content-type": "text/html"}), 3,
     "malformed reply: the body is not JSON"),
    (lambda: httpx.Response(200, content=b"not json at all", headers={"content-type": "application/json"}), 3,
     "malformed reply: the body is not JSON"),
    (lambda: httpx.Response(200, json={**completion("{}"), "choices": []}), 3, "malformed reply: no choices"),
    (lambda: httpx.Response(200, json={"id": "chatcmpl-1", "object": "chat.completion"}), 3,
     "malformed reply: no choices"),
    (lambda: httpx.Response(302, headers={"location": "http://elsewhere/v1/chat/completions"}), 1,
     "HTTP 302: redirected to http://elsewhere/v1/chat/completions (check --base-url) (not retried)"),
])
def test_a_reply_that_is_no_chat_completion_fails_its_fiche_only(tmp_path: Path, fiches: Path, reply, attempts: int,
                                                                expected: str, gold_answers: dict[str, str],
                                                                monkeypatch) -> None:
    first = read_inputs(fiches)[0].id

    def answer(body: dict) -> httpx.Response:  # with --seed 0, request k has seed k: the first fiche has 0
        return reply() if body.get("seed") == 0 else httpx.Response(200, json=completion(next(iter(gold_answers.values()))))

    fake = FakeVLLM(answer)
    use_fake(monkeypatch, fake)
    summary = predict_file(fiches, tmp_path / "p.jsonl", base_url="http://fake/v1", model="fiche", seed=0,
                           long_side=(224, 224), retry=FAST_RETRY, show_progress=False)
    assert list(summary.failed) == [first] and summary.valid == 2
    assert summary.failed[first].startswith(expected) or expected in summary.failed[first], summary.failed
    assert sum(body.get("seed") == 0 for body in fake.chats) == attempts
    assert len((tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()) == 3


def test_timeout_is_a_deadline_for_the_whole_request_even_when_the_server_drips(tmp_path: Path, fiches: Path) -> None:
    """A server that sends one byte a second never trips a per-read timeout; the deadline still ends the request."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection:
            connection.recv(1 << 20)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
            for _ in range(60):  # bounded: at most a minute, and it stops with the test
                if stop.wait(1.0):
                    return
                try:
                    connection.sendall(b" ")
                except OSError:
                    return

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        started = time.monotonic()
        summary = predict_file(fiches, tmp_path / "p.jsonl", base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                               model="fiche", long_side=(224, 224), timeout=1.5, concurrency=3,
                               retry=RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.1), show_progress=False)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.join(5)
        listener.close()
    assert len(summary.failed) == 3
    assert all(error == "request timed out (no complete answer within --timeout 1.5 s) after 2 attempt(s)"
               for error in summary.failed.values()), summary.failed
    assert elapsed < 15, f"took {elapsed:.1f} s: the deadline did not hold"  # before: 500 s, one read per byte
