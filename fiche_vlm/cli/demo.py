"""Top-level `fiche` commands that belong to no single stage: the tiny model and the demo chain."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.cli.options import folder_out, out_option, pick_out


@click.command("tiny-model")
@folder_out()
@click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Fiche or text → CAD JSONL whose texts train the tokenizer (repeatable). "
                   "Default: the sample data/fiches.jsonl.")
@click.option("--seed", default=0, show_default=True, help="Seed for the random weights.")
def tiny_model(out: Path | None, old_out: Path | None, corpus: tuple[Path, ...], seed: int) -> None:
    """Build a tiny random-weight Qwen2-VL in OUT, saved like a hub checkpoint (nothing is downloaded).

    Deterministic under the seed; a model already in OUT from the same seed and corpus is kept.

    Example: fiche tiny-model -o outputs/tiny-qwen2vl
    """
    from fiche_vlm.tiny_model import ensure_tiny_model

    out = pick_out(out, old_out)
    ensure_tiny_model(out, list(corpus) or [SAMPLE_FICHES], seed=seed)
    click.echo(f"tiny Qwen2-VL in {out}")


@click.command("demo")
@out_option("Folder for the adapter, merged model, predictions, .scad files and report.", folder=True,
            default="outputs/demo")
@click.option("--fiches", default=str(SAMPLE_FICHES), show_default=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Fiche JSONL with gold outputs.")
@click.option("--port", default=8300, show_default=True, help="Port of the temporary vLLM server (127.0.0.1).")
def demo(out: Path, fiches: Path, port: int) -> None:
    """Run the whole chain on the sample: tiny model, convert, train, merge, vLLM, predict, OpenSCAD, score.

    Example: fiche demo -o outputs/demo
    """
    from converters.report import RejectedInput
    from fiche_vlm.demo import DemoLayout, StepFailed, run_demo

    try:
        metrics = run_demo(DemoLayout(out=out.resolve()), fiches=fiches.resolve(), port=port)
    except (StepFailed, RejectedInput) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"report: {out / 'report.md'}")
    if metrics.get("exact_match", {}).get("rate") != 1.0:
        raise click.ClickException("the demo model did not reproduce every gold fiche exactly; see the report")


COMMANDS = [tiny_model, demo]
