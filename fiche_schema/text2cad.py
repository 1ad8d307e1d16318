"""Text2CAD's layout of CAD JSON (the users' format) in its two spellings, and its adapter onto the project's
operations model.

A Text2CAD document (SadilKhan/Text2CAD, CadSeqProc "minimal JSON", derived from DeepCAD's Fusion 360 JSON; CADmium
uses it too) is `{"parts": {"part_1": {"coordinate_system", "sketch": {"face_1": {"loop_1": {"line_1": …}}}},
"extrusion", "description"?}, …}}`: the *keyed* spelling, schema `text2cad.schema.json`, which datasets ship and
vLLM cannot constrain. The *array* spelling, schema `cad.schema.json`, writes each numbered map as an array in
number order (`{"parts": [{"coordinate_system", "sketch": [[[{"Start Point", "End Point"}, …]]], …}]}`, a
curve's kind told by its fields); it is the training target and the constraint. `to_arrays` and `to_keyed`
convert either way without loss (curves are renumbered per kind in traversal order, as Text2CAD numbers them).
Its conventions, as Text2CAD reads them
(CoordinateSystem / ExtrudeSequence / Line / Arc / Circle `.from_minimal_json`):
- `Euler Angles` are degrees; the rotation is scipy's `Rotation.from_euler("zyx", angles, degrees=True)`
  (extrinsic: about z by the first angle, then y, then x), and the rows of its matrix are the sketch plane's
  x axis, y axis and normal. `Translation Vector` is the plane's origin in the world.
- sketch points and radii are in the sketch plane; the extrusion goes `extrude_depth_towards_normal` along the
  normal and `extrude_depth_opposite_normal` against it, then joins, cuts or intersects what the parts before
  it built (parts in number order). `sketch_scale` is the size of the sketch's bounding box, which Text2CAD
  only uses to quantise; the geometry is in the points.
- lengths have no declared unit: DeepCAD normalises each model to fit a 0.75 cube.

`fiche_schema.cad_json.from_text2cad` maps a document (either spelling) onto the operations model (`cad_operations.schema.json`): per
part, in number order, a sketch in the world frame whose plane comes from the coordinate system (the part's frame;
no separate transform is needed, since Text2CAD places each sketch directly in the world), one profile per face,
then an extrude in the sketch frame of every face. `sketch_scale` and `description` have no counterpart and are
left out.
The adapter also records where each operation came from, so that `fiche_schema.cad_json` reports the operations
model's findings with paths in the user's document (`keyed_path` turns an array path into the keyed one).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fiche_schema.canonical import canonical_number

BODY_OPERATIONS = {"NewBodyFeatureOperation": "new_body", "JoinFeatureOperation": "join",
                   "CutFeatureOperation": "cut", "IntersectFeatureOperation": "intersect"}
CURVE_FIELDS = {"line": {"start": "Start Point", "end": "End Point"},
                "arc": {"start": "Start Point", "mid": "Mid Point", "end": "End Point"},
                "circle": {"center": "Center", "radius": "Radius"}}
# Operations-model field → Text2CAD key, for paths below a curve.
_FIELD_NAMES = {ours: theirs for fields in CURVE_FIELDS.values() for ours, theirs in fields.items()}
_NUMBERED_KEY = re.compile(r"^([a-z]+)_([1-9][0-9]*)$")

Path = tuple[str | int, ...]
KEYED, ARRAYS, OPERATIONS = "keyed", "arrays", "operations"


def layout(obj: Any) -> str:
    """How `obj` is to be read: the operations model (`operations` and no `parts`), Text2CAD's keyed spelling
    (`parts` is an object) or its array spelling (anything else)."""
    if isinstance(obj, dict) and "operations" in obj and "parts" not in obj:
        return OPERATIONS
    return KEYED if isinstance(obj, dict) and isinstance(obj.get("parts"), dict) else ARRAYS


def curve_kind_of(curve: dict) -> str:
    """"circle", "arc" or "line": the array spelling tells a curve's kind by its fields."""
    return "circle" if "Center" in curve else "arc" if "Mid Point" in curve else "line"


def to_arrays(doc: dict) -> dict:
    """A keyed Text2CAD document (valid under text2cad.schema.json) in the array spelling: every numbered map
    becomes an array in number order; a loop's curves keep their given (traversal) order."""
    def parts(mapping: dict) -> list:
        def sketch(faces: dict) -> list:
            return [[list(face[k].values()) for k in by_number(face)] for face in (faces[f] for f in by_number(faces))]

        return [{key: sketch(item) if key == "sketch" else item for key, item in part.items()}
                for part in (mapping[p] for p in by_number(mapping))]

    out = {key: (parts(value) if key == "parts" else value) for key, value in doc.items()}
    if isinstance(doc.get("source"), dict):
        out["source"] = {**doc["source"], "parts": parts(doc["source"]["parts"])}
    return out


def to_keyed(doc: dict) -> dict:
    """An array-spelling document (valid under cad.schema.json) in Text2CAD's keyed spelling: part_N, face_N,
    loop_N, and curves named by kind and numbered per kind in traversal order (line_1, arc_1, line_2, …)."""
    def loop(curves: list) -> dict:
        counts: dict[str, int] = {}
        named = {}
        for curve in curves:
            kind = curve_kind_of(curve)
            counts[kind] = counts.get(kind, 0) + 1
            named[f"{kind}_{counts[kind]}"] = curve
        return named

    def parts(items: list) -> dict:
        return {f"part_{p}": {key: ({f"face_{f}": {f"loop_{n}": loop(curves) for n, curves in enumerate(face, 1)}
                                    for f, face in enumerate(item, 1)} if key == "sketch" else item)
                              for key, item in part.items()} for p, part in enumerate(items, 1)}

    out = {key: (parts(value) if key == "parts" else value) for key, value in doc.items()}
    if isinstance(doc.get("source"), dict):
        out["source"] = {**doc["source"], "parts": parts(doc["source"]["parts"])}
    return out


# Numbered maps of the keyed spelling: which one a path step lands in, and which one its members hold.
_INNER = {"parts": None, "faces": "loops", "loops": "curves", "curves": None}


def keyed_path(doc: dict, path: Path) -> Path:
    """The path in the keyed document `doc` of `path`, a path in `to_arrays(doc)`."""
    out: list[str | int] = []
    node: Any = doc
    level: str | None = None  # the numbered map `node` is, if any
    for step in path:
        if level is not None and isinstance(step, int) and isinstance(node, dict):
            keys = list(node) if level == "curves" else by_number(node)  # curves: traversal order
            if step >= len(keys):
                return (*out, step)
            step, level = keys[step], _INNER[level]
        else:
            level = {"parts": "parts", "sketch": "faces"}.get(step) if isinstance(step, str) else None
        out.append(step)
        node = node.get(step) if isinstance(node, dict) else None
    return tuple(out)


def key_number(key: str) -> int | None:
    """3 for "part_3", "loop_3", "arc_3"; None for a key that is not numbered."""
    match = _NUMBERED_KEY.match(key)
    return int(match.group(2)) if match else None


def curve_kind(key: str) -> str:
    """"line" for "line_2": Text2CAD reads a curve's kind from its key."""
    return key.split("_", 1)[0]


def by_number(mapping: dict) -> list[str]:
    """The keys of `mapping` in the order of their numbers (keys without one last, as given)."""
    return sorted(mapping, key=lambda key: (key_number(key) is None, key_number(key) or 0))


def sketch_axes(euler_deg: list[float]) -> tuple[list[float], list[float]]:
    """(x axis, normal) of the sketch plane for Text2CAD's `Euler Angles`, rounded to 1e-6.

    R = Rx(c) · Ry(b) · Rz(a) for angles (a, b, c): scipy's extrinsic "zyx"; Text2CAD takes R's rows as the axes.
    """
    a, b, c = (math.radians(angle) for angle in euler_deg)
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    x_row = [cb * ca, -cb * sa, sb]
    normal_row = [-cc * sb * ca + sc * sa, cc * sb * sa + sc * ca, cc * cb]
    return [canonical_number(v) for v in x_row], [canonical_number(v) for v in normal_row]


def numbering_errors(doc: dict) -> list[tuple[Path, str]]:
    """Parts, faces, loops and each kind of curve are numbered 1, 2, … without gaps, as Text2CAD writes them.

    Assumes `doc` is valid under the schema (so every key is a numbered name of the right kind)."""
    errors = _gaps(doc["parts"], ("parts",), "part")
    for part_key, part in doc["parts"].items():
        sketch_path = ("parts", part_key, "sketch")
        errors += _gaps(part["sketch"], sketch_path, "face")
        for face_key, face in part["sketch"].items():
            errors += _gaps(face, (*sketch_path, face_key), "loop")
            for loop_key, loop in face.items():
                for kind in CURVE_FIELDS:
                    errors += _gaps({k: v for k, v in loop.items() if curve_kind(k) == kind},
                                    (*sketch_path, face_key, loop_key), kind)
    return errors


def _gaps(mapping: dict, path: Path, prefix: str) -> list[tuple[Path, str]]:
    numbers = sorted(n for n in (key_number(key) for key in mapping) if n is not None)
    if numbers == list(range(1, len(numbers) + 1)):
        return []
    missing = next(n for n in range(1, len(numbers) + 1) if n not in numbers)
    listed = ", ".join(map(str, numbers))
    last = f"{prefix}_{len(numbers)}"
    return [(path, f"{prefix} numbers {listed} skip {prefix}_{missing}: number them {prefix}_1 … {last}")]


@dataclass(frozen=True)
class Adapted:
    """An operations-model document, and for each of its paths that stands for a Text2CAD element, that path."""
    document: dict
    origin: dict[Path, Path]

    def user_path(self, path: Path) -> Path:
        """The Text2CAD path of an operations-model path: its longest known prefix, then field names renamed."""
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.origin:
                renamed = tuple(_FIELD_NAMES.get(p, p) if isinstance(p, str) else p for p in path[cut:])
                return self.origin[path[:cut]] + renamed
        return ()


def adapt(doc: dict, unit: str | None = None) -> Adapted:
    """`doc` (array spelling, valid under cad.schema.json) in the operations model, with the origin of each
    operation (a path in `doc`).

    `units` is the document's, else `unit`, else "unitless"."""
    origin: dict[Path, Path] = {("operations",): ("parts",)}
    operations = _operations(doc["parts"], ("operations",), ("parts",), origin)
    document: dict[str, Any] = {"version": "1.0", "units": doc.get("units") or unit or "unitless",
                                "operations": operations}
    source = doc.get("source")
    if isinstance(source, dict):
        document["source"] = {"units": source["units"], "to_mm": source["to_mm"],
                              "operations": _operations(source["parts"], ("source", "operations"),
                                                        ("source", "parts"), origin)}
    return Adapted(document, origin)


def _operations(parts: list, at: Path, user_at: Path, origin: dict[Path, Path]) -> list[dict]:
    operations: list[dict] = []
    for number, part in enumerate(parts, 1):
        part_key, user = f"part_{number}", (*user_at, number - 1)
        x_axis, normal = sketch_axes(part["coordinate_system"]["Euler Angles"])
        sketch_id, faces = f"{part_key}_sketch", part["sketch"]
        sketch_at = (*at, len(operations))
        origin.update({sketch_at: (*user, "sketch"), (*sketch_at, "plane"): (*user, "coordinate_system"),
                       (*sketch_at, "frame"): (*user, "coordinate_system"),
                       (*sketch_at, "profiles"): (*user, "sketch")})
        profiles = []
        for p, face in enumerate(faces):
            origin[(*sketch_at, "profiles", p)] = (*user, "sketch", p)
            loops = []
            for l, loop in enumerate(face):
                origin[(*sketch_at, "profiles", p, "loops", l)] = (*user, "sketch", p, l)
                curves = []
                for c, curve in enumerate(loop):
                    origin[(*sketch_at, "profiles", p, "loops", l, "curves", c)] = (*user, "sketch", p, l, c)
                    kind = curve_kind_of(curve)
                    curves.append({"type": kind, **{ours: curve[theirs] for ours, theirs in CURVE_FIELDS[kind].items()}})
                loops.append({"curves": curves})
            profiles.append({"id": f"face_{p + 1}", "loops": loops})
        operations.append({"id": sketch_id, "type": "sketch", "frame": "world",
                           "plane": {"origin": part["coordinate_system"]["Translation Vector"], "normal": normal,
                                     "x_axis": x_axis},
                           "profiles": profiles})
        extrusion, extrude_at = part["extrusion"], (*at, len(operations))
        origin.update({extrude_at: (*user, "extrusion"), (*extrude_at, "sketch"): (*user, "sketch"),
                       (*extrude_at, "profiles"): (*user, "sketch"), (*extrude_at, "frame"): (*user, "extrusion"),
                       (*extrude_at, "distance"): (*user, "extrusion", "extrude_depth_towards_normal"),
                       (*extrude_at, "opposite_distance"): (*user, "extrusion", "extrude_depth_opposite_normal"),
                       (*extrude_at, "operation"): (*user, "extrusion", "operation")})
        operations.append({"id": f"{part_key}_extrude", "type": "extrude", "frame": "sketch", "sketch": sketch_id,
                           "profiles": [profile["id"] for profile in profiles],
                           "distance": extrusion["extrude_depth_towards_normal"],
                           "opposite_distance": extrusion["extrude_depth_opposite_normal"],
                           "operation": BODY_OPERATIONS[extrusion["operation"]]})
    return operations
