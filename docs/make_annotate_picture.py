"""Redraw docs/annotate.png: the `fiche annotate` page on a sample fiche drafted by the model (one dimension wrong,
so its field error shows), in headless Chromium. Run: .venv/bin/python docs/make_annotate_picture.py
"""
from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

from PIL import Image

from eval.browser import headless_chromium
from fiche_vlm import SAMPLE_FICHES
from fiche_vlm.annotate.app import build
from fiche_vlm.annotate.launch import prepare

DOCS = Path(__file__).parent


def main() -> None:
    records = [json.loads(line) for line in SAMPLE_FICHES.read_text(encoding="utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copytree(SAMPLE_FICHES.parent / "images", work / "images")
        fiches, predictions = work / "fiches.jsonl", work / "predictions.jsonl"
        fiches.write_text("".join(json.dumps({**r, "output": None}, ensure_ascii=False) + "\n" for r in records),
                          encoding="utf-8")
        draft = {**records[0]["output"], "dimensions": {**records[0]["output"]["dimensions"], "H": -8}}
        predictions.write_text(json.dumps({"id": records[0]["id"], "raw": json.dumps(draft), "json": draft,
                                           "valid": False, "errors": [], "finish_reason": "stop"}) + "\n")
        session, _ = prepare(fiches, predictions=predictions)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        page = build(session)
        page.launch(server_port=port, prevent_thread_lock=True, show_api=False)
        try:
            with headless_chromium(1280, 1180) as driver:
                driver.get(f"http://127.0.0.1:{port}/")
                time.sleep(6)  # the views and the form filled
                height = driver.execute_script("return document.documentElement.scrollHeight;")
                driver.set_window_size(1280, min(height, 2400) + 100)
                time.sleep(1)
                driver.save_screenshot(str(work / "page.png"))
        finally:
            page.close()
        shot = Image.open(work / "page.png").convert("RGB")
        shot = shot.resize((shot.width // 2, shot.height // 2), Image.LANCZOS)
        shot.quantize(colors=64).save(DOCS / "annotate.png", optimize=True)


if __name__ == "__main__":
    main()
