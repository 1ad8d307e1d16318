"""Writing fiche JSONL skeletons (fitted views, OCR context, the fixed instruction, `output: null`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from converters.engine import images_dir_for, refuse_failed_run, rejects_path_for
from converters.fiche import FICHE_INSTRUCTION
from converters.report import ConvertReport
from converters.sharegpt import relative_posix
from fiche_io.files import StagedDir, atomic_write_text
from fiche_io.images import fit_to_grid, long_side_band
from fiche_io.jsonl import dumps_jsonl


def skeleton_line(fiche_id: str, images: list[str], context_text: str) -> dict[str, Any]:
    return {"id": fiche_id, "images": images, "context_text": context_text, "instruction": FICHE_INSTRUCTION,
            "output": None}


class SkeletonWriter:
    """Fitted views staged in a temp folder beside `out`, published as `<out stem>.images/` with the JSONL."""

    def __init__(self, out: Path, long_side: tuple[int, int]) -> None:
        long_side_band(*long_side)  # an empty band is the caller's error, not every file's
        self.out, self.long_side = out, long_side
        self.images_dir = images_dir_for(out)
        self.staged = StagedDir(self.images_dir)

    def save_view(self, image: Image.Image, file_name: str) -> str:
        """Fit `image` to the grid (a no-op for a view read_view() fitted), stage it as `file_name`; its path as
        the fiche JSONL will name it."""
        fit_to_grid(image, self.long_side).save(self.staged.path / file_name, format="PNG")
        return relative_posix(self.images_dir / file_name, self.out.parent)

    def unstage(self, file_name: str) -> None:
        """Remove a view staged by save_view (its fiche was rejected after all)."""
        (self.staged.path / file_name).unlink(missing_ok=True)

    def finish(self, report: ConvertReport, lines: list[dict[str, Any]], inputs: list[Path], *,
               strict: bool) -> ConvertReport:
        """Publish the views and write `out` and its rejects, unless refuse_failed_run refuses (nothing written)."""
        refuse_failed_run(report, [self.out, rejects_path_for(self.out)], inputs, strict=strict)
        self.staged.publish()
        atomic_write_text(self.out, dumps_jsonl(lines))
        report.outputs["fiches"] = self.out
        report.counts["fiches"] = len(lines)
        report.rejects_path = rejects_path_for(self.out)
        atomic_write_text(report.rejects_path, dumps_jsonl(reject.to_json() for reject in report.rejects))
        return report

    def discard(self) -> None:
        self.staged.discard()
