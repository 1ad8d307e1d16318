"""Converter speed: the Q&A converter on a synthetic manual-sized set (12,410 records), image work excluded.

Prints one JSON line per measurement. The page images are generated first (not timed) and referenced in
place (`long_side=None`): what is timed is reading, checking (JSON, turns, page ids, paths inside the data
root, image headers), splitting by page and writing the two datasets, the rejects and the registry.

    .venv/bin/python benchmarks/convert_bench.py [--records 12410] [--pages 1241] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from converters.qa import convert_qa
from fiche_vlm.sample_inputs import write_synthetic_qa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=12_410)
    parser.add_argument("--pages", type=int, default=1_241)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        src = write_synthetic_qa(folder / "in", records=args.records, pages=args.pages)
        for run in range(args.repeat):
            start = time.perf_counter()
            report = convert_qa(src, folder / "ds" / "qa.json", dataset_dir=folder / "ds", name="qa",
                                long_side=None, strict=True)
            seconds = time.perf_counter() - start
            print(json.dumps({
                "benchmark": "convert_qa", "run": run + 1, "records": report.read, "written": report.written,
                "rejected": report.rejected, "pages": args.pages, "seconds": round(seconds, 3),
                "records_per_s": round(report.read / seconds), "image_work": "excluded (images referenced in place)",
                "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            }), flush=True)


if __name__ == "__main__":
    main()
