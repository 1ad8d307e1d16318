"""Headless OpenSCAD rendering: `.scad` → STL, and → PNG under xvfb-run, each in a subprocess with a timeout."""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fiche_io.processes import run_group

RENDER_CHOICES = ("none", "stl", "png", "both")  # what `fiche scad --render` may produce

OPENSCAD_HINT = "openscad not found on PATH (Debian/Ubuntu: apt-get install openscad)"


@dataclass(frozen=True)
class RenderResult:
    ok: bool
    path: Path | None
    error: str | None
    seconds: float


def _render(scad_path: Path, out_path: Path, extra: list[str], prefix: list[str], timeout_s: float) -> RenderResult:
    started = time.perf_counter()
    openscad = shutil.which("openscad")
    if openscad is None:
        return RenderResult(False, None, OPENSCAD_HINT, 0.0)
    out_path = Path(out_path)
    # OpenSCAD picks the format from the extension, so the temporary file keeps it.
    handle, temp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=out_path.suffix, dir=out_path.parent)
    os.close(handle)
    try:
        code, output = run_group([*prefix, openscad, "-o", temp_name, *extra, str(scad_path)], timeout_s)
        seconds = time.perf_counter() - started
        if code is None:
            return RenderResult(False, None, f"openscad timed out after {timeout_s:g} s on {scad_path}", seconds)
        if code != 0 or os.path.getsize(temp_name) == 0:
            tail = " | ".join(line for line in output.strip().splitlines()[-3:])
            return RenderResult(False, None, f"openscad exited {code} on {scad_path}: {tail}", seconds)
        os.replace(temp_name, out_path)
        return RenderResult(True, out_path, None, seconds)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def render_stl(scad_path: Path, stl_path: Path, timeout_s: float = 120) -> RenderResult:
    """Render `scad_path` to an STL mesh (CGAL), written atomically."""
    return _render(scad_path, stl_path, [], [], timeout_s)


def png_available() -> str | None:
    """None when PNG previews can be made here, else the reason they cannot."""
    if shutil.which("openscad") is None:
        return OPENSCAD_HINT
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run") is None:
        return "no DISPLAY and no xvfb-run (Debian/Ubuntu: apt-get install xvfb)"
    return None


def camera_for_box(size_mm: tuple[float, float, float], distance: float = 3.0) -> tuple[float, ...]:
    """An orthographic camera (eye x, y, z, centre x, y, z) on the box [0, W] × [0, D] × [0, H], from the front
    right and above, `distance` diagonals away. Models rendered with one camera share one scale, so a part
    twice as long looks twice as long."""
    centre = [side / 2 for side in size_mm]
    direction = (1.0, -1.3, 0.9)
    norm = math.sqrt(sum(c * c for c in direction))
    reach = distance * math.sqrt(sum(side * side for side in size_mm))
    return (*(c + d / norm * reach for c, d in zip(centre, direction)), *centre)


def render_png(scad_path: Path, png_path: Path, size: tuple[int, int] = (640, 480), timeout_s: float = 120,
               camera: tuple[float, ...] | None = None, colorscheme: str | None = None) -> RenderResult:
    """A PNG preview, under xvfb-run when there is no DISPLAY: the whole model framed, or seen from `camera`
    (eye and centre, as camera_for_box gives) in orthographic projection; `colorscheme` is one of OpenSCAD's."""
    reason = png_available()
    if reason is not None:
        return RenderResult(False, None, reason, 0.0)
    prefix = [] if os.environ.get("DISPLAY") else ["xvfb-run", "--auto-servernum"]
    extra = [f"--imgsize={size[0]},{size[1]}"]
    extra += (["--autocenter", "--viewall"] if camera is None else
              [f"--camera={','.join(f'{value:.6g}' for value in camera)}", "--projection=ortho"])
    if colorscheme:
        extra.append(f"--colorscheme={colorscheme}")
    return _render(scad_path, png_path, extra, prefix, timeout_s)
