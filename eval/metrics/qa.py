"""Manual Q&A metrics: numeric exact match on quantities with units, and keyword presence.

Quantities are read the way French service manuals write them: decimal comma or point («0,15 mm», «0.15 mm»),
thousands grouped by a (narrow) no-break space («12 000 N»), units spelled several ways («25 N·m», «25 Nm»,
«25 N.m»). A quantity is its value and its canonical unit (or no unit).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from eval.metrics.text import normalise, strip_accents

# Unit spellings → canonical unit. Longest alternatives first so «N·m» is not read as «N».
_UNIT_SPELLINGS = {
    "N·m": ("N·m", "N.m", "N m", "Nm", "N-m", "N⋅m"),
    "daN·m": ("daN·m", "daN.m", "daNm", "daN m"),
    "kN": ("kN",), "daN": ("daN",), "N": ("N",),
    "mm": ("mm",), "cm": ("cm",), "µm": ("µm", "μm", "um"), "m": ("m",),
    "bar": ("bar", "bars"), "kPa": ("kPa",), "MPa": ("MPa",), "Pa": ("Pa",), "psi": ("psi",),
    "°C": ("°C", "° C", "ºC"), "°": ("°", "º"),
    "rpm": ("rpm", "tr/min", "tr/mn"), "V": ("V",), "A": ("A",), "W": ("W",), "kW": ("kW",),
    "l": ("l", "L", "litres", "liters", "litre", "liter"), "ml": ("ml", "mL"),
    "kg": ("kg",), "g": ("g",), "h": ("h",), "min": ("min",), "s": ("s",), "%": ("%",),
    "in": ("in", "inch", "inches", "\""), "ft·lb": ("ft·lb", "ft.lb", "ft-lb", "lb·ft", "lb.ft", "lbf·ft"),
}
_SPELLING_TO_UNIT = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings}
_UNIT_PATTERN = "|".join(re.escape(spelling) for spelling in sorted(_SPELLING_TO_UNIT, key=len, reverse=True))
_GROUP_SPACE = "\u00a0\u202f\u2009"
_QUANTITY = re.compile(
    rf"(?<![\w.,])(?P<sign>[-−+]?)(?P<number>\d{{1,3}}(?:[{_GROUP_SPACE}]\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
    rf"(?:\s?(?P<unit>{_UNIT_PATTERN})(?![A-Za-zµ]))?")


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None

    def __str__(self) -> str:
        number = f"{self.value:g}"
        return f"{number} {self.unit}" if self.unit else number


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in the text with the unit written right after it, in order of appearance."""
    quantities = []
    for match in _QUANTITY.finditer(text):
        digits = re.sub(f"[{_GROUP_SPACE}]", "", match["number"]).replace(",", ".")
        value = float(digits) * (-1 if match["sign"] in ("-", "−") else 1)
        unit = _SPELLING_TO_UNIT.get(match["unit"]) if match["unit"] else None
        quantities.append(Quantity(round(value, 9), unit))
    return quantities


def numeric_exact_match(predicted: str, gold: str) -> bool | None:
    """True when every quantity of the gold answer appears in the prediction with the same value and unit.

    None when the gold answer holds no number (the metric does not apply). Extra numbers in the prediction are
    allowed: a torque answer may also quote the bolt size.
    """
    wanted = extract_quantities(gold)
    if not wanted:
        return None
    got = set(extract_quantities(predicted))
    return all(quantity in got for quantity in wanted)


# Words that carry no technical meaning, in the two languages of the manuals.
_STOPWORD_TEXT = """
le la les un une des du de d l au aux et ou en dans sur sous par pour avec sans ce cet cette ces son sa ses leur
leurs qui que quoi dont est sont etre avoir a ont doit doivent peut peuvent faut il elle ils elles on se ne pas
plus moins tres tout tous toute toutes entre vers chez comme si puis alors ainsi afin lors avant apres
the a an of to in on at by for with without and or is are be been being this that these those it its as from into
must should can may will then than there their which what when where how each any all not no
"""
STOPWORDS = frozenset(strip_accents(word) for word in _STOPWORD_TEXT.split())


def gold_keywords(gold: str, minimum_length: int = 4) -> list[str]:
    """Content words of the gold answer (normalised, no stopwords, at least `minimum_length` letters), in order, once."""
    seen: dict[str, None] = {}
    for word in normalise(gold).split():
        if len(word) >= minimum_length and word not in STOPWORDS and not word.isdigit():
            seen.setdefault(word, None)
    return list(seen)


def keyword_presence(predicted: str, keywords: Iterable[str]) -> float | None:
    """Fraction of the keywords found as whole (normalised) words or phrases in the prediction; None with no keywords."""
    keywords = [normalise(keyword) for keyword in keywords if normalise(keyword)]
    if not keywords:
        return None
    text = f" {normalise(predicted)} "
    return sum(f" {keyword} " in text for keyword in keywords) / len(keywords)
