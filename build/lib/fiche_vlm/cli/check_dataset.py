"""`fiche check-dataset`: every sample against a recipe's token and pixel budget, before training."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_vlm.cli.options import IN_FILE


@click.command("check-dataset")
@click.argument("dataset", type=IN_FILE)
@click.option("--recipe", required=True, type=IN_FILE,
              help="The training recipe: its template, cutoff_len, image_min_pixels and image_max_pixels.")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Model folder whose tokenizer and image processor count. Default: the recipe's model_name_or_path.")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Where the image paths start (LLaMA-Factory's dataset_dir). Default: DATASET's folder.")
def check_dataset_command(dataset: Path, recipe: Path, model_dir: Path | None, dataset_dir: Path | None) -> None:
    """Count each sample's tokens (image grid + text as the recipe's template renders it) before training.

    Exit 1, naming each sample, when one is longer than the recipe's cutoff_len or has a view that training
    would resize again. Nothing is written.

    Example: fiche check-dataset dataset_info/fiches.json --recipe recipes/t4.yaml
    """
    from fiche_vlm.budget import check_dataset

    try:
        report = check_dataset(dataset, recipe, model_dir=model_dir, media_dir=dataset_dir, show_progress=True)
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for message in report.messages():
        click.echo(message, err=True)
    click.echo(report.summary())
    if report.refused:
        raise SystemExit(1)


COMMANDS = [check_dataset_command]
