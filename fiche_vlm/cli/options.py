"""The options several `fiche` commands share: one name, one meaning, one default everywhere.

`-o/--out` is where a command writes: a file for a command that writes one file, a folder for one that writes
several. `--data-root` is the folder image paths are read from and must stay inside. `--schema` takes the same
values in every command. Old spellings keep working for one release, with a deprecation message.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fiche_io.images import DEFAULT_LONG_SIDE, long_side_band
from fiche_io.retry import RetryPolicy
from fiche_vlm import DEFAULT_API_KEY_ENV
from fiche_vlm.predict.answers import SCHEMA_CHOICES
from fiche_vlm.predict.run import DEFAULT_CONCURRENCY, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT_S

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_RETRIES = RetryPolicy().attempts

IN_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan, inf and -inf: click's FloatRange lets NaN through every bound (each
    comparison with NaN is false) and infinity through a lower bound."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


SECONDS = FiniteFloatRange(min=0, min_open=True)  # a timeout: more than 0 s
POSITIVE_INT = click.IntRange(min=1)
FOLDER = click.Path(file_okay=False, path_type=Path)


def out_option(help: str, *, folder: bool = False, required: bool = True, default: Any = None) -> Callable:
    kind = FOLDER if folder else click.Path(dir_okay=False, path_type=Path)
    return click.option("-o", "--out", "out", required=required and default is None, default=default,
                        show_default=default is not None, type=kind, help=help)


def _deprecated(old: str, new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def warn(context: click.Context, parameter: click.Parameter, value: Any) -> Any:
        if value is not None:
            click.echo(f"warning: {old} is deprecated and will be removed in the next release; use {new}", err=True)
        return value
    return warn


def data_root_option(help: str = "Folder the image paths are read from; they must stay inside it. "
                                 "Default: the input file's folder.", *, media_dir_alias: bool = False) -> Callable:
    """--data-root; with `media_dir_alias`, also the old --media-dir of predict and eval (passed as `media_dir`)."""
    def decorate(command: Callable) -> Callable:
        if media_dir_alias:
            command = click.option("--media-dir", "media_dir", hidden=True, type=FOLDER, default=None,
                                   callback=_deprecated("--media-dir", "--data-root"))(command)
        return click.option("--data-root", "data_root", type=FOLDER, default=None, help=help)(command)
    return decorate


def pick_data_root(data_root: Path | None, media_dir: Path | None) -> Path | None:
    return data_root if data_root is not None else media_dir


def check_long_side(context: click.Context, parameter: click.Parameter, value: tuple[int, int]) -> tuple[int, int]:
    """The band must hold a multiple of 28 px and keep square views within the input images' pixel limit."""
    try:
        long_side_band(*value)
    except ValueError as error:
        raise click.BadParameter(str(error), context, parameter) from None
    return value


def long_side_option(help: str = "Band (px) for the long side of the fitted views; both sides become multiples of "
                                 "28. The same band as `fiche convert`.") -> Callable:
    return click.option("--long-side", nargs=2, type=int, metavar="LO HI", default=DEFAULT_LONG_SIDE,
                        show_default=True, help=help, callback=check_long_side)


temperature_option = click.option(
    "--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True,
    help="Sampling temperature; 0 is greedy, the same answer every time.")


def schema_option(default: str = "fiche") -> Callable:
    return click.option("--schema", default=default, show_default=True, help=f"What answers are checked against: {SCHEMA_CHOICES}.")


def endpoint_options(command: Callable) -> Callable:
    """--base-url, --model, --api-key-env: how every client command reaches an OpenAI-compatible endpoint."""
    for option in reversed([
        click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True, help="Any OpenAI-compatible endpoint."),
        click.option("--model", default=None, help="Model name to ask for: the served name, or an adapter's NAME from "
                                                   "`fiche serve --lora NAME=DIR`. Default: the first one the server "
                                                   "lists (the base)."),
        click.option("--api-key-env", default=DEFAULT_API_KEY_ENV, show_default=True,
                     help="Environment variable holding the API key (the key never goes on the command line)."),
    ]):
        command = option(command)
    return command


def request_options(command: Callable) -> Callable:
    """--concurrency, --max-tokens, --timeout, --retries: the same defaults for `fiche predict` and `fiche eval`."""
    for option in reversed([
        click.option("--concurrency", "-c", type=POSITIVE_INT, default=DEFAULT_CONCURRENCY, show_default=True,
                     help="Requests in flight."),
        click.option("--max-tokens", type=POSITIVE_INT, default=DEFAULT_MAX_TOKENS, show_default=True,
                     help="Answer length cap; a cut answer (finish_reason length) is an error, not a result."),
        click.option("--timeout", type=SECONDS, default=DEFAULT_TIMEOUT_S,
                     show_default=True, help="Deadline in seconds for a whole request (every byte of the answer), "
                                             "then it is retried."),
        click.option("--retries", type=POSITIVE_INT, default=DEFAULT_RETRIES, show_default=True,
                     help="Attempts per request (connection errors, timeouts, 5xx and malformed replies only)."),
    ]):
        command = option(command)
    return command


def folder_out(default: str | None = None) -> Callable:
    """-o/--out for a command that writes a folder, which also accepts the folder as its old positional OUT
    argument for one release (with a deprecation message)."""
    def decorate(command: Callable) -> Callable:
        command = click.argument("old_out", required=False, type=FOLDER, metavar="[OUT]")(command)
        return click.option("-o", "--out", "out", type=FOLDER, default=default, show_default=default is not None,
                            help="Folder to write into.")(command)
    return decorate


def pick_out(out: Path | None, old_out: Path | None) -> Path:
    if old_out is not None:
        click.echo("warning: the positional OUT is deprecated and will be removed in the next release; use -o/--out",
                   err=True)
        return old_out
    if out is None:
        raise click.UsageError("missing option -o/--out")
    return out
