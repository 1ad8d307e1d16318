"""Checking conversation turns from users' files and putting them in sharegpt's role/content shape."""
from __future__ import annotations

from typing import Any

from fiche_io.jsonl import RecordError
from fiche_schema import IMAGE_TOKEN

ROLE_NAMES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}


def normalise_turns(turns: object, field: str = "conversations") -> list[dict[str, str]]:
    """[{role, content}] from `{"role","content"}` or `{"from","value"}` turns: optional system first, then
    user/assistant alternating, ending on assistant (LLaMA-Factory drops anything else)."""
    if not isinstance(turns, list) or not turns:
        raise RecordError(field, f"expected a non-empty list of turns, got {turns!r:.80}")
    messages: list[dict[str, str]] = []
    offset = 0  # 1 when a system turn comes first
    for index, turn in enumerate(turns):
        where = f"{field}[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(where, f"expected an object with role and content, got {turn!r:.80}")
        role_name = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        role = ROLE_NAMES.get(role_name) if isinstance(role_name, str) else None
        if role is None:
            raise RecordError(f"{where}.role", f"unknown role {role_name!r} (expected user, assistant or system)")
        if not isinstance(content, str) or not content.strip():
            raise RecordError(f"{where}.content", f"expected non-empty text, got {content!r:.80}")
        if index == 0 and role == "system":
            offset = 1
        elif role != (expected := ("user", "assistant")[(index - offset) % 2]):
            raise RecordError(f"{where}.role", f"expected {expected!r} here (turns alternate user/assistant), got {role!r}")
        messages.append({"role": role, "content": content})
    dialogue = messages[1:] if messages[0]["role"] == "system" else messages
    if not dialogue:
        raise RecordError(field, "has no user turn")
    if dialogue[-1]["role"] != "assistant":
        raise RecordError(f"{field}[{len(turns) - 1}]", "the last turn must be the assistant's answer")
    return messages


def place_image_token(messages: list[dict[str, str]], field: str = "conversations") -> list[dict[str, str]]:
    """The messages with one `<image>` at the start of the first user turn; text already holding `<image>` is
    refused, as LLaMA-Factory would then count more image slots than images."""
    for index, message in enumerate(messages):
        if IMAGE_TOKEN in message["content"]:
            raise RecordError(f"{field}[{index}].content",
                              f"contains {IMAGE_TOKEN!r}: the converter places the single image itself")
    first_user = next(index for index, message in enumerate(messages) if message["role"] == "user")
    placed = [dict(message) for message in messages]
    placed[first_user]["content"] = IMAGE_TOKEN + placed[first_user]["content"]
    return placed


def require_text(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(field, f"expected non-empty text, got {value!r:.80}")
    if IMAGE_TOKEN in value:
        raise RecordError(field, f"contains {IMAGE_TOKEN!r}, which LLaMA-Factory would read as an image slot")
    return value
