"""Real engineers' text passes the fiche schema: typographic and technical characters, `"` and `\\` (written ″ and
⧵), paragraphs up to 1,000 characters and list items up to 300, each validating, converting and round-tripping
through canonical JSON unchanged; a longer value is refused with its field, length and limit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from converters.fiche import convert_fiches
from fiche_schema.canonical import canonical_text
from fiche_schema.quotes import restore_quotes, substitute_quotes
from fiche_schema.validate import validate_fiche
from fiche_vlm.cli import main

REPO = Path(__file__).resolve().parent.parent
VERIN = Path(__file__).parent / "data" / "fiche_verin_fr.jsonl"  # a French fiche as engineers write them
PARAGRAPH_290 = ("L’air comprimé (6 bar) pousse le piston ⌀ 32 : la tige sort et exerce ≈ 480 N ; à l’échappement, "
                 "le ressort de rappel la ramène. Le clapet anti-retour « bille + ressort » évite le retour d’huile ; "
                 "le couple de serrage des vis M6 est de 10 N·m – vérifier ≥ 2 filets en prise (10⁶ cycles).")
ENGLISH_PARAGRAPH = ("The gearbox input shaft (Ø 25 h6) turns at ≤ 3,000 rpm; torque is transmitted through a "
                     "DIN 6885 key to the 1st stage pinion (z = 17, m = 2). Lubrication: ISO VG 220 splash, "
                     "40–60 °C. Bearings 6205-2RS, L10 ≥ 20,000 h at 1.2 kN radial load — see C:\\PLM\\GBX-200\\calc.xlsx. ")
PARAGRAPH_1000 = (ENGLISH_PARAGRAPH * 4)[:993] + " °C (…)"
# (field, text): at least 20 strings in French and English, with the characters real fiches hold.
REALISTIC = [
    ("object", "Vérin pneumatique double effet ⌀ 32 × 160"),
    ("object", "Raccord coudé 90° – filetage 1/2\" BSP"),
    ("function", "Guider l’arbre en rotation et reprendre l’effort axial (≤ 2 kN)"),
    ("function", "Transmit 45 N·m from the motor to the pump at 1,450 rpm"),
    ("global_shape", "Plaque « en L » de 120 × 80 × 8 mm, congés R5, 4 trous ⌀ 9"),
    ("global_shape", "Hexagon bar 22 mm A/F, 3/8\"-16 UNC tapped both ends"),
    ("components", "écrou M10×1,25 – classe 8"),
    ("components", "joint torique 20 × 2 (NBR 70 Sh A)"),
    ("components", "ressort de compression k = 4,2 N/mm"),
    ("interfaces", "alésage ⌀ 20 H7 ↔ arbre ⌀ 20 g6"),
    ("interfaces", "bride DN 50 – PN 16 (EN 1092-1)"),
    ("interfaces", "port G 1/4\" (ISO 228-1)"),
    ("materials_guess", "acier 42CrMo4 trempé-revenu, Rm ≥ 900 MPa"),
    ("materials_guess", "PA66-GF30 (30 % fibres de verre)"),
    ("manufacturing", "usinage CN – tolérance ± 0,02 mm, Ra ≤ 1,6 µm"),
    ("manufacturing", "impression 3D SLS, épaisseur ≥ 1,5 mm"),
    ("assumptions", "couple de serrage = 25 N·m ± 10 %"),
    ("assumptions", "fatigue life ≥ 10⁶ cycles at 20 °C"),
    ("uncertainties", "repère #4 non coté sur la vue de droite"),
    ("uncertainties", "drawing path C:\\Projets\\Support\\rev_B.dwg not found"),
    ("risks_limits", "risque de grippage si T > 120 °C ; prévoir graisse « haute température »"),
    ("risks_limits", "buckling beyond 500 mm stroke — α ≈ 2,5°, σ ≤ 0.6·Re"),
    ("working_principle", PARAGRAPH_290),
    ("assembly_hypothesis", PARAGRAPH_1000),
    ("working_principle", "Réducteur 1:5 : ω₂ = ω₁/5, C₂ ≈ 5·C₁·η (η ≈ 0,95) ; arbre creux ⌀ 30 – clavette 8×7"),
]
VALID_FICHE = {"object": "Support", "function": "Tenir", "global_shape": "Plaque", "components": [],
               "interfaces": [], "working_principle": "Appui plan", "dimensions": {"H": 8, "W": 120, "D": 80,
                                                                                     "unit": "mm"},
               "materials_guess": [], "manufacturing": [], "assembly_hypothesis": "Vissé", "assumptions": [],
               "uncertainties": [], "risks_limits": []}


def with_text(field: str, text: str) -> dict:
    fiche = json.loads(json.dumps(VALID_FICHE))
    if isinstance(fiche[field], list):
        fiche[field].append(text)
    else:
        fiche[field] = text
    return fiche


def test_the_set_is_as_wide_as_the_issue_asks() -> None:
    texts = "".join(text for _, text in REALISTIC)
    assert len(REALISTIC) >= 20
    assert all(char in texts for char in "’«»≤≥=·–⌀#⁶\"\\")
    assert len(PARAGRAPH_290) in range(280, 301) and len(PARAGRAPH_1000) == 1000


@pytest.mark.parametrize("field, text", REALISTIC, ids=[f"{field}-{k}" for k, (field, _) in enumerate(REALISTIC)])
def test_realistic_text_validates_converts_and_round_trips(field: str, text: str) -> None:
    fiche, substituted = substitute_quotes(with_text(field, text))
    assert substituted == text.count('"') + text.count("\\")
    assert validate_fiche(fiche) == []
    canonical = canonical_text(fiche)
    assert json.loads(canonical) == fiche and canonical_text(json.loads(canonical)) == canonical
    assert restore_quotes(fiche) == with_text(field, text)  # the substitution is undone for readers


def test_quotes_and_backslashes_are_written_as_double_prime_and_reverse_solidus_operator() -> None:
    assert substitute_quotes({"a": ['1/2" BSP', "C:\\CAO"], "n": 3}) == ({"a": ["1/2″ BSP", "C:⧵CAO"], "n": 3}, 2)
    assert restore_quotes({"a": ["1/2″ BSP", "C:⧵CAO"], "n": 3}) == {"a": ['1/2" BSP', "C:\\CAO"], "n": 3}
    assert validate_fiche(with_text("object", '1/2" BSP'))[0].startswith(
        "$.object: '1/2\" BSP' has characters the schema does not admit: U+0022 '\"'")


@pytest.mark.parametrize("field, limit", [("working_principle", 1000), ("assembly_hypothesis", 1000),
                                          ("function", 1000), ("object", 300), ("components", 300)])
def test_a_value_over_its_limit_names_field_length_and_limit(field: str, limit: int) -> None:
    assert validate_fiche(with_text(field, "é" * limit)) == []
    path = f"$.{field}[0]" if field == "components" else f"$.{field}"
    [error] = validate_fiche(with_text(field, "é" * (limit + 1)))
    assert error.startswith(f"{path}: 'éé") and error.endswith(
        f"... is {limit + 1} characters long; the limit is {limit}")


@pytest.mark.parametrize("char", ["\u0000", "\u001f", "\u007f", "\u0085", "\u009f", "\ufffd", "\u2028", "😀"])
def test_control_characters_replacement_character_and_astral_characters_are_refused(char: str) -> None:
    assert validate_fiche(with_text("object", f"a{char}b")) != []


def test_french_fiche_validates_and_converts_with_its_quotes_written_as_substitutes(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(VERIN), "--data-root", str(REPO)])
    assert result.exit_code == 0, result.output
    assert '1 valid (8 " or \\ to be written as ″ or ⧵), 0 with problems' in result.output
    report = convert_fiches(VERIN, tmp_path / "verin.json", dataset_dir=tmp_path, name="verin",
                            long_side=(224, 224), data_root=REPO, strict=True)
    assert (report.written, report.substituted) == (1, 8) and "8 \" or \\ in gold text" in report.summary()
    gold = json.loads(VERIN.read_text(encoding="utf-8"))["output"]
    answer = json.loads(json.loads((tmp_path / "verin.json").read_text(encoding="utf-8"))[0]["messages"][1]["content"])
    assert answer == substitute_quotes(gold)[0] and restore_quotes(answer) == gold
    assert "2 orifices G 1/4″ (alimentation)" in answer["interfaces"]
    assert len(gold["working_principle"]) > 290 and len(gold["assembly_hypothesis"]) == 1000
