"""Service-manual Q&A (one page image + a conversation per line) → sharegpt multimodal, split by page.

The train/val split is decided per `metadata.page_id` from a salted hash, so no page lands in both, and a
page keeps its side when more data is added later.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from converters.engine import UniqueIds, finish, images_dir_for, judge_lines
from converters.media import ImageStore
from converters.report import ConvertReport
from converters.turns import normalise_turns, place_image_token
from fiche_io.images import DEFAULT_LONG_SIDE
from fiche_io.jsonl import RecordError

DEFAULT_VAL_RATIO = 0.1
DEFAULT_SPLIT_SEED = "fiche-vlm"


def page_key(metadata: object) -> str:
    if not isinstance(metadata, dict):
        raise RecordError("metadata", f"expected an object holding page_id, got {metadata!r:.80}")
    page_id = metadata.get("page_id")
    if isinstance(page_id, bool) or not isinstance(page_id, (str, int)) or not str(page_id).strip():
        raise RecordError("metadata.page_id", f"expected a non-empty string or integer, got {page_id!r:.80}")
    return str(page_id)


def flat_metadata(metadata: dict[str, Any]) -> dict[str, str | None]:
    """Metadata values as text (nested values as JSON), so one file's rows share one Arrow column type."""
    return {str(key): value if value is None or isinstance(value, str)
            else json.dumps(value, ensure_ascii=False) for key, value in metadata.items()}


def is_val_page(page_id: str, val_ratio: float, seed: str) -> bool:
    digest = hashlib.sha256(f"{seed}\x00{page_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_ratio


def split_pages(page_ids: set[str], val_ratio: float, seed: str = DEFAULT_SPLIT_SEED) -> set[str]:
    """The pages that go to val. With two pages or more and a ratio above 0, at least one page goes to val
    and at least one stays in train."""
    if not 0 <= val_ratio < 1:
        raise ValueError(f"val ratio must be in [0, 1), got {val_ratio}")
    val = {page for page in page_ids if is_val_page(page, val_ratio, seed)}
    ranked = sorted(page_ids, key=lambda page: hashlib.sha256(f"{seed}\x00{page}".encode()).digest())
    if val_ratio > 0 and len(page_ids) >= 2 and not val:
        val = {ranked[0]}
    if val == page_ids and len(page_ids) >= 2:
        val.discard(ranked[-1])
    return val


def convert_qa(src: Path, out: Path, *, dataset_dir: Path, name: str, val_ratio: float = DEFAULT_VAL_RATIO,
               seed: str = DEFAULT_SPLIT_SEED, long_side: tuple[int, int] | None = DEFAULT_LONG_SIDE,
               data_root: Path | None = None, strict: bool = False) -> ConvertReport:
    """Convert the Q&A JSONL `src` into `<out>_train` and `<out>_val` sharegpt files, registered as
    `<name>_train` and `<name>_val`.

    Each line: `{"image": path, "conversations": [{"role","content"}…], "metadata": {"page_id", …}}`
    (`{"from","value"}` turns with human/gpt also accepted); an optional `"id"`, else `<src stem>:<line>`.
    With `long_side`, every distinct page image is fitted once to the 28-px grid into `<out stem>.images/`;
    with None the records point at the original images (which must then already be fitted).
    """
    src, out, dataset_dir = Path(src), Path(out), Path(dataset_dir)
    root = Path(data_root) if data_root is not None else src.parent
    store = ImageStore(root, dataset_dir, images_dir_for(out), long_side)
    report = ConvertReport(source=src, notes=store.notes)
    ids = UniqueIds()

    def convert_one(record: dict[str, Any], line: int) -> dict[str, Any]:
        page = page_key(record.get("metadata"))
        messages = place_image_token(normalise_turns(record.get("conversations")))
        record_id = record.get("id", f"{src.stem}:{line}")
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
            raise RecordError("id", f"expected a string, got {record_id!r:.80}")
        image = store.reference(record.get("image"), "image")
        ids.claim(str(record_id), line)
        return {"id": str(record_id), "messages": messages, "images": [image],
                "metadata": flat_metadata(record["metadata"]), "_page": page}

    try:
        good = judge_lines(src, convert_one, report)
        val_pages = split_pages({item.record["_page"] for item in good}, val_ratio, seed)
        train, val = [], []
        for item in good:
            (val if item.record.pop("_page") in val_pages else train).append(item.record)
        suffix = out.suffix or ".json"
        datasets = {f"{name}_train": (out.with_name(f"{out.stem}_train{suffix}"), train),
                    f"{name}_val": (out.with_name(f"{out.stem}_val{suffix}"), val)}
        return finish(report, datasets, out=out, dataset_dir=dataset_dir, images=True, strict=strict,
                      before_write=store.publish)
    finally:
        store.discard()
