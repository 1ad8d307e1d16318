"""`fiche annotate`: the local page to write and correct gold fiches (fiche_vlm.annotate)."""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from fiche_vlm.cli.options import (IN_FILE, POSITIVE_INT, data_root_option, endpoint_options, long_side_option,
                                   temperature_option)
from fiche_vlm.predict.run import DEFAULT_MAX_TOKENS

DEFAULT_PORT = 7860  # Gradio's usual port
PASSWORD_ENV = "FICHE_ANNOTATE_PASSWORD"
T = TypeVar("T")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opened(open_files: Callable[[], T]) -> T:
    """An unreadable fiche file or status sidecar is the user's error (exit 1 with the reason), not a crash."""
    try:
        return open_files()
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@click.command("annotate")
@click.argument("fiches", type=IN_FILE)
@click.option("--status", "status_only", is_flag=True, help="Print the counts per status and exit.")
@click.option("--predictions", type=IN_FILE, default=None,
              help="predictions.jsonl from `fiche predict`: fiches still to do start from the model's answer.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than loopback requires a password (--password-env).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--user", default="fiche", show_default=True, help="Login name when a password is required.")
@click.option("--password-env", default=PASSWORD_ENV, show_default=True,
              help="Environment variable holding the password (never on the command line).")
@click.option("--live", is_flag=True, help="Show an 'Ask the model' button that drafts the fiche from --base-url "
                                           "with the same constrained request as `fiche predict`.")
@endpoint_options
@long_side_option("Band (px) the views are fitted to before they are sent with --live; the one the model was "
                  "trained with (as `fiche predict`).")
@click.option("--max-tokens", type=POSITIVE_INT, default=DEFAULT_MAX_TOKENS, show_default=True,
              help="Answer length cap for --live; a cut answer is an error, not a draft (as `fiche predict`).")
@temperature_option
@data_root_option("Folder the views are read from; they must stay inside it. Default: FICHES's folder.")
def annotate(fiches: Path, status_only: bool, predictions: Path | None, host: str, port: int, user: str,
             password_env: str, live: bool, base_url: str, model: str | None, api_key_env: str,
             long_side: tuple[int, int], max_tokens: int, temperature: float, data_root: Path | None) -> None:
    """Write and correct the gold answers of FICHES (a fiche JSONL) in a local web page.

    Confirm writes the answer into the fiche's `output` (that line only, atomically); drafts, statuses and the
    model's marks are kept in FICHES.annotate.json beside it. Keys: Alt+→/Alt+← next/previous, Ctrl+S save draft,
    Ctrl+Enter confirm.

    Example: fiche annotate data/fiches.jsonl --port 7860   (then open http://127.0.0.1:7860)

    \b
    With a skeleton and the model's drafts:
      fiche convert views data/images -o work/fiches.jsonl
      fiche predict work/fiches.jsonl -o work/predictions.jsonl
      fiche annotate work/fiches.jsonl --predictions work/predictions.jsonl
      fiche annotate work/fiches.jsonl --status
    """
    from fiche_vlm.annotate import launch
    from fiche_vlm.annotate.session import Endpoint

    if status_only:
        click.echo(_opened(lambda: launch.open_store(fiches, data_root)).status_report())
        return
    auth = None
    if not is_loopback(host):
        password = os.environ.get(password_env)
        if not password:
            raise click.UsageError(f"--host {host} is reachable from other machines: set a password in "
                                   f"${password_env} (or bind 127.0.0.1)")
        auth = (user, password)
    request = {"long_side": tuple(long_side), "max_tokens": max_tokens, "temperature": temperature}
    endpoint = Endpoint(base_url, model, api_key_env, request) if live else None
    session, notes = _opened(lambda: launch.prepare(fiches, data_root=data_root, predictions=predictions,
                                                    endpoint=endpoint))
    for note in notes:
        click.echo(note, err=True)
    click.echo(session.store.status_report(), err=True)
    if auth is not None:
        click.echo(f"password required: log in as {user!r} with the password from ${password_env}", err=True)
    click.echo(f"annotating at http://{host}:{port} (Ctrl+C to stop)", err=True)
    launch.serve(session, host=host, port=port, auth=auth)


COMMANDS = [annotate]
