"""Fiche JSON → a parametric OpenSCAD scaffold: named sizes for the Customizer, a cube, cylinder or tube chosen
by `postprocess.scad_shape`'s table, an optional hole block left commented out, and the part list as comments.

Safety: model text is written ONLY inside `//` line comments, after `comment_text` keeps letters, digits,
spaces and a short list of punctuation without `*`, `\\`, brackets or braces; every other character (newlines,
U+2028/2029/0085, control and format characters, quotes) is dropped or becomes a space, so no text can end the
comment, reach the code or a Customizer annotation. Parameter names, annotations and code lines are this
module's own text around numbers it formats itself.
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
from postprocess.scad_shape import HolePattern, Shape, choose_shape, hole_patterns

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


_number = plain_number_text


def _slider(value: float) -> str:
    """A Customizer range `[min:step:max]` around a size in mm: the finest of 0.1/0.01/0.001 that holds the value,
    up to the power of ten above twice the value."""
    step = next((s for s in (0.1, 0.01) if math.isclose(round(value / s) * s, value, abs_tol=1e-9)), 0.001)
    top = 10 ** math.ceil(math.log10(max(2 * value, 10)))
    return f"[{_number(min(step, value))}:{_number(step)}:{_number(top)}]"


def _parameter(name: str, value: float, description: str, annotation: str | None = None) -> list[str]:
    """A Customizer parameter: its description on the line above, the widget range after the value."""
    return [f"// {description}", f"{name} = {_number(value)}; // {annotation or _slider(value)}"]


# The rotation that lays OpenSCAD's z-axis cylinder along each axis, and each axis's envelope side.
_ROTATE = {"x": "rotate([0, 90, 0]) ", "y": "rotate([-90, 0, 0]) ", "z": ""}
_SIDE = {"x": "W", "y": "D", "z": "H"}


def _along(axis: str, position: dict[str, str], solid: str) -> str:
    """`solid` (a z-axis cylinder) laid along `axis`, its base centre at `position` (x, y, z expressions)."""
    return f"translate([{position['x']}, {position['y']}, {position['z']}]) {_ROTATE[axis]}{solid}"


def _size_parameters(shape: Shape, size: dict[str, float]) -> list[str]:
    if shape.kind == "cube":
        return [*_parameter("W", size["W"], "Width W along x, mm"),
                *_parameter("D", size["D"], "Depth D along y, mm"),
                *_parameter("H", size["H"], "Height H along z, mm")]
    across = " and ".join(_SIDE[a] for a in "xyz" if a != shape.axis)
    lines = [*_parameter("outer_d", shape.outer_mm, f"Outer diameter, mm ({across} of the envelope)"),
             *_parameter("length", shape.length_mm, f"Length along {shape.axis}, mm ({_SIDE[shape.axis]} of "
                                                    "the envelope)")]
    if shape.kind == "tube":
        lines += _parameter("inner_d", shape.bore_mm, "Bore (inner diameter), mm")
    return lines


def _body(shape: Shape) -> list[str]:
    """`module part()`: the solid that fills [0, W] × [0, D] × [0, H] exactly."""
    if shape.kind == "cube":
        return ["module part() cube([W, D, H]);"]
    axis = shape.axis
    base = {a: "0" if a == axis else "outer_d / 2" for a in "xyz"}
    outer = _along(axis, base, "cylinder(d = outer_d, h = length);")
    if shape.kind == "cylinder":
        return [f"module part() {outer}"]
    return ["module part() difference() {", f"    {outer}",
            f"    {_along(axis, dict(base, **{axis: '-1'}), 'cylinder(d = inner_d, h = length + 2);')}", "}"]


def _pitch_circle(pattern: HolePattern, shape: Shape) -> float:
    """The stated pitch circle, else midway between the bore (or the axis) and the rim."""
    if pattern.pitch_circle_mm is not None:
        return pattern.pitch_circle_mm
    return (shape.outer_mm + (shape.bore_mm or 0.0)) / 2


def _holes_fit(pattern: HolePattern, shape: Shape, size: dict[str, float]) -> bool:
    """Whether the starting layout keeps every hole strictly inside the part's faces, so that enabling the block
    can never shrink the envelope."""
    d = pattern.diameter_mm
    if shape.kind == "cube":  # inset = d: rows and ends sit d from the edges, so each in-plane side needs > 1.5 d
        return sorted(size.values())[1] > 1.5 * d
    pitch, bore = _pitch_circle(pattern, shape), shape.bore_mm or 0.0
    return pitch + d < shape.outer_mm and (bore == 0 or pitch - d > bore)


def _holes(shape: Shape, size: dict[str, float], patterns: list[HolePattern]) -> tuple[list, list]:
    """The commented-out hole parameters and the `holes()` module that uses them once they are enabled."""
    pattern = patterns[0]
    lines = ["/* [Holes] */",
             f"// Hole pattern read from {pattern.field}: {comment_text(pattern.text, 100)}",
             *(f"// Also stated, not in this block ({p.field}): {p.count} holes of {_number(p.diameter_mm)} mm"
               for p in patterns[1:])]
    if shape.kind == "cube":
        thin = min("zyx", key=lambda a: size[_SIDE[a]])  # holes go through the thinnest side
        along, across = sorted((a for a in "xyz" if a != thin), key=lambda a: -size[_SIDE[a]])
        lines += [(f"// The fiche gives no positions: they start in two rows along {_SIDE[along]}, holes_inset "
                   f"from the edges, through {_SIDE[thin]}."),
                  "// To cut them, delete the // in front of the three assignments below."]
        extra = ("holes_inset", pattern.diameter_mm, "Distance from the edges to the hole centres, mm")
        position = {along: "u", across: "v", thin: "-1"}
        module = ["module holes() {",
                  "    per_row = ceil(holes_count / 2);",
                  "    for (i = [0 : holes_count - 1]) {",
                  "        row = i < per_row ? 0 : 1;",
                  "        in_row = row == 0 ? per_row : holes_count - per_row;",
                  (f"        u = in_row == 1 ? {_SIDE[along]} / 2 : holes_inset + (i - row * per_row) * "
                   f"({_SIDE[along]} - 2 * holes_inset) / (in_row - 1);"),
                  (f"        v = holes_count == 1 ? {_SIDE[across]} / 2 : row == 0 ? holes_inset : "
                   f"{_SIDE[across]} - holes_inset;"),
                  f"        {_along(thin, position, f'cylinder(d = holes_d, h = {_SIDE[thin]} + 2);')}",
                  "    }", "}"]
    else:
        lines += [("// Pitch circle as stated." if pattern.pitch_circle_mm is not None else
                   "// No pitch circle is stated: it starts midway between the bore and the rim.") +
                  f" The holes run along {shape.axis}, evenly spaced.",
                  "// To cut them, delete the // in front of the three assignments below."]
        extra = ("holes_pcd", _pitch_circle(pattern, shape), "Pitch circle diameter, mm")
        first, second = (a for a in "xyz" if a != shape.axis)
        position = {shape.axis: "-1", first: "outer_d / 2 + holes_pcd / 2 * cos(360 * i / holes_count)",
                    second: "outer_d / 2 + holes_pcd / 2 * sin(360 * i / holes_count)"}
        module = ["module holes() for (i = [0 : holes_count - 1])",
                  f"    {_along(shape.axis, position, 'cylinder(d = holes_d, h = length + 2);')}"]
    for name, value, description, annotation in (
            ("holes_count", pattern.count, "Number of holes", "[1:1:64]"),
            ("holes_d", pattern.diameter_mm, "Hole diameter, mm", None), (*extra, None)):
        description_line, assignment = _parameter(name, value, description, annotation)
        lines += [description_line, "//" + assignment]
    return lines, module


def build_scaffold(fiche: dict, name: str) -> tuple[str, Shape]:
    """OpenSCAD source for one fiche and the shape it was given: safe comments, Customizer parameters, then the
    solid in the envelope [0, W] × [0, D] × [0, H] (W along x, D along y, H along z)."""
    envelope = envelope_of(fiche)
    size = {"W": envelope.width_mm, "D": envelope.depth_mm, "H": envelope.height_mm}
    unit = envelope.original["unit"]
    shape = choose_shape(fiche, size, unit)
    stated = hole_patterns(fiche, unit)
    patterns = [p for p in stated if _holes_fit(p, shape, size)]
    o = envelope.original
    lines = [
        "// fiche-vlm: a parametric scaffold of one product fiche, generated from the model's JSON; refine it here.",
        "// Model text appears only in these comments, reduced to letters, digits and plain punctuation.",
        f"// id: {comment_text(name)}",
        f"// object: {comment_text(fiche.get('object', ''))}",
        f"// global shape: {comment_text(fiche.get('global_shape', ''))}",
        (f"// dimensions: H {_number(o['H'])} x W {_number(o['W'])} x D {_number(o['D'])} {o['unit']} = "
         f"W {_number(size['W'])} x D {_number(size['D'])} x H {_number(size['H'])} mm, the envelope from the origin"),
    ]
    for key, title in LIST_FIELDS:
        items = fiche.get(key) if isinstance(fiche.get(key), list) else []
        lines.append(f"// {title}: {len(items)}")
        lines.extend(f"//   {index}. {comment_text(item)}" for index, item in enumerate(items, 1))
    lines.append(f"// Shape: {shape.kind}, {comment_text(shape.reason, 400)}.")
    if shape.unsure:
        lines.append("// The shape table was unsure, so this is the envelope cube: replace part() with the real solid.")
    if shape.bore_note:
        lines.append(f"// {shape.bore_note}.")
    lines += ["", "/* [Size] */", *_size_parameters(shape, size), ""]
    hole_lines, hole_module = _holes(shape, size, patterns) if patterns else ([], [])
    hole_lines += [f"// A hole pattern in {p.field} does not fit inside this scaffold, so it is not offered."
                   for p in stated if p not in patterns]
    if hole_lines:
        lines += [*hole_lines, ""]
    lines += ["/* [Hidden] */", "// Facets per circle: a multiple of 4, so that a cylinder spans its full diameter "
              + "on both axes", "$fn = 96;", "", *_body(shape), *hole_module, ""]
    lines += (["difference() {", "    part();", "    if (!is_undef(holes_count)) holes();", "}"]
              if hole_module else ["part();"])
    return "\n".join(lines) + "\n", shape


def fiche_to_scad(fiche: dict, name: str) -> str:
    """OpenSCAD source for one fiche (see build_scaffold)."""
    return build_scaffold(fiche, name)[0]


@dataclass
class ScadEntry:
    id: str | None
    line: int
    scad: str | None = None
    shape: str | None = None  # cube, cylinder or tube
    shape_reason: str | None = None  # the table's reason, "unsure: ..." when it fell back to the cube
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


def unique_stem(identifier: Any, taken: set[str]) -> str:
    """`safe_file_stem(identifier)`, suffixed -2, -3, … when two ids differ only in unsafe characters; added to
    `taken`."""
    stem, suffix = safe_file_stem(identifier), 2
    while stem in taken:
        stem, suffix = f"{safe_file_stem(identifier)}-{suffix}", suffix + 1
    taken.add(stem)
    return stem


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
                text, shape = build_scaffold(record["json"], str(identifier))
            except ScadError as error:
                reason = f"{predictions}:{number}: {error}"
        if reason is not None:
            entry.skipped = reason
            continue
        stem = unique_stem(identifier, stems)
        scad_path = out_dir / f"{stem}.scad"
        atomic_write_text(scad_path, text)
        entry.scad, entry.shape, entry.shape_reason = scad_path.name, shape.kind, shape.reason
        entry.renders = _render(scad_path, render, timeout_s) if render != "none" else {}
    index = {"predictions": str(predictions), "render": render, "written": len([e for e in entries if e.scad]),
             "skipped": len([e for e in entries if e.skipped]),
             "entries": [entry.__dict__ for entry in entries]}
    atomic_write_text(out_dir / "index.json", json.dumps(index, ensure_ascii=False, indent=1) + "\n")
    return ScadReport(entries)

