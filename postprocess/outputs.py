"""The rule every command that reads files and writes others follows: an output never replaces an input.

Paths are compared as files, not as spellings (`os.path.samefile`), so `./a.jsonl`, `dir/../a.jsonl`, a symlink
to the input and a hard link to it all count as the input itself.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import click

from postprocess.locations import location


class OutputIsInput(click.BadParameter, ValueError):
    """An output path names one of the command's input files: a usage error of `--out` when raised inside a
    command (click prints it and exits 2), a ValueError to callers of the library."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param_hint="'--out'")


def refuse_output_over_input(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """Raise OutputIsInput when any output is the same file as any input file."""
    candidates = [Path(path) for path in inputs if Path(path).is_file()]
    for output in outputs:
        if not Path(output).is_file():
            continue  # not there yet (or a folder): writing it cannot replace an input file
        for candidate in candidates:
            if os.path.samefile(output, candidate):
                same = "" if str(output) == str(candidate) else f" (the same file as input {location(candidate)})"
                raise OutputIsInput(f"{location(output)}: output is an input file{same}; "
                                    "refusing to overwrite it, choose another --out")
