"""One retry loop for every network call: exponential backoff with jitter, only for errors worth retrying."""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


class RetriesExhausted(Exception):
    """The last error of a call that was retried as often as allowed (or stopped); `attempts` made."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


async def call_with_retry(call: Callable[[], Awaitable[T]], retryable: Callable[[Exception], bool],
                          policy: RetryPolicy, stop: asyncio.Event | None = None) -> T:
    """`await call()`'s result. An error `retryable` refuses is raised at once, as it is; a retryable one is
    retried after a backoff until `policy.attempts` or `stop` is set, then raised wrapped in RetriesExhausted."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as error:
            if not retryable(error):
                raise
            if attempt >= policy.attempts or (stop is not None and stop.is_set()):
                raise RetriesExhausted(error, attempt) from error
            await asyncio.sleep(policy.delay(attempt))
