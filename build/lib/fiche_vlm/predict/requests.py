"""One request to the endpoint: a deadline for the whole request, retries where a retry can help, and every
reply checked for shape before it is believed (a proxy or a broken server can answer 200 with anything)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from fiche_io.images import DEFAULT_LONG_SIDE
from fiche_io.jsonl import StrictJSONError, loads_strict
from fiche_io.retry import RetriesExhausted, RetryPolicy, call_with_retry
from fiche_vlm.predict.answers import Check, judge_answer
from fiche_vlm.predict.inputs import DEFAULT_MAX_IMAGE_PIXELS, ImageProblem, PredictInput, chat_messages


class AuthRejected(RuntimeError):
    """The server refused the API key (401/403): every other request would fail the same way."""


class MalformedReply(RuntimeError):
    """A 2xx reply that is not a chat completion (not JSON, no choices…); retried, a proxy may have garbled it."""


class RequestDeadline(TimeoutError):
    """The whole request (connect, wait, every byte of the reply) took longer than the timeout."""


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
    timeout: float = 300.0  # seconds for a whole request; a server that drips its answer is cut at this deadline
    retry: RetryPolicy = RetryPolicy()

    def response_format(self) -> dict[str, Any] | None:
        if not self.constrain or self.free_text:
            return None
        if self.schema is None:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.schema_name, "schema": self.schema, "strict": True}}


def make_client(base_url: str, api_key: str | None, timeout: float) -> Any:
    # max_retries=0: the openai client would also retry 409/429; ours retries only what can help.
    # follow_redirects off: a redirect means a wrong --base-url, and would turn a POST into a GET.
    import httpx
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=0,
                       http_client=httpx.AsyncClient(timeout=timeout, follow_redirects=False))


def is_retryable(error: Exception) -> bool:
    import openai

    if isinstance(error, (openai.APIConnectionError, TimeoutError, MalformedReply)):  # APITimeoutError included
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


def describe_error(error: Exception) -> str:
    import openai

    if isinstance(error, openai.APIStatusError):
        if 300 <= error.status_code < 400:
            location = error.response.headers.get("location")
            return f"HTTP {error.status_code}: redirected{f' to {location}' if location else ''} (check --base-url)"
        body = error.body  # the openai client unwraps vLLM's {"error": {...}}
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        message = body.get("message") if isinstance(body, dict) else body if isinstance(body, str) else None
        return f"HTTP {error.status_code}: {message or error.message}"
    if isinstance(error, (openai.APITimeoutError, RequestDeadline)):
        return f"request timed out ({error})" if isinstance(error, RequestDeadline) else "request timed out"
    if isinstance(error, MalformedReply):
        return f"malformed reply: {error}"
    return f"{type(error).__name__}: {error}"


def failure_record(item: PredictInput, problem: str, latency: float) -> dict[str, Any]:
    """A line for a fiche that got no answer; finish_reason null marks it for a retry by the next run."""
    return {"id": item.id, "raw": "", "json": None, "valid": False, "errors": [problem], "finish_reason": None,
            "latency_s": round(latency, 3), "usage": None}


def completion_fields(body: str) -> tuple[str, str | None, dict | None]:
    """(content, finish_reason, usage) of a chat completion body; MalformedReply when it is not one."""
    try:
        reply = loads_strict(body)
    except StrictJSONError as error:
        raise MalformedReply(f"the body is not JSON ({error}): {body[:80]!r}") from None
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not isinstance(choices, list) or not choices:
        raise MalformedReply(f"no choices in the reply: {body[:80]!r}")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    finish_reason = choice.get("finish_reason") if isinstance(choice, dict) else None
    if not isinstance(message, dict) or not isinstance(content, (str, type(None))) \
            or not isinstance(finish_reason, (str, type(None))):
        raise MalformedReply(f"choices[0] is not a chat message: {body[:80]!r}")
    usage = reply.get("usage")
    if isinstance(usage, dict):
        usage = {key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens") if key in usage}
    else:
        usage = None
    return content or "", finish_reason, usage


async def _post(client: Any, request: dict[str, Any], timeout: float) -> str:
    """The body of one chat completion, within `timeout` seconds from the first byte sent to the last received."""
    import openai

    async def send() -> str:
        response = await client.chat.completions.with_raw_response.create(**request)
        return response.http_response.text

    try:
        return await asyncio.wait_for(send(), timeout)
    except TimeoutError:
        raise RequestDeadline(f"no complete answer within --timeout {timeout:g} s") from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
        raise AuthRejected(f"the server refused the API key ({describe_error(error)})") from error


async def ask(client: Any, item: PredictInput, settings: PredictSettings,
              stop: asyncio.Event | None = None) -> dict[str, Any]:
    """The predictions.jsonl line for one input. Raises AuthRejected; every other failure becomes the line."""
    started = time.monotonic()
    try:
        messages = await asyncio.to_thread(chat_messages, item, settings.long_side, settings.max_image_pixels)
    except ImageProblem as error:
        return failure_record(item, str(error), time.monotonic() - started)
    request: dict[str, Any] = {"model": settings.model, "messages": messages, "temperature": settings.temperature,
                               "max_tokens": settings.max_tokens}
    if settings.seed is not None:
        request["seed"] = settings.seed + item.index
    response_format = settings.response_format()
    if response_format is not None:
        request["response_format"] = response_format
    sent = time.monotonic()

    async def attempt() -> tuple[str, str | None, dict | None]:
        nonlocal sent
        sent = time.monotonic()
        return completion_fields(await _post(client, request, settings.timeout))

    try:
        raw, finish_reason, usage = await call_with_retry(attempt, is_retryable, settings.retry, stop)
    except RetriesExhausted as exhausted:
        return failure_record(item, f"{describe_error(exhausted.error)} after {exhausted.attempts} attempt(s)",
                              time.monotonic() - started)
    except AuthRejected:
        raise
    except Exception as error:  # noqa: BLE001 - every other error is this fiche's, named in its line
        return failure_record(item, f"{describe_error(error)} (not retried)", time.monotonic() - started)
    value, valid, errors = judge_answer(raw, finish_reason, settings.check, settings.max_tokens, settings.free_text)
    return {"id": item.id, "raw": raw, "json": value, "valid": valid, "errors": errors,
            "finish_reason": finish_reason, "latency_s": round(time.monotonic() - sent, 3), "usage": usage}


def predict_one(client: Any, item: PredictInput, settings: PredictSettings) -> dict[str, Any]:
    """`ask` for one input, outside any event loop."""
    return asyncio.run(ask(client, item, settings))


async def served_model(client: Any, retry: RetryPolicy) -> str:
    """The first model the server lists; also the check that it answers and accepts the key."""
    import openai

    try:
        models = (await call_with_retry(client.models.list, is_retryable, retry)).data
    except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
        raise AuthRejected(f"the server refused the API key ({describe_error(error)})") from error
    except RetriesExhausted as exhausted:
        raise ConnectionError(f"cannot list the served models: {describe_error(exhausted.error)}") from exhausted
    except openai.APIError as error:
        raise ConnectionError(f"cannot list the served models: {describe_error(error)}") from error
    if not models:
        raise ConnectionError("the server serves no model")
    return models[0].id
