"""When a model's answer counts as finished: the one rule `fiche predict` and `fiche repair` apply.

Only `stop` is a normal end. `length` was cut at max_tokens; `content_filter`, `tool_calls`, an unknown reason
or none at all (null: the request got no answer) leave an answer that cannot be trusted whole.
"""
from __future__ import annotations

from typing import Any


def finish_problem(finish_reason: Any, max_tokens: int | None = None) -> str | None:
    """Why an answer with this finish_reason is not a result, or None when it ended normally."""
    if finish_reason == "stop":
        return None
    if finish_reason == "length":
        return "finish_reason=length: the answer was cut at max_tokens" + (f"={max_tokens}" if max_tokens else "")
    shown = "null" if finish_reason is None else finish_reason
    return f"finish_reason={shown}: the answer did not end normally"
