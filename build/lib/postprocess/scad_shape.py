"""Which solid an OpenSCAD scaffold starts from, read from the fiche's words: cube, cylinder or tube.

The rule is the table below (French and English, accents and case folded, whole words, plurals in -s/-x):
a part is *revolved* when `object` or `global_shape` names a revolved part or a round qualifier, when
`global_shape` gives its first size as a diameter (Ø40, ⌀40), or when `components` name a revolved feature;
*prismatic* when any of the three names a flat or profiled part. A revolved part becomes a cylinder, or a tube
when a bore is stated, whose axis is the side that differs from the two equal ones; anything unsure (both kinds
named, neither, or no two equal sides) stays the envelope cube with a comment saying why. The envelope is the
fiche's W × D × H in every case: a guess only chooses between solids that fill that box exactly.
Hole patterns ("4 trous Ø9", "6 holes Ø11 mm on Ø90") are read only in that unambiguous form.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from fiche_schema.units import MM_PER_UNIT

# (rule, fields read, words or phrases, verdict): the README's table is this one.
SHAPE_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ("revolved part", ("object", "global_shape"),
     ("cylindre", "tube", "arbre", "axe", "disque", "rondelle", "bague", "anneau", "poulie", "galet", "rouleau",
      "manchon", "douille", "roue", "entretoise tubulaire", "bride ronde",
      "cylinder", "shaft", "axle", "pin", "disc", "disk", "washer", "ring", "pulley", "roller", "sleeve", "bushing",
      "wheel", "round flange"), "revolved"),
    ("round qualifier", ("object", "global_shape"),
     ("rond", "ronde", "circulaire", "cylindrique", "tubulaire", "de revolution", "etage",
      "round", "circular", "cylindrical", "tubular", "stepped"), "revolved"),
    ("revolved feature", ("components",),
     ("portee", "epaulement", "jante", "gorge", "journal", "shoulder", "rim", "groove"), "revolved"),
    ("prismatic part", ("object", "global_shape", "components"),
     ("plaque", "platine", "tole", "equerre", "corniere", "profile", "section en u", "section en l", "lame", "bloc",
      "boitier", "cadre", "rectangulaire", "carre", "parallelepipede", "aile", "ame",
      "plate", "bracket", "angle", "channel", "profile", "leaf", "blade", "block", "box", "housing", "frame",
      "rectangular", "square", "web", "flat bar"), "prismatic"),
)
DIAMETER_FIRST = "first size given as a diameter (Ø, ⌀) in global_shape"

_DIAMETER_SIGNS = "Ø⌀ø"
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_UNIT = r"(?:\s*(mm|cm|m|in)\b)?"
# A bore: its word, at most a few words of qualifier, then the number (Ø optional).
_BORE = re.compile(r"\b(?:alesage|bore|trou central|percage central|central hole|diametre interieur|"
                   r"inner diameter|inside diameter)\b(?:\s+[a-z]+){0,2}?\s*[ø⌀]?\s*" + _NUMBER + _UNIT)
# A hole pattern: count, the word for holes (or "x"), at most two qualifiers, Ø and the diameter,
# optionally "sur Ø90" / "on Ø90" / "on PCD 90" for a pitch circle.
_HOLES = re.compile(r"\b(\d{1,3})\s*(?:x|(?:trous|trou|holes|hole|percages|alesages)(?:\s+[a-z]+){0,2}?)\s*"
                    r"[ø⌀]\s*" + _NUMBER + _UNIT +
                    r"(?:\s+(?:sur|on)\s+(?:[ø⌀]|pcd|diametre|diameter)\s*" + _NUMBER + _UNIT + ")?")


def fold(text: object) -> str:
    """Lower case, accents removed (Ø kept), every run of other characters one space: what the rules read."""
    decomposed = unicodedata.normalize("NFKD", str(text).lower())
    kept = "".join(c if (c.isalnum() and c.isascii()) or c in _DIAMETER_SIGNS or c in ".," else " "
                   for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.replace(". ", " ").replace(", ", " ").split())


def _words(text: str) -> list[str]:
    return [word.strip(".,") for word in text.split()]


def _has_phrase(words: list[str], phrase: str) -> bool:
    wanted = phrase.split()
    for start in range(len(words) - len(wanted) + 1):
        window = words[start:start + len(wanted)]
        if all(w == p or (i == len(wanted) - 1 and w in (p + "s", p + "x")) for i, (w, p) in
               enumerate(zip(window, wanted))):
            return True
    return False


def _field_texts(fiche: dict, name: str) -> list[str]:
    value = fiche.get(name)
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [fold(item) for item in items if isinstance(item, str)]


@dataclass(frozen=True)
class Evidence:
    verdict: str  # "revolved" or "prismatic"
    rule: str
    word: str  # the table's spelling, never the model's text
    field: str


def evidence(fiche: dict) -> list[Evidence]:
    """Every table entry the fiche's words match, in table order."""
    found = []
    for rule, fields, phrases, verdict in SHAPE_RULES:
        for name in fields:
            texts = [_words(text) for text in _field_texts(fiche, name)]
            found += [Evidence(verdict, rule, phrase, name) for phrase in dict.fromkeys(phrases)
                      if any(_has_phrase(words, phrase) for words in texts)]
    shape = _field_texts(fiche, "global_shape")
    if shape and re.match(r"^[^\d]*[ø⌀]\s*\d", shape[0]):
        found.append(Evidence("revolved", DIAMETER_FIRST, "Ø", "global_shape"))
    return found


def _mm(value: str, unit: str | None, default_unit: str) -> float:
    return float(value.replace(",", ".")) * MM_PER_UNIT[unit or default_unit]


@dataclass(frozen=True)
class HolePattern:
    count: int
    diameter_mm: float
    pitch_circle_mm: float | None
    field: str  # where it was read: global_shape, or component N as the part list numbers it
    text: str  # the model's text it was read from (for a comment: pass it through comment_text)


def hole_patterns(fiche: dict, unit: str) -> list[HolePattern]:
    """Hole patterns written as count + hole word (or x) + Ø + diameter, in global_shape then components.
    A number without its own unit is in the fiche's dimension unit."""
    patterns = []
    for name in ("global_shape", "components"):
        value = fiche.get(name)
        for index, original in enumerate(value if isinstance(value, list) else [value]):
            if not isinstance(original, str):
                continue
            where = name if name == "global_shape" else f"component {index + 1}"
            for match in _HOLES.finditer(fold(original)):
                count = int(match.group(1))
                pitch = _mm(match.group(4), match.group(5), unit) if match.group(4) else None
                if 1 <= count <= 64:
                    pattern = HolePattern(count, _mm(match.group(2), match.group(3), unit), pitch, where, original)
                    if all((p.count, p.diameter_mm, p.pitch_circle_mm) !=
                           (pattern.count, pattern.diameter_mm, pattern.pitch_circle_mm) for p in patterns):
                        patterns.append(pattern)
    return patterns


def bore_diameters(fiche: dict, unit: str) -> list[float]:
    """Distinct bore diameters in mm stated in global_shape or components (alésage Ø22, bore 22 mm, …)."""
    found: list[float] = []
    for name in ("global_shape", "components"):
        for text in _field_texts(fiche, name):
            for match in _BORE.finditer(text):
                value = _mm(match.group(1), match.group(2), unit)
                if not any(math.isclose(value, seen, rel_tol=1e-9) for seen in found):
                    found.append(value)
    return found


@dataclass(frozen=True)
class Shape:
    kind: str  # "cube", "cylinder" or "tube"
    reason: str  # one line for the file's comment (table words only)
    unsure: bool = False
    axis: str | None = None  # "x", "y" or "z" for cylinders and tubes
    outer_mm: float | None = None
    length_mm: float | None = None
    bore_mm: float | None = None
    bore_note: str | None = None  # why a stated bore was not used


def _cited(items: list[Evidence]) -> str:
    return ", ".join(f"{e.word!r} in {e.field}" for e in items[:3]) + (" ..." if len(items) > 3 else "")


def _revolution_axis(size: dict[str, float]) -> tuple[str, float, float] | None:
    """(axis, outer diameter, length) when two sides are equal; all three equal puts the axis along z (H)."""
    for axis, side in (("z", "H"), ("x", "W"), ("y", "D")):
        others = [size[name] for name in "WDH" if name != side]
        if math.isclose(others[0], others[1], rel_tol=1e-9, abs_tol=1e-9):
            return axis, others[0], size[side]
    return None


def choose_shape(fiche: dict, size_mm: dict[str, float], unit: str) -> Shape:
    """The solid for an envelope of `size_mm` (keys W, D, H), by the table; unsure → the cube."""
    found = evidence(fiche)
    revolved = [e for e in found if e.verdict == "revolved"]
    prismatic = [e for e in found if e.verdict == "prismatic"]
    if revolved and prismatic:
        return Shape("cube", f"unsure: revolved ({_cited(revolved)}) and prismatic ({_cited(prismatic)}) words "
                             "both appear, so the envelope cube", unsure=True)
    if prismatic:
        return Shape("cube", f"prismatic ({_cited(prismatic)})")
    if not revolved:
        return Shape("cube", "unsure: no word of the shape table, so the envelope cube", unsure=True)
    axis = _revolution_axis(size_mm)
    if axis is None:
        return Shape("cube", f"unsure: revolved ({_cited(revolved)}) but no two of W, D, H are equal, so no "
                             "cylinder fills the envelope: the envelope cube", unsure=True)
    axis_name, outer, length = axis
    bores = bore_diameters(fiche, unit)
    bore, note = None, None
    if len(bores) > 1:
        note = "several bores are stated, so none is drawn"
    elif bores and not 0 < bores[0] < outer:
        note = "the stated bore is not smaller than the outer diameter, so it is not drawn"
    elif bores:
        bore = bores[0]
    return Shape("tube" if bore else "cylinder", f"revolved ({_cited(revolved)}), axis along {axis_name}",
                 axis=axis_name, outer_mm=outer, length_mm=length, bore_mm=bore, bore_note=note)
