"""Text → CAD JSON: instruction text and a CAD JSON target (Text2CAD's layout) → sharegpt text-only.

The `cad` of a line is Text2CAD's minimal JSON in either spelling (keyed, as Text2CAD and CADmium ship it, or
with arrays) or the operations model. A keyed document is checked in its own spelling (errors name its keys), then
written with arrays (`fiche_schema.text2cad.to_arrays`): the spelling vLLM can constrain (`cad.schema.json`).
`"` and `\\` in its texts are written as ″ and ⧵, as for fiches (counted in the report). The target is
`fiche_schema.cad_json.cad_text`: the canonical text that evaluation and postprocessing use too (keys in canonical
order, compact, numbers rounded to 1e-6 and never in scientific notation: a model should not learn two spellings
of one number). A target that fails `validate_cad` once canonical is rejected.

`direction="explain"` writes the reverse pairs (CAD text → the instruction) for an explanation adapter, as a
separate dataset `<name>_explain` in `<out stem>_explain<suffix>`, so both directions can sit side by side.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.engine import UniqueIds, finish, judge_lines
from converters.report import ConvertReport
from converters.turns import require_text
from fiche_io.jsonl import RecordError
from fiche_schema import IMAGE_TOKEN
from fiche_schema.cad_json import canonical_cad, locate_cad_errors, locate_canonical_cad_errors
from fiche_schema.canonical import dumps_plain
from fiche_schema.quotes import substitute_quotes
from fiche_schema.text2cad import KEYED, keyed_path, layout, to_arrays
from fiche_schema.validate import json_path

SYSTEM_PROMPT = "You map natural language instructions to a corresponding Fusion 360 JSON using the v1.0 schema."
EXPLAIN_SYSTEM_PROMPT = ("You describe a Fusion 360 JSON in the v1.0 schema as the natural language instruction "
                         "that produces it.")
DIRECTIONS = ("generate", "explain")


def explain_path(out: Path) -> Path:
    """`dataset_info/text2cad.json` → `dataset_info/text2cad_explain.json`."""
    return out.with_name(f"{out.stem}_explain{out.suffix}")


def convert_text2cad(src: Path, out: Path, *, dataset_dir: Path, name: str, direction: str = "generate",
                     strict: bool = False) -> ConvertReport:
    """Convert the JSONL `src` of `{"id", "instruction": text, "cad": object}` lines into the sharegpt file
    `out` (system, user, assistant turns), registered as `name` in `dataset_dir`.

    `direction="explain"`: user = the canonical CAD text, assistant = the instruction, written to
    `explain_path(out)` and registered as `<name>_explain`."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    src, out, dataset_dir = Path(src), Path(out), Path(dataset_dir)
    if direction == "explain":
        out, name = explain_path(out), f"{name}_explain"
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
        canonical, errors = locate_canonical_cad_errors(cad)
        target = canonical
        if not errors and layout(canonical) == KEYED:  # then the answer's spelling, whose texts have the string rule
            target = canonical_cad(to_arrays(canonical))
            errors = [(keyed_path(canonical, path), problem) for path, problem in locate_cad_errors(target)]
        if errors:
            path, problem = errors[0]
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            raise RecordError("cad" + json_path(path)[1:], problem + more)
        cad_text = dumps_plain(target)
        if direction == "explain" and IMAGE_TOKEN in cad_text:
            raise RecordError("cad", f"contains {IMAGE_TOKEN!r}, which LLaMA-Factory would read as an image slot")
        ids.claim(record_id, line)
        report.substituted += substituted
        if direction == "explain":
            system, prompt, answer = EXPLAIN_SYSTEM_PROMPT, cad_text, instruction
        else:
            system, prompt, answer = SYSTEM_PROMPT, instruction, cad_text
        return {"id": record_id, "messages": [{"role": "system", "content": system},
                                              {"role": "user", "content": prompt},
                                              {"role": "assistant", "content": answer}]}

    good = judge_lines(src, convert_one, report)
    return finish(report, {name: (out, [item.record for item in good])}, out=out, dataset_dir=dataset_dir,
                  images=False, strict=strict)
