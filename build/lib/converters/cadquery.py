"""Image → CadQuery code: one rendered part and the code that builds it → sharegpt multimodal.

Field names follow GenCAD-Code (`image`, `cadquery`, `deepcad_id`); `id` may replace `deepcad_id`.
The code must compile as Python (checked with `compile()`, never executed here); code nested too deeply for
Python's parser is refused like any syntax error, and the conversion goes on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.engine import UniqueIds, finish, images_dir_for, judge_lines
from converters.media import ImageStore
from converters.report import ConvertReport
from converters.turns import require_text
from fiche_io.images import DEFAULT_LONG_SIDE
from fiche_io.jsonl import RecordError
from fiche_schema import IMAGE_TOKEN
from fiche_schema.cadquery_code import syntax_error

PROMPT = "Generate CADQuery code:"


def check_python(code: str) -> None:
    problem = syntax_error(code)
    if problem:
        raise RecordError("cadquery", f"not valid Python: {problem}")


def convert_cadquery(src: Path, out: Path, *, dataset_dir: Path, name: str,
                     long_side: tuple[int, int] | None = DEFAULT_LONG_SIDE, data_root: Path | None = None,
                     strict: bool = False) -> ConvertReport:
    """Convert the JSONL `src` of `{"deepcad_id"|"id", "image": path, "cadquery": code}` lines into the
    sharegpt file `out`, registered as `name`. Images are fitted once into `<out stem>.images/` (or, with
    `long_side=None`, referenced in place); their paths must stay inside `data_root` (default: src's folder)."""
    src, out, dataset_dir = Path(src), Path(out), Path(dataset_dir)
    root = Path(data_root) if data_root is not None else src.parent
    store = ImageStore(root, dataset_dir, images_dir_for(out), long_side)
    report = ConvertReport(source=src, notes=store.notes)
    ids = UniqueIds()

    def convert_one(record: dict[str, Any], line: int) -> dict[str, Any]:
        record_id = record.get("id", record.get("deepcad_id", f"{src.stem}:{line}"))
        if not isinstance(record_id, str) or not record_id.strip():
            raise RecordError("id", f"expected a non-empty string, got {record_id!r:.80}")
        code = require_text(record, "cadquery")
        check_python(code)
        image = store.reference(record.get("image"), "image")
        ids.claim(record_id, line)
        return {"id": record_id, "messages": [{"role": "user", "content": IMAGE_TOKEN + PROMPT},
                                              {"role": "assistant", "content": code}],
                "images": [image]}

    try:
        good = judge_lines(src, convert_one, report)
        return finish(report, {name: (out, [item.record for item in good])}, out=out, dataset_dir=dataset_dir,
                      images=True, strict=strict, before_write=store.publish)
    finally:
        store.discard()
