"""Image files as phones and scanners write them, built by the tests: EXIF-rotated JPEGs, HEIC, CMYK, 16-bit,
palette and transparent images, multi-page TIFFs; and the mean colour of a patch of a view."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE, WHITE = (220, 20, 20), (20, 20, 220), (255, 255, 255)
UPRIGHT_SIZE = (160, 120)  # landscape, so a view left lying on its side shows in its shape too

# What to do to the upright picture so that a viewer honouring EXIF orientation N shows it upright again.
STORED_FOR = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def upright_picture() -> Image.Image:
    """White, a red block in the top-left corner and a blue block in the top-right corner, as the user sees it."""
    picture = Image.new("RGB", UPRIGHT_SIZE, WHITE)
    picture.paste(RED, (0, 0, 48, 40))
    picture.paste(BLUE, (112, 0, 160, 40))
    return picture


def phone_jpeg(path: Path, orientation: int) -> Path:
    """The upright picture stored turned, with EXIF orientation `orientation` (tag 0x0112) saying how to show it."""
    picture = upright_picture()
    stored = picture if STORED_FOR[orientation] is None else picture.transpose(STORED_FOR[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, "JPEG", quality=95, exif=exif)
    return path


def heic_photo(path: Path, orientation: int = 6) -> Path:
    """The upright picture as an iPhone stores it: HEIC, turned, with the orientation in its EXIF."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    picture = upright_picture()
    stored = picture if STORED_FOR[orientation] is None else picture.transpose(STORED_FOR[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, "HEIF", quality=-1, exif=exif.tobytes())
    return path


def patch_mean(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[float, ...]:
    """Mean of each channel over `box` given as fractions of the width and height (left, top, right, bottom)."""
    width, height = image.size
    left, top, right, bottom = box
    pixels = np.asarray(image.convert("RGB").crop((int(left * width), int(top * height),
                                                    int(right * width), int(bottom * height))), dtype=float)
    return tuple(pixels.reshape(-1, 3).mean(axis=0).round(1))


def close(measured: tuple[float, ...], expected: tuple[int, ...], tolerance: float) -> bool:
    return all(abs(value - want) <= tolerance for value, want in zip(measured, expected, strict=True))


def png_48_bit(path: Path, rgb16: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG (colour type 2, depth 16), which Pillow reads but cannot write."""
    height, width, _ = rgb16.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb16)  # filter type 0 on every row
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def halves(mode: str, left: object, right: object, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """An image of `mode` whose left half is `left` and right half is `right`."""
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image
