"""Extraction and honest repair of model replies (postprocess.extract)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from postprocess.extract import ErrorKind, RepairKind, extract_json

BAD = Path(__file__).parent / "data" / "bad"
FICHE = {"object": "Pompe", "components": ["corps", "roue"],
         "dimensions": {"H": 320, "W": 210.5, "D": 180, "unit": "mm"}}


def kinds(extracted) -> set[RepairKind]:
    return {repair.kind for repair in extracted.repairs}


def test_clean_json_needs_no_repair():
    extracted = extract_json(json.dumps(FICHE))
    assert extracted.ok and extracted.value == FICHE and extracted.repairs == ()


def test_code_fence_and_prose_are_removed_and_reported():
    reply = f"Voici la fiche :\n```json\n{json.dumps(FICHE, indent=2)}\n```\nN'hésitez pas à demander."
    extracted = extract_json(reply)
    assert extracted.value == FICHE
    assert kinds(extracted) == {RepairKind.CODE_FENCE, RepairKind.TEXT_BEFORE, RepairKind.TEXT_AFTER}


def test_prose_around_an_unfenced_object():
    extracted = extract_json(f"Sure! {json.dumps(FICHE)} Hope this helps.")
    assert extracted.value == FICHE
    assert kinds(extracted) == {RepairKind.TEXT_BEFORE, RepairKind.TEXT_AFTER}


def test_trailing_commas_are_removed_and_counted():
    extracted = extract_json('{"components": ["corps", "roue",], "object": "Pompe",}')
    assert extracted.value == {"components": ["corps", "roue"], "object": "Pompe"}
    (repair,) = extracted.repairs
    assert repair.kind is RepairKind.TRAILING_COMMA and "2 trailing comma" in repair.message


def test_single_quotes_and_python_literals_become_json():
    extracted = extract_json("{'object': 'Pompe d\\'eau', 'ok': True, 'x': None, 'q': 'dit \"non\"'}")
    assert extracted.value == {"object": "Pompe d'eau", "ok": True, "x": None, "q": 'dit "non"'}
    assert kinds(extracted) == {RepairKind.SINGLE_QUOTES, RepairKind.PYTHON_LITERAL}


def test_truncated_reply_keeps_complete_members_and_drops_the_cut_one():
    full = json.dumps(FICHE)
    cut = full[: full.index("210.5") + 3]  # ends inside the number 210.5 → "21"
    extracted = extract_json(cut)
    assert extracted.ok
    assert extracted.value == {"object": "Pompe", "components": ["corps", "roue"], "dimensions": {"H": 320}}
    messages = [str(r) for r in extracted.repairs]
    assert any("dropped member 'W'" in m for m in messages)
    assert any("closed 2 open" in m for m in messages)


@pytest.mark.parametrize("text, expected", [
    ('{"flag": true, "components": ["corps", "ro', {"flag": True, "components": ["corps"]}),
    ('{"flag": true, "obj', {"flag": True}),
    ('{"flag": true, "object"', {"flag": True}),
    ('{"flag": true, "object":', {"flag": True}),
    ('{"flag": true, "object": "Po', {"flag": True}),
    ('{"components": ["corps"], "flag": tru', {"components": ["corps"]}),
    ('{"flag": true, "n": 12', {"flag": True}),
    ('{"flag": true, "n": -', {"flag": True}),
    ('{"flag": true, "n": 1.5e', {"flag": True}),
    ('{"flag": true, "s": "a\\u00', {"flag": True}),
    ('{"flag": true,', {"flag": True}),
    ('{"flag": true, "d": {"H": 3, "W": [', {"flag": True, "d": {"H": 3, "W": []}}),
])
def test_truncation_never_keeps_a_partial_value(text, expected):
    extracted = extract_json(text)
    assert extracted.ok and extracted.value == expected
    assert RepairKind.CLOSED_TRUNCATED in kinds(extracted)


def test_raw_control_characters_are_kept_and_reported():
    extracted = extract_json('{"object": "Pom\x01pe"}')
    assert extracted.value == {"object": "Pom\x01pe"}
    assert "U+0001" in str(extracted.repairs[0])


def test_array_around_the_object_is_reported_not_silently_accepted():
    extracted = extract_json('[{"object": "Pompe"}]')
    assert extracted.value == {"object": "Pompe"}
    assert kinds(extracted) == {RepairKind.TEXT_BEFORE, RepairKind.TEXT_AFTER}


@pytest.mark.parametrize("name, kind, message", [
    ("post_reply_no_object.txt", ErrorKind.NO_OBJECT, "no '{'"),
    ("post_reply_empty.txt", ErrorKind.EMPTY, "empty"),
    ("post_reply_duplicate_key.txt", ErrorKind.DUPLICATE_KEY, "'object' appears twice"),
    ("post_reply_nan.txt", ErrorKind.NON_FINITE, "NaN is not a JSON number"),
    ("post_reply_missing_comma.txt", ErrorKind.SYNTAX, "expected ',' or '}'"),
    ("post_reply_unquoted_key.txt", ErrorKind.SYNTAX, "expected a quoted key"),
    ("post_reply_bad_escape.txt", ErrorKind.SYNTAX, "invalid escape \\q"),
    ("post_reply_too_deep.txt", ErrorKind.TOO_DEEP, "nested deeper than"),
])
def test_bad_replies_give_a_typed_error_with_position(name, kind, message):
    extracted = extract_json((BAD / name).read_text(encoding="utf-8"))
    assert extracted.value is None and extracted.error is not None
    assert extracted.error.kind is kind
    assert message in extracted.error.message
    assert extracted.error.line >= 1 and extracted.error.column >= 1


def test_error_position_points_at_the_problem():
    extracted = extract_json('{\n  "a": 1,\n  "a": 2\n}')
    assert (extracted.error.kind, extracted.error.line, extracted.error.column) == (ErrorKind.DUPLICATE_KEY, 3, 3)
