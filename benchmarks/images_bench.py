"""Peak memory of fitting a 300-dpi scan to the 28-px grid (fiche_io.images.read_view), A3 and A4.

Each case runs in a fresh Python process and reports its peak RSS (VmHWM) above the peak it had once the modules
were imported, against the same file only decoded (Image.open + load). Prints one JSON line.

    .venv/bin/python benchmarks/images_bench.py
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

A3_300_DPI, A4_300_DPI = (4961, 3508), (3508, 2480)
BAND = (640, 768)


def scanned_page(size: tuple[int, int]) -> Image.Image:
    """A drawing-like page: white, a frame, a grid of parts and a title block, with the grain a scanner adds."""
    page = Image.new("L", size, 250)
    draw = ImageDraw.Draw(page)
    width, height = size
    draw.rectangle((60, 60, width - 60, height - 60), outline=0, width=6)
    for x in range(200, width - 300, 700):
        for y in range(200, height - 300, 600):
            draw.rectangle((x, y, x + 420, y + 300), outline=20, width=4)
            draw.ellipse((x + 120, y + 60, x + 300, y + 240), outline=20, width=3)
    draw.rectangle((width - 1400, height - 400, width - 80, height - 80), outline=0, width=5)
    grain = np.random.default_rng(0).integers(-6, 7, size=(height, width), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(page, np.int16) + grain, 0, 255).astype(np.uint8))


def write_cases(folder: Path) -> dict[str, Path]:
    grey = scanned_page(A3_300_DPI)
    colour = Image.merge("RGB", (grey, grey, grey.point(lambda v: min(255, v + 4))))
    cases = {"a3_png_rgb": folder / "a3.png", "a3_jpeg_rgb": folder / "a3.jpg", "a3_png_16bit_grey": folder / "a3_16.png",
             "a3_tiff_cmyk": folder / "a3_cmyk.tif", "a4_png_rgb": folder / "a4.png"}
    colour.save(cases["a3_png_rgb"], compress_level=1)
    colour.save(cases["a3_jpeg_rgb"], quality=90)
    Image.fromarray(np.asarray(grey, np.uint16) * 257).save(cases["a3_png_16bit_grey"], compress_level=1)
    colour.convert("CMYK").save(cases["a3_tiff_cmyk"], compression="tiff_lzw")
    colour.crop((0, 0, *A4_300_DPI)).save(cases["a4_png_rgb"], compress_level=1)
    return cases


def peak_mib() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not carried over from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(action: str, path: Path) -> None:
    from fiche_io.images import read_view

    before = peak_mib()
    start = time.perf_counter()
    if action == "fit":
        size = read_view(path, BAND).size
    else:
        with Image.open(path) as image:
            image.load()
            size = image.size
    print(json.dumps({"peak_above_imports_mib": round(peak_mib() - before, 1), "seconds": round(time.perf_counter() - start, 3),
                      "size": list(size)}))


def measure(action: str, path: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", action, str(path)], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return json.loads(result.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        cases = write_cases(Path(temp))
        results = {}
        for name, path in cases.items():
            with Image.open(path) as image:
                mode, size = image.mode, image.size
            fitted, decoded = measure("fit", path), measure("decode", path)
            results[name] = {"mode": mode, "pixels": list(size), "file_mib": round(path.stat().st_size / 2**20, 1),
                             "fit_peak_mib": fitted["peak_above_imports_mib"], "fit_seconds": fitted["seconds"],
                             "fitted_to": fitted["size"], "decode_only_peak_mib": decoded["peak_above_imports_mib"]}
    print(json.dumps({"benchmark": "fit_300dpi_scans", "band": list(BAND), "cases": results, "cpus": os.cpu_count(),
                      "machine": platform.machine(), "python": platform.python_version(),
                      "pillow": Image.__version__}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
