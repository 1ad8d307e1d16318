"""Text → CAD JSON: instruction text and a Fusion 360-style CAD JSON target → sharegpt text-only.

The target is written in a canonical text: keys in their given order, compact separators, numbers rounded
to 1e-6 and never in scientific notation (a model should not learn two spellings of one number).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from converters.engine import UniqueIds, finish, judge_lines
from converters.report import ConvertReport, RecordError
from converters.turns import require_text

SYSTEM_PROMPT = "You map natural language instructions to a corresponding Fusion 360 JSON using the v1.0 schema."


def number_text(value: int | float, where: str = "cad") -> str:
    """`value` rounded to 1e-6 in plain decimal notation: 1e-07 → 0, 2.5e-06 → 0.000003, 1e20 → 100000000000000000000."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise RecordError(where, f"number {value} is not finite")
    text = f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def canonical_json(value: Any, where: str = "cad") -> str:
    """Compact JSON with canonical numbers; key order as given; non-ASCII kept."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return number_text(value, where)
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(item, f"{where}[{index}]") for index, item in enumerate(value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(key), ensure_ascii=False) + ":" + canonical_json(item, f"{where}.{key}")
                              for key, item in value.items()) + "}"
    raise RecordError(where, f"unsupported JSON value {value!r:.80}")


def convert_text2cad(src: Path, out: Path, *, dataset_dir: Path, name: str,
                     strict: bool = False) -> ConvertReport:
    """Convert the JSONL `src` of `{"id", "instruction": text, "cad": object}` lines into the sharegpt file
    `out` (system, user, assistant turns), registered as `name` in `dataset_dir`."""
    src, out, dataset_dir = Path(src), Path(out), Path(dataset_dir)
    report = ConvertReport(source=src)
    ids = UniqueIds()

    def convert_one(record: dict[str, Any], line: int) -> dict[str, Any]:
        record_id = record.get("id", f"{src.stem}:{line}")
        if not isinstance(record_id, str) or not record_id.strip():
            raise RecordError("id", f"expected a non-empty string, got {record_id!r:.80}")
        instruction = require_text(record, "instruction")
        cad = record.get("cad")
        if not isinstance(cad, dict) or not cad:
            raise RecordError("cad", f"expected a non-empty JSON object, got {cad!r:.80}")
        target = canonical_json(cad)
        ids.claim(record_id, line)
        return {"id": record_id, "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                              {"role": "user", "content": instruction},
                                              {"role": "assistant", "content": target}]}

    good = judge_lines(src, convert_one, report)
    return finish(report, {name: (out, [item.record for item in good])}, out=out, dataset_dir=dataset_dir,
                  images=False, strict=strict)
