"""`fiche annotate` without a browser: the store's one-line saves, statuses that survive a restart, the
changed-on-disk refusal, the schema-ordered form and its per-field problems, drafts from predictions and from a
live endpoint, and the command line. The page itself is driven in test_annotate_browser.py."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_endpoint import fake_endpoint
from ports import free_port

from fiche_schema import load_schema
from fiche_vlm.annotate.drafts import ask_endpoint, prefill, read_predictions
from fiche_vlm.annotate.form import answer_to_form, field_problems, form_fields, form_to_answer
from fiche_vlm.annotate.launch import prepare
from fiche_vlm.annotate.session import Session, read_views
from fiche_vlm.annotate.store import CONFIRMED, DRAFTED, SKIPPED, TODO, ChangedOnDisk, FicheStore, sidecar_path
from fiche_vlm.cli import main

BAD = Path(__file__).parent / "data" / "bad"


def sample_records(sample_fiches: Path) -> list[dict]:
    return [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def skeleton(tmp_path: Path, sample_fiches: Path) -> Path:
    """Three sample fiches with `output: null`, their views copied; line 2 ends in CRLF, line 3 is malformed,
    and the file starts with a byte-order mark: the bytes a save must leave alone."""
    shutil.copytree(sample_fiches.parent / "images", tmp_path / "images")
    records = [{**record, "output": None} for record in sample_records(sample_fiches)[:3]]
    lines = [json.dumps(record, ensure_ascii=False).encode() for record in records]
    data = b"\xef\xbb\xbf" + lines[0] + b"\n" + lines[1] + b"\r\n" + b'{"id": "cut", \n' + lines[2] + b"\n"
    path = tmp_path / "fiches.jsonl"
    path.write_bytes(data)
    return path


@pytest.fixture
def gold(sample_fiches: Path) -> dict:
    return sample_records(sample_fiches)[0]["output"]


def test_confirm_rewrites_that_line_only_and_every_other_byte_stays(skeleton: Path, gold: dict) -> None:
    before = skeleton.read_bytes().split(b"\n")
    store = FicheStore(skeleton)
    second = store.fiches[1]
    store.confirm(second, gold)
    after = skeleton.read_bytes().split(b"\n")
    assert len(after) == len(before)
    changed = [k for k in range(len(before)) if before[k] != after[k]]
    assert changed == [1]
    assert after[1].endswith(b"\r")  # its CRLF kept
    assert json.loads(after[1])["output"] == gold
    assert list(json.loads(after[1])) == list(json.loads(before[1]))  # the record's key order kept
    assert FicheStore(skeleton).fiches[1].status == CONFIRMED


def test_a_malformed_line_is_not_annotatable_and_never_rewritten(skeleton: Path, gold: dict) -> None:
    store = FicheStore(skeleton)
    broken = store.fiches[2]
    assert not broken.annotatable and broken.where == f"{skeleton}:3" and "malformed JSON" in broken.problem
    done, message = Session(store).confirm(2, answer_to_form(gold))
    assert not done and "not annotatable" in message
    store.confirm(store.fiches[3], gold)
    assert skeleton.read_bytes().split(b"\n")[2] == b'{"id": "cut", '
    report = FicheStore(skeleton).status_report()
    assert "1/3 confirmed" in report and f"{skeleton}:3: line: malformed JSON" in report


@pytest.mark.parametrize("name, expected", [
    ("annotate_malformed_line.jsonl", "annotate_malformed_line.jsonl:2: line: malformed JSON"),
    ("annotate_duplicate_id.jsonl", "annotate_duplicate_id.jsonl:2: id: 'same' is already the id of"),
])
def test_bad_lines_are_listed_with_file_line_and_reason(name: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["annotate", str(BAD / name), "--status"])
    assert result.exit_code == 0, result.output
    assert expected in result.output and "not annotatable: 1" in result.output
    assert not sidecar_path(BAD / name).exists()  # --status writes nothing


def test_statuses_and_drafts_survive_a_restart(skeleton: Path, gold: dict) -> None:
    store = FicheStore(skeleton)
    original = skeleton.read_bytes()
    half_done = {**gold, "object": "Platine"}
    store.keep_draft(store.fiches[0], half_done)
    Session(store).skip(1)
    assert skeleton.read_bytes() == original  # drafts and skips never reach the JSONL (nor training)
    again = FicheStore(skeleton)
    assert again.fiches[0].answer() == half_done and again.fiches[0].status == TODO
    assert again.fiches[1].status == SKIPPED
    counts = again.counts()
    assert (counts[TODO], counts[SKIPPED], counts[CONFIRMED], counts["not annotatable"]) == (2, 1, 0, 1)


def test_a_file_changed_on_disk_refuses_every_save_until_reloaded(skeleton: Path, gold: dict) -> None:
    store = FicheStore(skeleton)
    session = Session(store)
    other = skeleton.read_bytes().replace(b"Plan de d", b"PLAN de d", 1)  # another editor's change
    skeleton.write_bytes(other)
    os.utime(skeleton, ns=(1, 1))
    for action in (lambda: store.confirm(store.fiches[0], gold), lambda: store.keep_draft(store.fiches[0], gold)):
        with pytest.raises(ChangedOnDisk, match="changed on disk since it was loaded"):
            action()
    done, message = session.confirm(0, answer_to_form(gold))
    assert not done and "Reload" in message
    assert skeleton.read_bytes() == other
    session.reload()
    assert session.confirm(0, answer_to_form(gold))[0]
    assert b"PLAN de d" in skeleton.read_bytes()  # the other change kept


def test_a_second_instance_cannot_overwrite_the_statuses_the_first_wrote(skeleton: Path, gold: dict) -> None:
    """Skips and drafts live only in the sidecar: another `fiche annotate` on the same file must not erase them."""
    first, second = FicheStore(skeleton), FicheStore(skeleton)
    Session(first).skip(1)
    with pytest.raises(ChangedOnDisk, match="the statuses"):
        second.keep_draft(second.fiches[0], gold)
    second.reload()
    second.keep_draft(second.fiches[0], gold)
    again = FicheStore(skeleton)
    assert again.fiches[1].status == SKIPPED and again.fiches[0].answer() == gold


def test_a_touched_but_identical_file_still_saves(skeleton: Path, gold: dict) -> None:
    store = FicheStore(skeleton)
    os.utime(skeleton, ns=(1, 1))
    store.confirm(store.fiches[0], gold)


def test_the_form_has_every_schema_field_in_schema_order_and_round_trips(gold: dict) -> None:
    schema = load_schema("fiche")
    assert [spec.name for spec in form_fields()] == list(schema["properties"])
    dimensions = next(spec for spec in form_fields() if spec.name == "dimensions")
    assert dimensions.parts == ("H", "W", "D", "unit") and dimensions.choices == ("mm", "cm", "m", "in")
    values = answer_to_form(gold)
    values["dimensions.W"] = 120.0  # what a number box gives back
    answer = form_to_answer(values)
    assert answer == gold and list(answer) == list(schema["properties"])
    assert json.dumps(answer["dimensions"]) == json.dumps(gold["dimensions"])  # 120, not 120.0


def test_problems_are_placed_at_their_fields(gold: dict) -> None:
    values = answer_to_form(gold)
    values.update({"dimensions.H": -3, "dimensions.W": None, "object": "", "components": ["vis", "l\u0007axe", "  "],
                   "interfaces": ["l’axe", 'filetage 1/2"']})  # typographic and inch marks are fine
    problems = dict(field_problems(form_to_answer(values)))
    assert problems["dimensions.H"] == "must be > 0"
    assert problems["dimensions.W"] == "required"
    assert problems["object"] == "required"
    assert "U+0007" in problems["components[1]"]  # the blank row was dropped
    assert not any(name.startswith("interfaces") for name in problems)
    values.update({"dimensions.H": 8, "dimensions.W": 120, "object": "Platine", "components": ["vis"]})
    assert field_problems(form_to_answer(values)) == []


def test_an_invalid_answer_cannot_be_confirmed(skeleton: Path, gold: dict) -> None:
    before = skeleton.read_bytes()
    session = Session(FicheStore(skeleton))
    done, message = session.confirm(0, {**answer_to_form(gold), "dimensions.H": -1})
    assert not done and "1 problem(s)" in message
    assert skeleton.read_bytes() == before and session.store.fiches[0].status == TODO


def test_predictions_draft_the_fiches_to_do_and_mark_the_model_fields(skeleton: Path, gold: dict,
                                                                       tmp_path: Path) -> None:
    predictions = tmp_path / "predictions.jsonl"
    partial = {key: value for key, value in gold.items() if key != "risks_limits"}
    lines = [{"id": "plate-01", "raw": json.dumps(partial), "json": partial, "valid": False,
              "errors": ["$: 'risks_limits' is a required property"], "finish_reason": "stop"},
             {"id": "bracket-02", "raw": "{\"obj", "json": None, "valid": False, "errors": ["malformed JSON"],
              "finish_reason": "length"},
             {"raw": "no id"}]
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    session, notes = prepare(skeleton, predictions=predictions)
    drafted = session.store.fiches[0]
    assert drafted.status == DRAFTED and drafted.answer() == partial
    assert drafted.model_fields == [name for name in partial]  # every field the model wrote is marked
    assert session.store.fiches[1].status == TODO  # an answer that is no JSON object drafts nothing
    assert notes[0].startswith("1 fiche(s) drafted") and f"{predictions}:3: id:" in notes[1]
    assert session.draft_problems["bracket-02"] == ("malformed JSON",)
    again = FicheStore(skeleton)  # the marks survive a restart, and a later prefill keeps the user's work
    assert again.fiches[0].model_fields == drafted.model_fields
    assert prefill(again, read_predictions(predictions)[0]) == 0
    assert session.confirm(0, {**answer_to_form(partial), "risks_limits": ["flexion"]})[0]
    assert FicheStore(skeleton).fiches[0].model_fields == []  # confirmed: no longer marked


def test_unusable_prediction_lines_are_named_and_an_answer_that_is_no_object_drafts_nothing() -> None:
    drafts, bad = read_predictions(BAD / "annotate_predictions_not_json.jsonl")
    assert drafts["good"].answer is None and drafts["good"].problems == ("malformed JSON",)
    assert bad == [f"{BAD / 'annotate_predictions_not_json.jsonl'}:2: id: expected a non-empty string, got None"]


def test_a_missing_view_is_named_and_the_others_load() -> None:
    store = FicheStore(BAD / "annotate_missing_view.jsonl")
    views = read_views(store.fiches[0], store.data_root)
    assert [caption for _, caption in views.images] == ["budget_view_off_grid.png"]
    assert len(views.missing) == 1 and views.missing[0].startswith("images[1] (annotate_no_such_view.png):")


def test_live_draft_from_an_endpoint_with_the_constrained_request(skeleton: Path, gold: dict) -> None:
    seen = []

    def answer(body: dict) -> str:
        seen.append(body)
        return json.dumps(gold, ensure_ascii=False)

    store = FicheStore(skeleton)
    with fake_endpoint(answer) as base_url:
        draft = ask_endpoint(store.fiches[0].record, store.data_root, base_url=base_url, model=None,
                             api_key_env="FICHE_TEST_NO_KEY")
    assert draft.answer == gold and draft.problems == ()
    assert seen[0]["response_format"]["json_schema"]["schema"] == load_schema("fiche")
    assert [part["type"] for part in seen[0]["messages"][0]["content"]] == ["image_url", "image_url", "text"]


def test_live_draft_errors_leave_the_fiche_editable(skeleton: Path) -> None:
    nobody = free_port()  # nothing listens there
    from fiche_vlm.annotate.session import Endpoint

    session = Session(FicheStore(skeleton), Endpoint(f"http://127.0.0.1:{nobody}/v1", "fake", "FICHE_TEST_NO_KEY"))
    done, message = session.ask_model(0)
    assert not done and "no draft" in message and "Connection" in message
    with fake_endpoint(lambda body: "Voici la fiche : pas de JSON") as base_url:
        session.endpoint = Endpoint(base_url, None, "FICHE_TEST_NO_KEY")
        done, message = session.ask_model(0)
    assert not done and "not JSON: malformed JSON" in message
    assert session.store.fiches[0].status == TODO and session.store.fiches[0].draft is None


def test_a_host_other_than_loopback_requires_a_password(skeleton: Path, monkeypatch) -> None:
    monkeypatch.delenv("FICHE_ANNOTATE_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["annotate", str(skeleton), "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "set a password in $FICHE_ANNOTATE_PASSWORD" in result.output


def test_an_unreadable_status_file_is_an_error_not_a_fresh_start(skeleton: Path) -> None:
    sidecar_path(skeleton).write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["annotate", str(skeleton), "--status"])
    assert result.exit_code == 1 and "cannot read the annotation statuses" in result.output
    assert sidecar_path(skeleton).read_text(encoding="utf-8") == "{not json"
