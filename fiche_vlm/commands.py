"""Top-level `fiche` commands that belong to no single stage: the tiny model and the demo chain."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_vlm import PROJECT_ROOT

SAMPLE_FICHES = PROJECT_ROOT / "data" / "fiches.jsonl"


@click.command("tiny-model")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Fiche JSONL whose texts train the tokenizer (repeatable). Default: the sample data/fiches.jsonl.")
@click.option("--seed", default=0, show_default=True, help="Seed for the random weights.")
def tiny_model(out: Path, corpus: tuple[Path, ...], seed: int) -> None:
    """Build a tiny random-weight Qwen2-VL in OUT, saved like a hub checkpoint (nothing is downloaded).

    Example: fiche tiny-model outputs/tiny-qwen2vl
    """
    from fiche_vlm.tiny_model import TinySpec, build_tiny_model

    build_tiny_model(out, list(corpus) or [SAMPLE_FICHES], TinySpec(seed=seed))
    click.echo(f"tiny Qwen2-VL written to {out}")


COMMANDS = [tiny_model]
