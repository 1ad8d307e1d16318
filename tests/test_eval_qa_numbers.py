"""Numeric exact match read as a technician reads a service manual: French and English phrasings, each with its verdict.

Each row: the reference answer, a candidate answer, and whether the candidate states every quantity, interval and
named item of the reference (None: the reference states none, the metric does not apply).
"""
from __future__ import annotations

import pytest

from eval.metrics.qa import Designation, Interval, Quantity, numeric_exact_match, numeric_matches, read_items

PROBE = "Stage 1: 40 Nm, Stage 2: 90 degrees, Stage 3: 90 degrees"

PHRASINGS = [
    # The workflow's critical probe: stage labels are not quantities, «degrees» is °, repeats count once.
    (PROBE, "40 N·m, then 90° twice", True),
    (PROBE, "45 Nm", False),
    (PROBE, "Serrer à 40 Nm puis 2 × 90°", True),
    (PROBE, "40 Nm puis 180°", False),
    # Labels and enumerations.
    ("Étape 1 : 20 N·m. Étape 2 : 60 N·m.", "20 Nm puis 60 Nm", True),
    ("Step 3: tighten to 25 Nm", "25 Nm", True),
    ("Phase 1 : 30 N·m", "Phase 2 : 30 N·m", True),
    ("1. Serrer à 25 N·m.\n2. Desserrer d'un demi-tour.", "25 Nm", True),
    ("a) 12 mm ; b) 14 mm", "12 mm et 14 mm", True),
    ("Voir la figure 3, page 45 : jeu 0,2 mm", "0,2 mm", True),
    ("Remplacer la pièce 11 12 1 309 418", "Remplacer le joint", None),
    ("Réf. 7701 208 265, serrer à 9 N·m", "9 Nm", True),
    ("Tableau 4, § 3.2 : pression 2,5 bar", "2,5 bar", True),
    # Angle words.
    ("Serrage angulaire 90 degrés", "90°", True),
    ("Angle: 60 deg", "60 degrees", True),
    ("Angle : 60°", "90°", False),
    # Ranges and tolerances: a reference interval needs the same two bounds, in any notation.
    ("Jeu 0,15–0,25 mm", "entre 0,15 et 0,25 mm", True),
    ("Clearance 0.15 to 0.25 mm", "0,15 - 0,25 mm", True),
    ("Jeu de 0,15 à 0,25 mm", "0,2 mm", False),
    ("40 ± 2 Nm", "38–42 N·m", True),
    ("40 +/- 2 N·m", "40 ± 2 Nm", True),
    ("40 ± 2 Nm", "40 Nm", False),
    ("40 Nm", "40 ± 2 Nm", True),
    ("Couple 40 N·m ± 5 %", "38 à 42 Nm", True),
    ("-40 °C à 80 °C", "-40 to 80 °C", True),
    # Equivalent units (pint), to the precision written.
    ("40 N·m", "4 daN·m", True),
    ("40 N·m", "4,1 daN·m", False),
    ("Serrer à 4 daN.m", "40 Nm", True),
    ("40 N·m", "4,1 m.kg", True),
    ("40 N·m", "30 ft·lb", True),
    ("40 N·m", "35 ft-lb", False),
    ("Pression 2,5 bar", "250 kPa", True),
    ("Pression 2,5 bar", "25 kPa", False),
    ("Thermostat opens at 90 °C", "194 °F", True),
    ("Thermostat opens at 90 °C", "90 °F", False),
    ("Couple 40 N·m", "40 mm", False),
    # Named items, compared as text.
    ("Vis M10×1.25, 45 N·m", "vis M10 x 1,25 à 45 Nm", True),
    ("Vis M10×1.25, 45 N·m", "vis M10 à 45 Nm", False),
    ("Huile 5W-30, 4,5 l", "5W30, 4.5 litres", True),
    ("Huile 5W-30, 4,5 l", "10W-40, 4,5 l", False),
    ("Liquide de frein DOT 4", "DOT 4", True),
    ("Le joint torique porte le repère 7.", "C'est l'item 7", True),
    ("Le joint torique porte le repère 7.", "repère 4", False),
    ("Bolt M8", "8 mm", False),
    # Decimal comma, thousands grouping, the gold without numbers.
    ("Effort 12\u202f000 N", "12000 N", True),
    ("Remplacer le joint torique.", "Remplacer le joint", None),
]


@pytest.mark.parametrize("gold, predicted, verdict", PHRASINGS)
def test_manual_phrasings(gold, predicted, verdict):
    assert numeric_exact_match(predicted, gold) is verdict


def test_the_table_holds_at_least_thirty_phrasings_in_both_languages():
    assert len(PHRASINGS) >= 30


def test_what_the_probe_reference_asks_for():
    assert [item for item, _ in numeric_matches("", PROBE)] == [Quantity(40, "N·m"), Quantity(90, "°")]


def test_a_reading_separates_quantities_intervals_and_named_items():
    reading = read_items("Vis M8, couple 40 ± 2 N·m, jeu 0,1 mm, huile 5W-30")
    assert reading.designations == (Designation("M8"), Designation("5W-30"))
    assert reading.intervals == (Interval(Quantity(38, "N·m"), Quantity(42, "N·m")),)
    assert reading.quantities == (Quantity(0.1, "mm"),) and reading.nominals == (Quantity(40, "N·m"),)
