"""Fiche JSON → OpenSCAD: the overall envelope (W × D × H in mm) as a cube, and the part list as comments.

Safety: model text is written ONLY inside `//` line comments, after `comment_text` keeps letters, digits,
spaces and a short list of punctuation without `*` or `\\`; every other character (newlines, U+2028/2029,
control and format characters, quotes) is dropped or becomes a space, so no text can end the comment or reach
the code. The only code lines are built from numbers this module formats itself.
"""
from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_write_text, safe_file_stem
from fiche_io.jsonl import iter_jsonl
from fiche_schema.canonical import plain_number_text
from fiche_schema.units import MM_PER_UNIT, to_mm
from fiche_schema.validate import validate_fiche
from postprocess.render import RENDER_CHOICES, RenderResult, render_png, render_stl

_COMMENT_PUNCTUATION = frozenset(" ,.;:!?()/'+%°±×²³µ_-")  # the fiche schema's punctuation
_LETTER_OR_DIGIT = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No"})
COMMENT_LIMIT = 160
MAX_SIDE_MM = 1e8  # the fiche schema's largest size, 100000 m
LIST_FIELDS = (("components", "Part list (components)"), ("interfaces", "Interfaces"),
               ("materials_guess", "Materials (guess)"), ("manufacturing", "Manufacturing"))


class ScadError(ValueError):
    """The fiche lacks what an envelope needs (dimensions with a known unit, all > 0)."""


def comment_text(text: Any, limit: int = COMMENT_LIMIT) -> str:
    """`text` made safe for one `//` comment line: a whitelist of characters, one line, at most `limit` long."""
    kept = []
    for char in str(text):
        if char in _COMMENT_PUNCTUATION or unicodedata.category(char) in _LETTER_OR_DIGIT:
            kept.append(char)
        elif char.isspace() or unicodedata.category(char) in ("Zl", "Zp", "Cc"):
            kept.append(" ")
    line = " ".join("".join(kept).split())
    if len(line) > limit:
        line = line[:limit - 3].rstrip() + "..."
    return line or "(none)"


@dataclass(frozen=True)
class Envelope:
    """Overall size in mm, with what the model wrote."""

    width_mm: float
    depth_mm: float
    height_mm: float
    original: dict


def envelope_of(fiche: dict) -> Envelope:
    """The W × D × H envelope in mm from the fiche's `dimensions`; ScadError when it cannot be built."""
    dimensions = fiche.get("dimensions") if isinstance(fiche, dict) else None
    if not isinstance(dimensions, dict):
        raise ScadError("$.dimensions: missing or not an object")
    unit = dimensions.get("unit")
    if unit not in MM_PER_UNIT:
        raise ScadError(f"$.dimensions.unit: {unit!r} is not one of {', '.join(MM_PER_UNIT)}")
    sizes = {}
    for axis in ("W", "D", "H"):
        value = dimensions.get(axis)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ScadError(f"$.dimensions.{axis}: {value!r} is not a number")
        sizes[axis] = to_mm(value, unit)
        if sizes[axis] <= 0:
            raise ScadError(f"$.dimensions.{axis}: {value!r} {unit} gives no volume; an envelope needs W, D, H > 0")
        if sizes[axis] > MAX_SIDE_MM:
            raise ScadError(f"$.dimensions.{axis}: {value!r} {unit} is larger than {MAX_SIDE_MM:.0f} mm")
    return Envelope(sizes["W"], sizes["D"], sizes["H"], {k: dimensions[k] for k in ("H", "W", "D", "unit")})


def fiche_to_scad(fiche: dict, name: str) -> str:
    """OpenSCAD source for one fiche: safe comments, then the envelope cube (W along x, D along y, H along z)."""
    envelope = envelope_of(fiche)
    size = [plain_number_text(v) for v in (envelope.width_mm, envelope.depth_mm, envelope.height_mm)]
    o = envelope.original
    lines = [
        "// fiche-vlm: overall envelope of one product fiche, generated from the model's JSON.",
        "// Model text appears only in these comments, reduced to letters, digits and plain punctuation.",
        f"// id: {comment_text(name)}",
        f"// object: {comment_text(fiche.get('object', ''))}",
        f"// global shape: {comment_text(fiche.get('global_shape', ''))}",
        (f"// dimensions: H {plain_number_text(o['H'])} x W {plain_number_text(o['W'])} x "
         f"D {plain_number_text(o['D'])} {o['unit']} = W {size[0]} x D {size[1]} x H {size[2]} mm"),
    ]
    for key, title in LIST_FIELDS:
        items = fiche.get(key) if isinstance(fiche.get(key), list) else []
        lines.append(f"// {title}: {len(items)}")
        lines.extend(f"//   {index}. {comment_text(item)}" for index, item in enumerate(items, 1))
    lines += [
        "",
        f"envelope_mm = [{size[0]}, {size[1]}, {size[2]}];  // [W, D, H]",
        "cube(envelope_mm);",
        "",
    ]
    return "\n".join(lines)


@dataclass
class ScadEntry:
    id: str | None
    line: int
    scad: str | None = None
    skipped: str | None = None
    renders: dict[str, dict] = field(default_factory=dict)


@dataclass
class ScadReport:
    entries: list[ScadEntry]

    @property
    def written(self) -> list[ScadEntry]:
        return [entry for entry in self.entries if entry.scad is not None]

    @property
    def skipped(self) -> list[ScadEntry]:
        return [entry for entry in self.entries if entry.skipped is not None]

    @property
    def render_failures(self) -> list[tuple[ScadEntry, str]]:
        return [(entry, result["error"]) for entry in self.entries for result in entry.renders.values()
                if not result["ok"]]


def _read_predictions(path: Path) -> Iterable[tuple[int, dict | None, str | None]]:
    for line in iter_jsonl(path):
        if line.error is not None:
            yield line.number, None, f"{line.where(path)}: not a JSON line ({line.error.problem})"
        else:
            yield line.number, line.value, None


def _skip_reason(record: dict, path: Path, number: int) -> str | None:
    fiche = record.get("json")
    if fiche is None:
        errors = record.get("errors") or ["no JSON in the answer"]
        return f"{path}:{number}: json is null ({'; '.join(map(str, errors))[:300]})"
    errors = validate_fiche(fiche)  # never trust the recorded `valid` flag
    if errors:
        return f"{path}:{number}: json is not a valid fiche ({errors[0]}{'; ...' if len(errors) > 1 else ''})"
    return None


def _render(scad_path: Path, render: str, timeout_s: float) -> dict[str, dict]:
    results: dict[str, RenderResult] = {}
    if render in ("stl", "both"):
        results["stl"] = render_stl(scad_path, scad_path.with_suffix(".stl"), timeout_s)
    if render in ("png", "both"):
        results["png"] = render_png(scad_path, scad_path.with_suffix(".png"), timeout_s=timeout_s)
    return {kind: {"ok": r.ok, "path": r.path.name if r.path else None, "error": r.error,
                   "seconds": round(r.seconds, 3)} for kind, r in results.items()}


def predictions_to_scad(predictions: Path, out_dir: Path, render: str = "none", timeout_s: float = 120,
                        progress: Any = None) -> ScadReport:
    """One `<id>.scad` per valid fiche of a predictions.jsonl in `out_dir` (+ STL/PNG when asked), and
    `out_dir/index.json` listing every line: its file, or why it has none, and each render's outcome."""
    if render not in RENDER_CHOICES:
        raise ValueError(f"render must be one of {RENDER_CHOICES}, not {render!r}")
    predictions, out_dir = Path(predictions), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[ScadEntry] = []
    stems: set[str] = set()
    for number, record, problem in _read_predictions(predictions):
        identifier = None if record is None else record.get("id")
        entry = ScadEntry(id=None if identifier is None else str(identifier), line=number)
        entries.append(entry)
        if progress is not None:
            progress()
        reason = problem or (f"{predictions}:{number}: no id" if identifier is None else None) \
            or _skip_reason(record, predictions, number)
        if reason is None:
            try:
                text = fiche_to_scad(record["json"], str(identifier))
            except ScadError as error:
                reason = f"{predictions}:{number}: {error}"
        if reason is not None:
            entry.skipped = reason
            continue
        stem, suffix = safe_file_stem(identifier), 2
        while stem in stems:  # two ids that differ only in unsafe characters
            stem, suffix = f"{safe_file_stem(identifier)}-{suffix}", suffix + 1
        stems.add(stem)
        scad_path = out_dir / f"{stem}.scad"
        atomic_write_text(scad_path, text)
        entry.scad = scad_path.name
        entry.renders = _render(scad_path, render, timeout_s) if render != "none" else {}
    index = {"predictions": str(predictions), "render": render, "written": len([e for e in entries if e.scad]),
             "skipped": len([e for e in entries if e.skipped]),
             "entries": [entry.__dict__ for entry in entries]}
    atomic_write_text(out_dir / "index.json", json.dumps(index, ensure_ascii=False, indent=1) + "\n")
    return ScadReport(entries)

