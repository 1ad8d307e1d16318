"""The embedded sample: eight parametric mechanical parts drawn as dimensioned orthographic views, with gold JSON.

Everything is computed from each part's parameters (no randomness), so `fiche samples` rebuilds the committed
`data/` pixel for pixel. The tiny demo model sees these views at 224 px on the long side, where thin black line
drawings were only 5/8 learnable and coloured views 8/8: hence a strong material colour per part, filled
silhouettes and sections, and 4-px outlines. Text is DejaVu Sans, preferably matplotlib's bundled copy, so the
pixels do not depend on the fonts a machine has installed.
"""
from __future__ import annotations

from pathlib import Path

from converters.fiche import FICHE_INSTRUCTION as INSTRUCTION
from fiche_io.files import atomic_path, atomic_write_text
from fiche_io.jsonl import dumps_jsonl
from fiche_vlm.samples.parts import Part, View, sample_parts
from fiche_vlm.samples.sheet import Sheet

# Identical for every fiche on purpose: the demo model must tell the fiches apart by their images alone.
CONTEXT_TEXT = "Plan de définition. Cotes en mm. Tolérances générales ISO 2768-m."


def render_view(part: Part, view: View) -> Sheet:
    """One view drawn on its finished sheet (`.image`, with the `.labels` and `.holes` drawn)."""
    sheet = Sheet(view.extent, part.colour)
    view.paint(sheet)
    sheet.finish(view.title, part.name, part.fiche_id)
    return sheet


def image_path(part: Part, view: View) -> str:
    """The view's path relative to the JSONL's folder."""
    return f"images/{part.fiche_id}_{view.key}.png"


def fiche_record(part: Part) -> dict[str, object]:
    return {"id": part.fiche_id, "images": [image_path(part, view) for view in part.views],
            "context_text": CONTEXT_TEXT, "instruction": INSTRUCTION, "output": part.gold()}


def write_sample(out_dir: Path) -> list[dict[str, object]]:
    """Write OUT_DIR/fiches.jsonl and OUT_DIR/images/*.png; each file is replaced atomically. Returns the records."""
    records = []
    for part in sample_parts():
        for view in part.views:
            with atomic_path(out_dir / image_path(part, view), suffix=".png") as temporary:
                render_view(part, view).image.save(temporary, format="PNG")
        records.append(fiche_record(part))
    atomic_write_text(out_dir / "fiches.jsonl", dumps_jsonl(records))
    return records
