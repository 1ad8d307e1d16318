"""`fiche samples`: redraw the embedded sample."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_vlm.cli.options import folder_out, pick_out


@click.command("samples")
@folder_out(default="data")
def samples(out: Path, old_out: Path | None) -> None:
    """Regenerate the sample: 8 fiches of drawn mechanical parts in OUT/fiches.jsonl + OUT/images/.

    Deterministic: the same pixels and JSONL bytes every run.

    Example: fiche samples -o data/
    """
    from fiche_vlm.samples import write_sample

    out = pick_out(out, old_out)
    records = write_sample(out)
    views = sum(len(record["images"]) for record in records)  # type: ignore[arg-type]
    click.echo(f"{len(records)} fiches, {views} views written to {out / 'fiches.jsonl'}")


COMMANDS = [samples]
