"""One way from an image file to the pixels a model sees, shared by the converters (training pixels) and the
client (served pixels): upright as the user sees it, in 8-bit RGB, fitted to the 28-px grid.

Qwen2-VL cuts images into 28-px patches. LLaMA-Factory's `image_max_pixels` downscale and the processor's
`max_pixels` resize round differently (672×504 → 252×196 against 252×168), so an image resized by either
would be seen at other pixels by the server than in training. We resize once, onto the 28-px grid, with the
long side inside a fixed band; both budgets are then set at or above the result and leave it untouched.
"""
from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

PATCH = 28
DEFAULT_LONG_SIDE = (640, 768)  # the fiche workflow's band; the tiny demo model uses (224, 224)
MAX_IMAGE_PIXELS = 50_000_000  # a 7000×7000 scan (A3 at 600 dpi is 70 Mpx); larger files are refused unread
ORIENTATION = 0x0112  # the EXIF tag phones set instead of turning the pixels
ORIENTATIONS = {2: "mirrored left–right", 3: "turned 180°", 4: "mirrored top–bottom",
                5: "mirrored and turned 90° counter-clockwise", 6: "turned 90° clockwise",
                7: "mirrored and turned 90° clockwise", 8: "turned 90° counter-clockwise"}
SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L", "I;16N")
WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)

pillow_heif.register_heif_opener()  # iPhone photos (HEIC); libheif applies their rotation and resets the tag to 1


class ImageRefused(ValueError):
    """A file that cannot become a view: the message names it and says why."""


def long_side_band(lo: int, hi: int) -> tuple[int, int]:
    """The multiples of PATCH inside [lo, hi] as (smallest, largest). An empty band is an error, and so is one
    whose square views would exceed MAX_IMAGE_PIXELS, the limit input images have."""
    first, last = max(PATCH, math.ceil(lo / PATCH) * PATCH), (hi // PATCH) * PATCH
    if first > last:
        raise ValueError(f"no multiple of {PATCH} px lies in the long-side band {lo}–{hi}")
    if last * last > MAX_IMAGE_PIXELS:
        raise ValueError(f"the long-side band {lo}–{hi} allows {last}×{last} = {last * last:,} px views, above the "
                         f"limit of {MAX_IMAGE_PIXELS:,} px that input images have")
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


def orientation_of(image: Image.Image, *, header_only: bool = False) -> int:
    """The EXIF orientation (1 = stored upright). A PNG may keep its EXIF after the pixels, which Pillow then
    decodes to reach it; `header_only` reads only an EXIF chunk that comes first."""
    if header_only and image.format == "PNG" and "exif" not in image.info:
        return 1
    orientation = image.getexif().get(ORIENTATION, 1)
    return orientation if orientation in ORIENTATIONS else 1


def upright_rgb(image: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """`image` turned as its EXIF orientation says, then in 8-bit RGB: CMYK converted, 16-bit grey scaled
    (not clipped), palette expanded, transparency flattened onto white. Each change is added to `notes`."""
    eight_bit = _upright_8_bit(image, notes if notes is not None else [])
    return eight_bit if eight_bit.mode == "RGB" else eight_bit.convert("RGB")


def _upright_8_bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """upright_rgb() short of its last step: grey stays one channel (L), a third of the memory to resize."""
    _note_16_bit_colour(image, notes)
    orientation = orientation_of(image)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
        notes.append(f"{ORIENTATIONS[orientation]} (EXIF orientation {orientation})")
    decoded_turned = image.info.get("original_orientation") if image.format == "HEIF" else None
    if decoded_turned in ORIENTATIONS:
        notes.append(f"{ORIENTATIONS[decoded_turned]} (EXIF orientation {decoded_turned}, by the HEIF decoder)")
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    if mode in SIXTEEN_BIT_GREY:
        notes.append(f"16-bit grey ({mode}) scaled to 8 bits")
        return _grey_16_to_8(image)
    if mode in ("I", "F"):
        raise ImageRefused(f"its pixels are 32-bit {'integers' if mode == 'I' else 'floats'} (mode {mode}), "
                           "whose range to scale to 8 bits is unknown; save it as an 8- or 16-bit image")
    if mode == "CMYK":
        notes.append("converted from CMYK")
        return image.convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in WITH_ALPHA:
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] == 255:
            return rgba.convert("RGB")
        notes.append("transparency flattened onto white")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("L" if mode == "1" else "RGB")  # 1, P, YCbCr, LAB, HSV: exact


def _grey_16_to_8(image: Image.Image, rows: int = 512) -> Image.Image:
    """round(v × 255 / 65535) for every pixel, a band of rows at a time so that a large scan needs no
    full-size 32-bit copy; numpy reads the file's byte order (I;16B) natively."""
    grey = np.asarray(image)
    out = np.empty(grey.shape, np.uint8)
    for top in range(0, grey.shape[0], rows):
        band = grey[top:top + rows].astype(np.uint32)
        band += 128
        band //= 257
        out[top:top + rows] = band
    return Image.fromarray(out)


def _view_size(image: Image.Image, long_side: tuple[int, int], notes: list[str]) -> tuple[int, int]:
    """The fitted size of an opened, not yet decoded, image; a JPEG is set to decode at the smallest scale
    (1/2, 1/4, 1/8) still twice that size, which bounds the memory a large photo or scan takes."""
    _note_16_bit_colour(image, notes)
    turned = orientation_of(image) in (5, 6, 7, 8)
    size = grid_size(*(image.size[::-1] if turned else image.size), long_side)
    if image.format == "JPEG":
        stored = size[::-1] if turned else size
        image.draft(None, (stored[0] * 2, stored[1] * 2))
    return size


def _note_16_bit_colour(image: Image.Image, notes: list[str]) -> None:
    """Pillow decodes a 16-bit colour PNG to 8 bits (the high byte); only its tile, gone once the image is
    loaded, still tells. Reading the EXIF of a PNG loads it, so callers note this first."""
    if image.format == "PNG" and image.mode in ("RGB", "RGBA") and image.tile and "16" in str(image.tile[0].args):
        notes.append("16-bit colour reduced to 8 bits")


def _fit(image: Image.Image, size: tuple[int, int], notes: list[str] | None) -> Image.Image:
    fitted = _upright_8_bit(image, notes if notes is not None else [])
    if fitted.size != size:
        fitted = fitted.resize(size, Image.Resampling.BICUBIC)
    if fitted.mode != "RGB":
        fitted = fitted.convert("RGB")
    fitted.info = {}  # no ICC profile or EXIF carried into the PNG: the pixels are the whole view
    return fitted


def fit_to_grid(image: Image.Image, long_side: tuple[int, int] = DEFAULT_LONG_SIDE) -> Image.Image:
    """The image upright, in RGB, at grid_size(); unchanged pixels when it is already there."""
    turned = orientation_of(image) in (5, 6, 7, 8)
    width, height = image.size[::-1] if turned else image.size
    return _fit(image, grid_size(width, height, long_side), None)


def page_count(path: Path, name: str) -> int:
    """How many views the file holds: the pages of a multi-page TIFF, else 1."""
    with opened_image(path, name, MAX_IMAGE_PIXELS) as image:
        return image.n_frames if image.format == "TIFF" else 1


def read_view(path: Path, long_side: tuple[int, int] | None, *, name: str | None = None, page: int | None = None,
              max_pixels: int = MAX_IMAGE_PIXELS, notes: list[str] | None = None) -> Image.Image:
    """The view stored at `path`: fitted with fit_to_grid() when `long_side` is given, else upright RGB at full
    size (for OCR). `page` picks a page of a multi-page TIFF (0-based); without it such a TIFF is refused.
    Refuses files above `max_pixels` before decoding them."""
    name = name or path.name
    notes = notes if notes is not None else []
    with opened_image(path, name, max_pixels) as image:
        pages = image.n_frames if image.format == "TIFF" else 1
        if page is None and pages > 1:
            raise ImageRefused(f"{name} is a TIFF of {pages} pages; one view per file here (`fiche convert views` "
                               "and `fiche convert pdf` take each page as a view)")
        if page is not None and pages > 1:
            try:
                image.seek(page)
            except READ_ERRORS as error:
                raise ImageRefused(f"cannot read page {page + 1} of {name} ({error})") from error
            notes.append(f"page {page + 1} of {pages} of a TIFF")
        check_pixel_count(image, name, max_pixels)
        try:
            view = upright_rgb(image, notes) if long_side is None else \
                _fit(image, _view_size(image, long_side, notes), notes)
        except ImageRefused as error:
            raise ImageRefused(f"{name}: {error}") from error
        except READ_ERRORS as error:
            raise ImageRefused(f"cannot read {name} as an image ({error})") from error
        return view.copy() if view is image else view  # closing the file ends the opened image


def check_pixel_count(image: Image.Image, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRefused(f"{name} is {width}×{height} = {width * height:,} px, above the limit of {max_pixels:,} px")


@contextmanager
def opened_image(path: Path, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Iterator[Image.Image]:
    """Image.open (the header only) with this module's messages for a missing or undecodable file."""
    if not Path(path).is_file():
        raise ImageRefused(f"image not found: {name} (looked at {path})")
    try:
        with warnings.catch_warnings():  # Pillow's warning says less than our check of the size, which follows
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:  # past twice Pillow's own limit, before we see the size
        raise ImageRefused(f"{name} is above the limit of {max_pixels:,} px ({error})") from error
    except READ_ERRORS as error:
        raise ImageRefused(f"cannot read {name} as an image ({error})") from error
    with image:
        yield image


def png_data_url(image: Image.Image) -> str:
    """A base64 data URL; PNG so that the served pixels are exactly the fitted ones."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
