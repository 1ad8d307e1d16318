"""One resize, shared by the converter (training pixels) and the client (served pixels).

Qwen2-VL cuts images into 28-px patches. LLaMA-Factory's `image_max_pixels` downscale and the processor's
`max_pixels` resize round differently (672×504 → 252×196 against 252×168), so an image resized by either
would be seen at other pixels by the server than in training. We resize once, onto the 28-px grid, with the
long side inside a fixed band; both budgets are then set at or above the result and leave it untouched.
"""
from __future__ import annotations

import base64
import io
import math

from PIL import Image

PATCH = 28
DEFAULT_LONG_SIDE = (640, 768)  # the fiche workflow's band; the tiny demo model uses (224, 224)


def long_side_band(lo: int, hi: int) -> tuple[int, int]:
    """The multiples of PATCH inside [lo, hi] as (smallest, largest); an empty band is an error."""
    first, last = math.ceil(lo / PATCH) * PATCH, (hi // PATCH) * PATCH
    if first > last:
        raise ValueError(f"no multiple of {PATCH} px lies in the long-side band {lo}–{hi}")
    return first, last


def grid_size(width: int, height: int, long_side: tuple[int, int] = DEFAULT_LONG_SIDE) -> tuple[int, int]:
    """Target (width, height): both multiples of PATCH, long side within the band, aspect kept as well as the grid allows."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image has no pixels ({width}×{height})")
    first, last = long_side_band(*long_side)
    long_px, short_px = max(width, height), min(width, height)
    target_long = min(max(round(long_px / PATCH) * PATCH, first), last)
    target_short = max(PATCH, min(target_long, round(short_px * target_long / long_px / PATCH) * PATCH))
    return (target_long, target_short) if width >= height else (target_short, target_long)


def fit_to_grid(image: Image.Image, long_side: tuple[int, int] = DEFAULT_LONG_SIDE) -> Image.Image:
    """The image in RGB at grid_size(); unchanged pixels when it is already there."""
    image = image.convert("RGB")
    size = grid_size(*image.size, long_side=long_side)
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


def png_data_url(image: Image.Image) -> str:
    """A base64 data URL; PNG so that the served pixels are exactly the fitted ones."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
