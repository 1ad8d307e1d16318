"""The `fiche annotate` page in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): one
page, started once for the module as a user starts it, on a skeleton whose first fiche has a draft from a
predictions file and whose endpoint is a real HTTP server answering like vLLM. Each test works on its own fiche."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from annotate_page import annotate_page, field, open_fiche, text_of, type_into, wait_for
from fake_endpoint import fake_endpoint

from eval.browser import chromium_available, headless_chromium

pytestmark = pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))


@pytest.fixture(scope="module")
def gold(sample_fiches: Path) -> dict:
    return json.loads(sample_fiches.read_text(encoding="utf-8").splitlines()[0])["output"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, sample_fiches: Path, gold: dict) -> Path:
    """Four sample fiches with `output: null` and their views, a malformed fifth line, and predictions for the
    first fiche."""
    folder = tmp_path_factory.mktemp("annotate")
    shutil.copytree(sample_fiches.parent / "images", folder / "images")
    lines = sample_fiches.read_text(encoding="utf-8").splitlines()[:4]
    records = [{**json.loads(line), "output": None} for line in lines]
    records[3]["images"].append("images/absent.png")  # a view that is not there
    (folder / "fiches.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                                         + '{"id": "cut", "images": [\n', encoding="utf-8")
    drafted = {**gold, "object": "Platine du modèle"}
    (folder / "predictions.jsonl").write_text(json.dumps(
        {"id": records[0]["id"], "raw": json.dumps(drafted), "json": drafted, "valid": True, "errors": [],
         "finish_reason": "stop"}, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def replies() -> list[str]:
    """What the endpoint answers next, first in first out."""
    return []


@pytest.fixture(scope="module")
def page_url(workspace: Path, replies: list[str]):
    with fake_endpoint(lambda body: replies.pop(0)) as base_url, annotate_page(
            workspace / "fiches.jsonl", "--predictions", str(workspace / "predictions.jsonl"),
            "--live", "--base-url", base_url) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with headless_chromium(1400, 1000) as driver:
        yield driver


def line_bytes(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def test_a_skeleton_fiche_is_typed_checked_and_confirmed_from_the_keyboard(browser, page_url: str,
                                                                           workspace: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    fiches = workspace / "fiches.jsonl"
    before = line_bytes(fiches)
    open_fiche(browser, page_url, "bracket-02")
    views = wait_for(browser, lambda: browser.execute_script(
        "const v = Array.from(document.querySelectorAll('#annotate-views img'), i => i.naturalWidth);"
        "return v.length === 3 && v.every(w => w > 0) ? v : null;"), "the three views did not load")
    assert views == [672, 672, 672]  # full size: the views' own width (the sample's are 672 px)
    assert "Plan de définition" in field(browser, "annotate-context").get_attribute("value")
    for name, value in [("object", "Équerre de renfort"), ("function", "Rigidifier un angle"),
                        ("global_shape", "Cornière pliée à 90°"), ("working_principle", "Reprise d'effort par pli"),
                        ("assembly_hypothesis", "Vissée sur deux faces")]:
        type_into(browser, f"field-{name}", value)
    type_into(browser, "field-components", "cornière 60×40\n2 trous Ø7")  # a list: one item per line
    wait_for(browser, lambda: '"2 trous Ø7"' in text_of(browser, "annotate-json"), "the item is not in the answer")
    type_into(browser, "field-dimensions-H", "-5")
    type_into(browser, "field-dimensions-W", "60")
    type_into(browser, "field-dimensions-D", "40")
    unit = field(browser, "field-dimensions-unit")
    unit.click()
    unit.send_keys("mm", Keys.ENTER)
    wait_for(browser, lambda: "dimensions.H: must be > 0" in text_of(browser, "error-dimensions"),
             "no field error for a negative dimension")
    assert not browser.find_element("id", "annotate-confirm").is_enabled()
    browser.find_element("tag name", "body").send_keys(Keys.CONTROL, Keys.ENTER)  # refused while invalid
    assert line_bytes(fiches) == before
    type_into(browser, "field-dimensions-H", "45")
    wait_for(browser, lambda: browser.find_element("id", "annotate-confirm").is_enabled(), "confirm stays disabled")
    assert text_of(browser, "error-dimensions") == ""
    browser.find_element("tag name", "body").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(browser, lambda: "bracket-02 confirmed" in text_of(browser, "annotate-message"), "not confirmed")
    after = line_bytes(fiches)
    assert [k for k in range(len(before)) if before[k] != after[k]] == [1]
    output = json.loads(after[1])["output"]
    assert output["components"] == ["cornière 60×40", "2 trous Ø7"]
    assert output["object"] == "Équerre de renfort" and output["dimensions"] == {"H": 45, "W": 60, "D": 40,
                                                                                  "unit": "mm"}
    assert "1/4 confirmed" in text_of(browser, "annotate-count")


def test_a_draft_from_predictions_is_marked_until_confirmed(browser, page_url: str, workspace: Path) -> None:
    open_fiche(browser, page_url, "plate-01")
    assert "drafted by the model" in text_of(browser, "annotate-header")
    assert field(browser, "field-object").get_attribute("value") == "Platine du modèle"
    label = browser.find_element("css selector", "#field-object").text
    assert "from the model, not confirmed" in label
    browser.find_element("id", "annotate-confirm").click()
    wait_for(browser, lambda: "plate-01 confirmed" in text_of(browser, "annotate-message"), "not confirmed")
    assert "from the model" not in browser.find_element("css selector", "#field-object").text
    first = json.loads(line_bytes(workspace / "fiches.jsonl")[0])
    assert first["output"]["object"] == "Platine du modèle"


def test_ask_the_model_drafts_the_fiche_and_a_bad_answer_is_shown(browser, page_url: str, gold: dict,
                                                                  replies: list[str]) -> None:
    open_fiche(browser, page_url, "spacer-03")
    replies[:] = ["Voici la fiche : pas de JSON", json.dumps({**gold, "object": "Entretoise"}, ensure_ascii=False)]
    browser.find_element("id", "annotate-ask").click()
    wait_for(browser, lambda: "gave no draft" in text_of(browser, "annotate-message"), "no error shown")
    assert "malformed JSON" in text_of(browser, "annotate-message")
    type_into(browser, "field-object", "encore modifiable")  # the fiche stays editable
    browser.find_element("id", "annotate-ask").click()
    wait_for(browser, lambda: field(browser, "field-object").get_attribute("value") == "Entretoise", "no draft")
    assert "drafted by the model" in text_of(browser, "annotate-header")


def test_a_file_changed_on_disk_refuses_the_save_and_offers_a_reload(browser, page_url: str, workspace: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    fiches = workspace / "fiches.jsonl"
    open_fiche(browser, page_url, "flange-04")
    wait_for(browser, lambda: "missing view images[2] (images/absent.png)" in text_of(browser, "annotate-missing"),
             "the missing view is not named")
    wait_for(browser, lambda: len(browser.find_elements("css selector", "#annotate-views img")) == 2, "views")
    type_into(browser, "field-object", "Bride à souder")
    changed = fiches.read_bytes().replace(b"Plan de d", b"PLAN de d", 1)  # another editor saves meanwhile
    fiches.write_bytes(changed)
    browser.find_element("tag name", "body").send_keys(Keys.CONTROL, "s")
    wait_for(browser, lambda: "changed on disk" in text_of(browser, "annotate-message"), "no refusal shown")
    assert fiches.read_bytes() == changed
    assert field(browser, "field-object").get_attribute("value") == "Bride à souder"  # the edit is not lost
    browser.find_element("id", "annotate-reload").click()
    wait_for(browser, lambda: "Reloaded" in text_of(browser, "annotate-message"), "no reload")
    assert field(browser, "field-object").get_attribute("value") == "Bride à souder"  # still there after the reload
    browser.find_element("tag name", "body").send_keys(Keys.CONTROL, "s")
    wait_for(browser, lambda: "Draft of flange-04 saved" in text_of(browser, "annotate-message"), "not saved")
    sidecar = json.loads((workspace / "fiches.jsonl.annotate.json").read_text(encoding="utf-8"))
    assert sidecar["fiches"]["flange-04"]["draft"]["object"] == "Bride à souder"
    assert fiches.read_bytes() == changed  # a draft never touches the JSONL


def test_a_malformed_line_is_shown_as_not_annotatable_and_left_alone(browser, page_url: str, workspace: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    open_fiche(browser, page_url, "flange-04")
    browser.find_element("tag name", "body").send_keys(Keys.ALT, Keys.ARROW_RIGHT)
    wait_for(browser, lambda: "not annotatable" in text_of(browser, "annotate-header"), "not shown")
    header = text_of(browser, "annotate-header")
    assert f"{workspace / 'fiches.jsonl'}:5: not annotatable" in header and "malformed JSON" in header
    assert not browser.find_element("id", "annotate-confirm").is_enabled()
    assert line_bytes(workspace / "fiches.jsonl")[4] == b'{"id": "cut", "images": ['
