"""Click types for the numeric options every `fiche` command shares: a bad value is refused when the command
line is parsed, with the option's name, before any work starts.

click's FloatRange lets NaN through every bound (each comparison with NaN is false) and lets infinity through
a lower bound, so seconds and ratios go through FiniteFloatRange.
"""
from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan, inf and -inf."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


SECONDS = FiniteFloatRange(min=0, min_open=True)  # a timeout: more than 0 s
POSITIVE_INT = click.IntRange(min=1)
