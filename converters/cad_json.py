"""Text → CAD JSON: instruction text and a CAD JSON target (Text2CAD's layout) → sharegpt text-only.

The `cad` of a line is Text2CAD's minimal JSON in either spelling (keyed, as Text2CAD and CADmium ship it, or
with arrays) or the operations model. A keyed document is checked in its own spelling (errors name its keys), then
written with arrays (`postprocess.text2cad.to_arrays`): the spelling vLLM can constrain (`cad.schema.json`).
`"` and `\\` in its texts are written as ″ and ⧵, as for fiches (counted in the report). The target is
`postprocess.cad_json.cad_text`: the canonical text that evaluation and postprocessing use too (keys in canonical
order, compact, numbers rounded to 1e-6 and never in scientific notation: a model should not learn two spellings
of one number). A target that fails `validate_cad` once canonical is rejected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.engine import UniqueIds, finish, judge_lines
from converters.report import ConvertReport, RecordError
from converters.turns import require_text
from postprocess.cad_json import canonical_cad, locate_cad_errors
from postprocess.canonical import dumps_plain
from postprocess.quotes import substitute_quotes
from postprocess.text2cad import KEYED, keyed_path, layout, to_arrays
from postprocess.validate import json_path

SYSTEM_PROMPT = "You map natural language instructions to a corresponding Fusion 360 JSON using the v1.0 schema."


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
        cad, substituted = substitute_quotes(cad)
        canonical = canonical_cad(cad)
        errors = locate_cad_errors(canonical)
        target = canonical
        if not errors and layout(canonical) == KEYED:  # then the answer's spelling, whose texts have the string rule
            target = canonical_cad(to_arrays(canonical))
            errors = [(keyed_path(canonical, path), problem) for path, problem in locate_cad_errors(target)]
        if errors:
            path, problem = errors[0]
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            raise RecordError("cad" + json_path(path)[1:], problem + more)
        ids.claim(record_id, line)
        report.substituted += substituted
        return {"id": record_id, "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                              {"role": "user", "content": instruction},
                                              {"role": "assistant", "content": dumps_plain(target)}]}

    good = judge_lines(src, convert_one, report)
    return finish(report, {name: (out, [item.record for item in good])}, out=out, dataset_dir=dataset_dir,
                  images=False, strict=strict)
