"""`fiche pin-pixels`: parse the options, call fiche_vlm.pixels."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_vlm.pixels import pin_pixel_budget, recipe_pixel_budget


@click.command("pin-pixels")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recipe", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The training recipe whose image_min_pixels / image_max_pixels the adapter was trained with.")
def pin_pixels(model_dir: Path, recipe: Path) -> None:
    """Write a training recipe's pixel budget into an exported model's processor config (run after export).

    Example: fiche pin-pixels outputs/t4/merged --recipe recipes/t4.yaml
    """
    min_pixels, max_pixels = recipe_pixel_budget(recipe)
    try:
        changed = pin_pixel_budget(model_dir, min_pixels, max_pixels)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    for path in changed:
        click.echo(f"{path}: image pixels {min_pixels}–{max_pixels}")


COMMANDS = [pin_pixels]
