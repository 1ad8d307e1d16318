"""Manual Q&A metrics: numeric exact match read the way a technician reads a service manual, and keyword presence.

What counts as a quantity, and what does not:
- Numbers are written with a decimal comma or point («0,15 mm», «0.15 mm») and thousands grouped by a (narrow)
  no-break space («12 000 N»); units are spelled several ways («25 N·m», «25 Nm», «25 N.m», «90 degrees», «90°»).
- Labels and enumerations are not quantities: «Stage 1», «Étape 2», «step 3», «phase 1», «passe 2», list markers
  («1.», «2)», «a)» at the start of a line or sentence), figure, page, table and section references («Fig. 3»,
  «page 45», «§ 4.2»), references and part numbers («réf. 7701 208 265», «11 12 1 309 418»: three or more groups of
  digits that are not a thousands grouping).
- Named items are compared as text, not as quantities: thread sizes («M8», «M10×1.25» = «M10 x 1,25»), oil grades
  («5W-30» = «5W30»), brake-fluid grades («DOT 4») and callouts on a drawing («repère 7» = «item 7» = «n° 7»).
- Ranges and tolerances: «0,15–0,25 mm», «0.15 to 0.25 mm», «de 0,15 à 0,25 mm», «entre 0,15 et 0,25 mm»,
  «40 ± 2 Nm», «40 +/- 2 N·m», «40 N·m ± 5 %» are intervals. A reference interval is matched by an interval with
  the same two bounds in any of these notations («40 ± 2 Nm» = «38–42 N·m»); a single value inside it does not
  match, since the tolerance is part of the answer. A tolerance in a prediction also states its nominal value, so
  «40 ± 2 Nm» answers a reference of «40 Nm»; an interval's bounds alone do not.
- Equivalent units match (pint does the arithmetic): 4 daN·m = 40 N·m, kgf·m, ft·lb and in·lb to N·m, bar to kPa,
  psi, °F to °C (offset units). Two values in different units match when they agree to the precision the less
  precise of them is written with (half a unit of its last digit): «30 ft·lb» answers «40 N·m» (29.5 ft·lb),
  «4,1 daN·m» does not. Values in the same unit must be equal. Angles, percentages and speeds (rpm) match only
  in their own unit.
- Repetitions are not counted: the reference's quantities are a set. «Stage 2: 90 degrees, Stage 3: 90 degrees»
  asks for 90° once, and «90° twice» gives it; how many times a step is repeated is said in words («twice»,
  «deux fois», «repeat») that a number matcher cannot count reliably, and keyword presence or the judge covers it.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from eval.metrics.text import normalise, strip_accents

# Canonical unit → (pint expression, spellings). Longest spellings are tried first, so «N·m» is not read as «N».
_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "N·m": ("newton * meter", ("N·m", "N.m", "N m", "Nm", "N-m", "N⋅m", "newton-mètres", "newton-metres",
                               "newton-meters", "newton mètres", "newton metres", "newton meters")),
    "daN·m": ("decanewton * meter", ("daN·m", "daN.m", "daNm", "daN m", "daN-m", "m·daN", "m.daN", "mdaN")),
    "kgf·m": ("kilogram_force * meter", ("kgf·m", "kgf.m", "kgfm", "kgf m", "kg·m", "kg.m", "kgm", "m·kg", "m.kg",
                                         "mkg")),
    "ft·lb": ("foot * pound_force", ("ft·lb", "ft.lb", "ft-lb", "ft lb", "ft-lbs", "ft·lbf", "ft.lbs", "lb·ft",
                                     "lb.ft", "lb-ft", "lbf·ft", "lbf.ft", "lbf-ft", "foot-pounds", "ft-lbf")),
    "in·lb": ("inch * pound_force", ("in·lb", "in.lb", "in-lb", "in-lbs", "lb·in", "lb.in", "lbf·in", "in-lbf")),
    "kN": ("kilonewton", ("kN",)), "daN": ("decanewton", ("daN",)), "N": ("newton", ("N",)),
    "mm": ("millimeter", ("mm",)), "cm": ("centimeter", ("cm",)), "µm": ("micrometer", ("µm", "μm", "um")),
    "m": ("meter", ("m",)), "in": ("inch", ("in", "inch", "inches", "\"", "″")), "ft": ("foot", ("ft", "feet")),
    "bar": ("bar", ("bar", "bars")), "mbar": ("millibar", ("mbar",)), "kPa": ("kilopascal", ("kPa",)),
    "MPa": ("megapascal", ("MPa",)), "Pa": ("pascal", ("Pa",)), "psi": ("psi", ("psi",)),
    "°C": ("degC", ("°C", "° C", "ºC", "º C", "degrees Celsius", "degree Celsius", "degrés Celsius",
                    "degré Celsius", "deg C", "degC")),
    "°F": ("degF", ("°F", "° F", "ºF", "degrees Fahrenheit", "degrés Fahrenheit", "deg F", "degF")),
    "°": ("degree", ("°", "º", "degrees", "degree", "degrés", "degré", "degres", "degre", "deg")),
    "rpm": ("revolution / minute", ("rpm", "tr/min", "tr/mn", "tours/min", "trs/min")),
    "V": ("volt", ("V",)), "A": ("ampere", ("A",)), "W": ("watt", ("W",)), "kW": ("kilowatt", ("kW",)),
    "l": ("liter", ("l", "L", "litres", "liters", "litre", "liter")), "ml": ("milliliter", ("ml", "mL")),
    "cl": ("centiliter", ("cl", "cL")), "cm³": ("centimeter ** 3", ("cm³", "cm3", "cc")),
    "kg": ("kilogram", ("kg",)), "g": ("gram", ("g",)),
    "h": ("hour", ("h",)), "min": ("minute", ("min", "mn")), "s": ("second", ("s",)), "%": ("percent", ("%",)),
}
# Units pint calls dimensionless (or 1/time) that a technician never exchanges for one another.
_OWN_KIND_ONLY = frozenset({"°", "%", "rpm"})
_SPELLING_TO_UNIT = {spelling: unit for unit, (_, spellings) in _UNITS.items() for spelling in spellings}
_UNIT_PATTERN = "|".join(re.escape(spelling) for spelling in sorted(_SPELLING_TO_UNIT, key=len, reverse=True))
_GROUP_SPACE = "\u00a0\u202f\u2009"
_NUMBER = rf"\d{{1,3}}(?:[ {_GROUP_SPACE}]\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_QUANTITY = re.compile(rf"(?<![\w.,#])(?P<number>{_NUMBER})(?:\s?(?P<unit>{_UNIT_PATTERN})(?![\w]))?(?![\w])")

# Spans that hold digits but no quantity; they are blanked before quantities are read.
_LABEL_WORDS = (r"stages?|steps?|phases?|[ée]tapes?|stades?|passes?|pass|tours? de serrage|sequence|séquence"
                r"|figures?|fig\.?|pages?|pp?\.|tables?|tableaux?|tab\.|sections?|chapitres?|chapters?|chap\.|§"
                r"|points?|op[ée]rations?|op\.")
_LABEL = re.compile(rf"(?<![\w])(?:{_LABEL_WORDS})\s*\d+(?:[.,]\d+)*[a-z]?(?![\d])", re.IGNORECASE)
_REFERENCE = re.compile(r"(?<![\w])(?:r[ée]f(?:[ée]rence)?s?\.?|part\s+(?:no\.?|number)|p/n|pi[èe]ce)\s*[:#°]?\s*"
                        r"[\w-]*\d[\w-]*(?:\s\d[\w-]*)*", re.IGNORECASE)
_ENUMERATION = re.compile(r"(?:^|(?<=[.;:!?]\s)|(?<=[.;:!?]\s\s))\s*(?:\d{1,2}|[a-zA-Z])[.)](?=\s)"
                          r"|(?<![^\s(])\d{1,2}\)(?=\s)", re.MULTILINE)
_PART_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[ \u00a0]\d+){2,}(?![\w.,]\d)")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ \u00a0]\d{3})+")

# Named items (compared as text): thread sizes, oil and brake-fluid grades.
_THREAD = re.compile(r"(?<![\w])M\s?(\d+(?:[.,]\d+)?)(?:\s?[x×X]\s?(\d+(?:[.,]\d+)?))?(?![\w])")
_OIL_GRADE = re.compile(r"(?<![\w])(\d{1,2})\s?W\s?[-–]?\s?(\d{2})(?![\w])", re.IGNORECASE)
_FLUID_GRADE = re.compile(r"(?<![\w])DOT\s?(\d(?:[.,]1)?)(?![\w])")
# Callouts on an exploded view or a diagram: «repère 7» answers «which part is the O-ring?».
_CALLOUT = re.compile(r"(?<![\w])(?:rep[èe]res?|rep\.|items?|pos\.|positions?|n°|no\.|#)\s*(\d+[a-z]?)(?![\w])",
                      re.IGNORECASE)

_RANGE_WORDS = {"-", "–", "—", "~", "to", "à", "a", "...", "…", "au", "up to", "jusqu'à", "jusqu’à"}
_BETWEEN_WORDS = {"and", "et"}  # a range only after «between» / «entre»
_TOLERANCE_SIGNS = {"±", "+/-", "+-", "+ / -", "+/−", "+ /-"}


@dataclass(frozen=True)
class Quantity:
    """A value as written (`decimals`: digits after its decimal mark) and its canonical unit, or no unit."""
    value: float
    unit: str | None
    decimals: int = field(default=0, compare=False)

    def __str__(self) -> str:
        number = f"{self.value:.{self.decimals}f}"
        return number + ("" if self.unit is None else self.unit if self.unit in ("°", "%") else f" {self.unit}")


@dataclass(frozen=True)
class Interval:
    """A range or tolerance: both bounds in the same unit."""
    low: Quantity
    high: Quantity

    def __str__(self) -> str:
        return f"{self.low}–{self.high}"


@dataclass(frozen=True)
class Designation:
    """A named item compared as text: «M10×1.25», «5W-30», «DOT 4»."""
    text: str

    def __str__(self) -> str:
        return self.text


Item = Quantity | Interval | Designation


@dataclass(frozen=True)
class Reading:
    """What a text states: its quantities, intervals and designations (`nominals`: the centres of its tolerances)."""
    quantities: tuple[Quantity, ...]
    intervals: tuple[Interval, ...]
    designations: tuple[Designation, ...]
    nominals: tuple[Quantity, ...] = ()

    def items(self) -> list[Item]:
        return [*self.quantities, *self.intervals, *self.designations]


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with each span replaced by as many '#' (so positions and the text between numbers are kept)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "#" * (end - start)
    return "".join(chars)


def _designations(text: str) -> tuple[list[Designation], str]:
    found, spans = [], []
    for match in _THREAD.finditer(text):
        pitch = f"×{match[2].replace(',', '.')}" if match[2] else ""
        found.append((match.start(), Designation(f"M{match[1].replace(',', '.')}{pitch}")))
        spans.append(match.span())
    for match in _OIL_GRADE.finditer(text):
        found.append((match.start(), Designation(f"{match[1]}W-{match[2]}")))
        spans.append(match.span())
    for match in _CALLOUT.finditer(text):
        found.append((match.start(), Designation(f"item {match[1].lower()}")))
        spans.append(match.span())
    for match in _FLUID_GRADE.finditer(text):
        found.append((match.start(), Designation(f"DOT {match[1].replace(',', '.')}")))
        spans.append(match.span())
    return [designation for _, designation in sorted(found, key=lambda pair: pair[0])], _blank(text, spans)


def _not_quantities(text: str) -> str:
    """The text with labels, enumerations, references and part numbers blanked."""
    spans = [match.span() for pattern in (_LABEL, _REFERENCE, _ENUMERATION) for match in pattern.finditer(text)]
    spans += [match.span() for match in _PART_NUMBER.finditer(text) if not _THOUSANDS.fullmatch(match[0])]
    return _blank(text, spans)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    quantity: Quantity


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _QUANTITY.finditer(text):
        digits = re.sub(f"[ {_GROUP_SPACE}]", "", match["number"]).replace(",", ".")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        # A sign belongs to the number only when it opens a word («-40 °C»), not in «0,15-0,25» or «+/- 2».
        start = match.start()
        signed = start >= 1 and text[start - 1] in "-−" and (start == 1 or text[start - 2] in " \t\n(:=")
        value = float(digits) * (-1 if signed else 1)
        unit = _SPELLING_TO_UNIT[match["unit"]] if match["unit"] else None
        tokens.append(_Token(start - signed, match.end(), Quantity(round(value, 9), unit, decimals)))
    return tokens


def _with_unit(quantity: Quantity, unit: str | None) -> Quantity:
    return quantity if quantity.unit is not None or unit is None else Quantity(quantity.value, unit, quantity.decimals)


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or (a not in _OWN_KIND_ONLY and b not in _OWN_KIND_ONLY
                                                 and _dimensionality(a) == _dimensionality(b))


def _tolerance(nominal: Quantity, spread: Quantity) -> Interval | None:
    """«40 ± 2 Nm», «40 Nm ± 2», «40 N·m ± 5 %» as an interval; None when the two units cannot go together."""
    unit = nominal.unit or spread.unit
    if spread.unit == "%" and unit != "%":
        spread = Quantity(abs(nominal.value) * spread.value / 100, unit, nominal.decimals + 2)
    elif not _compatible(nominal.unit, spread.unit):
        return None
    decimals = max(nominal.decimals, spread.decimals)
    return Interval(Quantity(round(nominal.value - spread.value, 9), unit, decimals),
                    Quantity(round(nominal.value + spread.value, 9), unit, decimals))


def _range(low: Quantity, high: Quantity, between: str, opening: str) -> Interval | None:
    """«0,15–0,25 mm», «0.15 to 0.25 mm», «entre 0,15 et 0,25 mm» as an interval; None when it is not one."""
    if not _compatible(low.unit, high.unit):
        return None
    if between in _RANGE_WORDS or (between in _BETWEEN_WORDS and opening.endswith(("between", "entre"))):
        unit = low.unit or high.unit
        return Interval(_with_unit(low, unit), _with_unit(high, unit))
    return None


def read_items(text: str) -> Reading:
    """The quantities, intervals and named items a text states (see the module doc for the rules)."""
    designations, text = _designations(text)
    text = _not_quantities(text)
    tokens = _tokens(text)
    quantities: list[Quantity] = []
    intervals: list[Interval] = []
    nominals: list[Quantity] = []
    index = 0
    while index < len(tokens):
        first = tokens[index]
        if index + 1 < len(tokens):
            second = tokens[index + 1]
            between = text[first.end:second.start].strip().lower()
            if between in _TOLERANCE_SIGNS and (interval := _tolerance(first.quantity, second.quantity)):
                intervals.append(interval)
                nominals.append(_with_unit(first.quantity, interval.low.unit))
                index += 2
                continue
            opening = text[max(0, first.start - 9):first.start].strip().lower()
            if interval := _range(first.quantity, second.quantity, between, opening):
                intervals.append(interval)
                index += 2
                continue
        quantities.append(first.quantity)
        index += 1
    return Reading(tuple(quantities), tuple(intervals), tuple(designations), tuple(nominals))


def extract_quantities(text: str) -> list[Quantity]:
    """The single quantities of a text, in order of appearance (intervals and named items left out)."""
    return list(read_items(text).quantities)


@functools.cache
def _registry():
    import pint

    return pint.UnitRegistry()


@functools.cache
def _dimensionality(unit: str):
    return _registry().Quantity(1, _UNITS[unit][0]).dimensionality


def _convert(value: float, unit: str, to_unit: str) -> float:
    registry = _registry()  # Quantity(value, unit) rather than value * unit: °C and °F are offset units
    return float(registry.Quantity(value, _UNITS[unit][0]).to(_UNITS[to_unit][0]).magnitude)


def same_quantity(a: Quantity, b: Quantity) -> bool:
    """Equal values in the same unit, or equivalent ones to the written precision (see the module doc)."""
    if a.unit == b.unit:
        return a.value == b.value
    if a.unit is None or b.unit is None or not _compatible(a.unit, b.unit):
        return False
    for this, other in ((a, b), (b, a)):
        converted = _convert(other.value, other.unit, this.unit)
        if abs(converted - this.value) <= 0.5 * 10 ** -this.decimals + 1e-9 * max(1.0, abs(this.value)):
            return True
    return False


def _found(wanted: Item, reading: Reading) -> bool:
    if isinstance(wanted, Designation):
        return wanted in reading.designations
    if isinstance(wanted, Interval):
        return any(same_quantity(wanted.low, got.low) and same_quantity(wanted.high, got.high)
                   for got in reading.intervals)
    return any(same_quantity(wanted, got) for got in (*reading.quantities, *reading.nominals))


def numeric_matches(predicted: str, gold: str) -> list[tuple[Item, bool]]:
    """Each distinct quantity, interval and named item of the gold answer, and whether the prediction states it."""
    wanted = list(dict.fromkeys(read_items(gold).items()))
    reading = read_items(predicted)
    return [(item, _found(item, reading)) for item in wanted]


def numeric_exact_match(predicted: str, gold: str) -> bool | None:
    """True when the prediction states every quantity, interval and named item of the gold answer.

    None when the gold answer states none (the metric does not apply). Extra numbers in the prediction are
    allowed: a torque answer may also quote the bolt size.
    """
    matches = numeric_matches(predicted, gold)
    if not matches:
        return None
    return all(found for _, found in matches)


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
