"""`fiche score` / eval.runner.score: matching by id, the numbers in report.md, report.html and metrics.json,
the plots, and clear errors on bad input."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eval.loading import InputError
from eval.runner import NothingScored, score
from fiche_schema.canonical import canonical_text
from fiche_vlm.cli import main

BAD = Path(__file__).parent / "data" / "bad"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CAD = {"version": "1.0", "units": "mm", "operations": [
    {"id": "s1", "type": "sketch", "frame": "world",
     "plane": {"origin": [0, 0, 0], "normal": [0, 0, 1], "x_axis": [1, 0, 0]},
     "profiles": [{"id": "p1", "loops": [{"curves": [{"type": "circle", "center": [0, 0], "radius": 10}]}]}]},
    {"id": "e1", "type": "extrude", "frame": "sketch", "sketch": "s1", "profiles": ["p1"], "distance": 5,
     "opposite_distance": 0, "operation": "new_body"}]}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def prediction(record_id: str, obj, **extra) -> dict:
    return {"id": record_id, "raw": json.dumps(obj, ensure_ascii=False) if obj is not None else "garbage",
            "json": obj, "valid": obj is not None, "errors": [], "finish_reason": "stop", "latency_s": 0.5,
            "usage": {"completion_tokens": 10}, **extra}


@pytest.fixture(scope="module")
def gold_fiches(sample_fiches) -> list[dict]:
    return [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def fiche_predictions(tmp_path, gold_fiches) -> Path:
    """Eight gold fiches; five predicted: exact, same size in cm, H doubled, no JSON, and one retried to exact."""
    g = [record["output"] for record in gold_fiches]
    in_cm = copy.deepcopy(g[1])
    in_cm["dimensions"] = {axis: g[1]["dimensions"][axis] / 10 for axis in ("H", "W", "D")} | {"unit": "cm"}
    taller = copy.deepcopy(g[2])
    taller["dimensions"]["H"] = 2 * g[2]["dimensions"]["H"]
    reordered = dict(reversed(list(g[0].items())))
    ids = [record["id"] for record in gold_fiches]
    return write_jsonl(tmp_path / "predictions.jsonl", [
        prediction(ids[0], reordered), prediction(ids[1], in_cm), prediction(ids[2], taller),
        prediction(ids[3], None), prediction(ids[4], None), prediction(ids[4], g[4]),
        prediction("not-in-gold", g[0]),
    ])


def test_fiche_scores_are_counted_by_id_and_written_identically_to_md_html_and_json(
        tmp_path, sample_fiches, gold_fiches, fiche_predictions):
    log = write_jsonl(tmp_path / "trainer_log.jsonl",
                      [{"current_steps": step, "total_steps": 5, "loss": 4.0 / step} for step in range(1, 6)])
    out = tmp_path / "report"
    metrics = score(fiche_predictions, sample_fiches, out, task="fiche", train_log=log)

    assert metrics["validity"] == {"count": 4, "total": 8, "rate": 0.5}
    assert metrics["exact_match"] == {"count": 2, "total": 8, "rate": 0.25}
    assert metrics["counts"]["gold_without_prediction"] == 3
    assert metrics["counts"]["predictions_superseded"] == 1
    assert metrics["predictions_without_gold"] == ["not-in-gold"]
    geometry = metrics["geometry"]
    assert geometry["scored"] == 4 and geometry["unit_match"]["count"] == 3
    assert geometry["envelope_iou_scored"]["mean"] == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert geometry["envelope_iou_invalid_as_0"] == pytest.approx(3.5 / 8)
    assert geometry["axis_error_mm"]["H"]["max"] == pytest.approx(gold_fiches[2]["output"]["dimensions"]["H"])
    assert geometry["axis_error_mm"]["W"]["max"] == pytest.approx(0.0)
    # Three missing fiches and the one without JSON predict nothing: their gold list items are all misses.
    missed = sum(len(record["output"][field]) for record in gold_fiches[3:4] + gold_fiches[5:]
                 for field in metrics["slot_f1"]["per_field"])
    assert metrics["slot_f1"]["micro"]["fn"] == missed and metrics["slot_f1"]["micro"]["fp"] == 0

    markdown = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    for text in ("50.0 % (4/8)", "25.0 % (2/8)", "75.0 % (3/4)", "0.875", "0.438"):
        assert text in markdown and text in html
    assert "JSON validity rate" in markdown and "exact match" in markdown and "slot F1 micro" in markdown
    assert "Gold fiches without a prediction: 3;" in markdown
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["exact_match"]["count"] == 2
    for plot in ("slot_f1_per_field.png", "dimension_error_hist.png", "loss_curve.png"):
        assert (out / plot).read_bytes().startswith(PNG_MAGIC)
        assert f"]({plot})" in markdown and f'src="{plot}"' in html
    assert metrics["training"]["first_loss"] == 4.0 and metrics["training"]["last_loss"] == pytest.approx(0.8)


def test_sharegpt_gold_scores_like_the_fiche_jsonl_it_came_from(tmp_path, sample_fiches, gold_fiches,
                                                                fiche_predictions):
    sharegpt = tmp_path / "val.json"
    sharegpt.write_text(json.dumps([{
        "id": record["id"], "images": [f"x/{record['id']}_{k}.png" for k in range(len(record["images"]))],
        "messages": [{"role": "user", "content": "<image>" * len(record["images"]) + record["instruction"]},
                     {"role": "assistant", "content": canonical_text(record["output"])}]}
        for record in gold_fiches], ensure_ascii=False), encoding="utf-8")
    from_jsonl = score(fiche_predictions, sample_fiches, tmp_path / "a")
    from_sharegpt = score(fiche_predictions, sharegpt, tmp_path / "b")
    for key in ("validity", "exact_match", "slot_f1", "geometry"):
        assert from_sharegpt[key] == from_jsonl[key]


def test_score_command_prints_the_headline_and_writes_the_report(tmp_path, sample_fiches, fiche_predictions):
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["score", str(fiche_predictions), "--gold", str(sample_fiches),
                                       "--out", str(out), "--pictures", "0"])
    assert result.exit_code == 0, result.output
    assert "exact match 25.0 % (2/8)" in result.output and "JSON validity 50.0 % (4/8)" in result.output
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert "Views and scaffolds" not in (out / "report.md").read_text(encoding="utf-8")  # --pictures 0: none
    refused = CliRunner().invoke(main, ["score", str(fiche_predictions), "--gold", str(sample_fiches),
                                        "--out", str(out), "--task", "qa", "--pictures", "2"])
    assert refused.exit_code == 2 and "--pictures is for --task fiche" in refused.output


def test_the_error_histogram_says_when_every_error_is_zero():
    from matplotlib import pyplot

    from eval.plots import histogram_figure

    zero = histogram_figure({"H": [0.0] * 3, "W": [0.0] * 3}, title="t", xlabel="mm")
    axes = zero.axes[0]
    assert list(axes.get_xticks()) == [0.0] and axes.get_xlim()[0] < 0 < axes.get_xlim()[1]
    assert [text.get_text() for text in axes.texts] == ["all 6 values are exactly 0"]
    spread = histogram_figure({"H": [0.0, 4.0], "W": [1.0]}, title="t", xlabel="mm")
    assert spread.axes[0].get_xlim()[1] >= 4.0 and len(spread.axes[0].texts) == 0
    pyplot.close("all")


def test_a_view_outside_the_data_root_is_left_out_with_the_reason(tmp_path):
    from eval.pictures import fiche_pictures

    made = fiche_pictures("x", "x", ("../../secret.png",), tmp_path / "data", None, None, tmp_path / "out")
    assert made.view is None and "escapes the data root" in made.missing["view"]
    assert made.missing["predicted"] == "no JSON" and made.renders == 0


@pytest.mark.parametrize("name, message", [
    ("eval_predictions_not_json.jsonl", "eval_predictions_not_json.jsonl:2: line: malformed JSON"),
    ("eval_predictions_missing_id.jsonl", "eval_predictions_missing_id.jsonl:1: id: expected a non-empty string"),
    ("eval_predictions_raw_not_string.jsonl", "eval_predictions_raw_not_string.jsonl:1: raw: expected the answer text"),
    ("eval_predictions_not_objects.jsonl", "eval_predictions_not_objects.jsonl:1: line: expected a JSON object, got list"),
])
def test_bad_predictions_are_refused_naming_file_line_and_field(tmp_path, sample_fiches, name, message):
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        score(BAD / name, sample_fiches, tmp_path / "out")
    result = CliRunner().invoke(main, ["score", str(BAD / name), "--gold", str(sample_fiches), "--out",
                                       str(tmp_path / "cli")])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize("name, task, reason", [
    ("eval_gold_assistant_not_json.json", "fiche", ":1: messages[1].content: gold answer is not JSON"),
    ("eval_gold_no_assistant_turn.jsonl", "qa", ":1: messages: no assistant turn holds the gold answer"),
    ("eval_gold_output_null.jsonl", "fiche", ":1: output: is null"),
    ("eval_gold_missing_id.jsonl", "qa", ":1: id: expected a non-empty string"),
])
def test_a_gold_set_with_nothing_scorable_is_refused_with_every_reason(tmp_path, name, task, reason):
    predictions = write_jsonl(tmp_path / "p.jsonl", [prediction("a", None)])
    with pytest.raises(NothingScored, match="nothing scored") as raised:
        score(predictions, BAD / name, tmp_path / "out", task=task)
    assert f"{BAD / name}{reason}" in str(raised.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, task, reason", [
    ("eval_gold_duplicate_id.jsonl", "qa", ":2: id: duplicate 'a' (first at line 1)"),
])
def test_unscorable_gold_records_are_listed_with_their_reason_and_counted(tmp_path, name, task, reason):
    predictions = write_jsonl(tmp_path / "p.jsonl", [prediction("a", None)])
    metrics = score(predictions, BAD / name, tmp_path / "out", task=task)
    counts = metrics["counts"]
    assert counts["gold_read"] == counts["gold_scored"] + counts["gold_skipped"]
    assert any(skipped.endswith(reason) or reason in skipped for skipped in metrics["gold_skipped"])
    assert f"Not scored: {BAD / name}{reason}" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, message", [
    ("eval_trainer_log_not_llamafactory.jsonl", ":2: current_steps: missing"),
    ("eval_trainer_log_not_json.jsonl", ":2: line: malformed JSON"),
])
def test_a_bad_trainer_log_is_an_error_naming_its_line(tmp_path, sample_fiches, fiche_predictions, name, message):
    with pytest.raises(InputError, match=message):
        score(fiche_predictions, sample_fiches, tmp_path / "out", train_log=BAD / name)


def test_truncated_gold_array_and_unknown_task_are_refused(tmp_path, fiche_predictions, sample_fiches):
    with pytest.raises(InputError, match=r"eval_gold_truncated_array\.json:1: record: malformed JSON"):
        score(fiche_predictions, BAD / "eval_gold_truncated_array.json", tmp_path / "out")
    with pytest.raises(InputError, match="unknown task 'poems'"):
        score(fiche_predictions, sample_fiches, tmp_path / "out", task="poems")


def test_judge_options_need_the_qa_task_and_both_url_and_model(tmp_path, sample_fiches, fiche_predictions):
    result = CliRunner().invoke(main, ["score", str(fiche_predictions), "--gold", str(sample_fiches), "--out",
                                       str(tmp_path / "o"), "--judge-url", "http://127.0.0.1:1/v1"])
    assert result.exit_code == 2 and "--judge-url and --judge-model together" in result.output


# --- manual Q&A ---------------------------------------------------------------------------------------------------

def qa_record(record_id: str, question: str, answer: str, content_type: str, question_type: str) -> dict:
    return {"id": record_id, "images": ["p.png"],
            "messages": [{"role": "user", "content": "<image>" + question}, {"role": "assistant", "content": answer}],
            "metadata": {"page_id": "21-02", "section_name": "21", "content_type": content_type,
                         "question_type": question_type}}


def test_qa_scores_numbers_and_keywords_and_breaks_them_down_by_metadata(tmp_path):
    gold = write_jsonl(tmp_path / "qa_val.jsonl", [
        qa_record("q1", "Quel couple ?", "Serrer à 25 N·m en croix.", "exploded_view", "factual"),
        qa_record("q2", "Quel jeu ?", "Jeu axial 0,15 mm.", "table", "factual"),
        qa_record("q3", "Que remplacer ?", "Remplacer le joint torique.", "exploded_view", "procedural"),
        qa_record("q4", "Quelle pression ?", "180 bar.", "diagram", "factual"),
    ])
    predictions = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "q1", "raw": "25 Nm, en croix", "json": None, "finish_reason": "stop"},
        {"id": "q2", "raw": "Jeu de 0.2 mm", "json": None, "finish_reason": "stop"},
        {"id": "q3", "raw": "Il faut remplacer le joint", "json": None, "finish_reason": "stop"},
    ])
    out = tmp_path / "out"
    metrics = score(predictions, gold, out, task="qa")
    overall = metrics["overall"]
    # q1 right, q2 wrong value, q4 unanswered; q3 has no number.
    assert overall["numeric_exact_match"] == {"count": 1, "total": 3, "rate": pytest.approx(1 / 3)}
    # Keywords: q1 serrer/croix 1/2; q2 axial 0/1; q3 remplacer/joint/torique 2/3; q4 none (no word ≥ 4 letters).
    assert overall["keyword_presence_mean"] == pytest.approx((1 / 2 + 0 + 2 / 3) / 3)
    by_type = metrics["breakdown"]["question_type"]
    assert by_type["factual"]["numeric_exact_match"]["count"] == 1 and by_type["factual"]["n"] == 3
    assert by_type["procedural"]["numeric_exact_match"]["total"] == 0
    assert set(metrics["breakdown"]["content_type"]) == {"exploded_view", "table", "diagram"}
    assert metrics["breakdown"]["content_type"]["exploded_view"]["numeric_exact_match"]["count"] == 1
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| factual | 3 | 33.3 % (1/3) |" in markdown and "By content_type:" in markdown
    assert "Judge metrics: off." in markdown and "| q2 | table | factual | no | 0.15 mm |" in markdown
    assert (out / "qa_numeric_by_question_type.png").read_bytes().startswith(PNG_MAGIC)


# --- text → CAD JSON ----------------------------------------------------------------------------------------------

def test_cad_json_validity_exact_match_and_structural_f1(tmp_path):
    gold = write_jsonl(tmp_path / "t2c_val.jsonl", [
        {"id": f"c{k}", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                                     {"role": "assistant", "content": json.dumps(CAD)}]} for k in range(3)])
    bigger = copy.deepcopy(CAD)
    bigger["operations"][1]["distance"] = 50
    broken = copy.deepcopy(CAD)
    broken["operations"][1]["frame"] = "world"  # extrude numbers must be in the sketch frame
    predictions = write_jsonl(tmp_path / "p.jsonl", [prediction("c0", CAD), prediction("c1", bigger),
                                                     prediction("c2", broken)])
    metrics = score(predictions, gold, tmp_path / "out", task="cad_json")
    assert metrics["validity"]["count"] == 2 and metrics["gold_validity"]["count"] == 3
    assert metrics["exact_match"]["count"] == 1
    # c0 and c1 share every structure token with gold; c2 has «frame=world» where gold has «frame=sketch».
    per_item = {item["id"]: item["structure"] for item in metrics["items"]}
    assert per_item["c0"]["f1"] == per_item["c1"]["f1"] == 1.0
    assert per_item["c2"]["fp"] == 1 and per_item["c2"]["fn"] == 1
    assert "66.7 % (2/3)" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_cad_json_sample_gold_in_text2cad_layout_scores_fully_valid(tmp_path):
    """The text → CAD sample, converted as for training, is its own perfect prediction; damage costs what it should."""
    from converters.cad_json import convert_text2cad
    from fiche_vlm import PROJECT_ROOT

    gold = tmp_path / "t2c.json"
    convert_text2cad(PROJECT_ROOT / "data" / "text2cad" / "text2cad.jsonl", gold, dataset_dir=tmp_path,
                     name="t2c", strict=True)
    targets = {record["id"]: json.loads(record["messages"][-1]["content"])
               for record in json.loads(gold.read_text(encoding="utf-8"))}
    assert len(targets) == 5
    perfect = write_jsonl(tmp_path / "perfect.jsonl", [prediction(key, cad) for key, cad in targets.items()])
    metrics = score(perfect, gold, tmp_path / "perfect", task="cad_json")
    assert metrics["gold_validity"] == {"count": 5, "total": 5, "rate": 1.0}
    assert metrics["validity"]["rate"] == 1.0 and metrics["exact_match"]["rate"] == 1.0
    assert metrics["structural_f1"]["micro"]["f1"] == 1.0 and metrics["structural_f1"]["macro_f1"] == 1.0

    step = copy.deepcopy(targets["t2c-step"])
    del step["parts"][1]  # the joined block is missing: valid, but structurally short
    cut_first = copy.deepcopy(targets["t2c-plate"])
    cut_first["parts"][0]["extrusion"]["operation"] = "CutFeatureOperation"
    damaged = write_jsonl(tmp_path / "damaged.jsonl", [
        prediction("t2c-step", step), prediction("t2c-plate", cut_first),
        *(prediction(key, cad) for key, cad in targets.items() if key not in ("t2c-step", "t2c-plate"))])
    metrics = score(damaged, gold, tmp_path / "damaged", task="cad_json")
    items = {item["id"]: item for item in metrics["items"]}
    assert metrics["validity"]["count"] == 4 and metrics["exact_match"]["count"] == 3
    assert items["t2c-step"]["valid"] and items["t2c-step"]["structure"]["fp"] == 0
    assert 0 < items["t2c-step"]["structure"]["recall"] < 1
    assert items["t2c-plate"]["errors"] == [
        "$.parts[0].extrusion.operation: a cut needs a body, and no feature before it builds one (the first part's "
        "operation is NewBodyFeatureOperation or JoinFeatureOperation)"]
    # «operation=CutFeatureOperation» where gold has «NewBodyFeatureOperation»: one token wrong each way
    assert (items["t2c-plate"]["structure"]["fp"], items["t2c-plate"]["structure"]["fn"]) == (1, 1)
    report = (tmp_path / "damaged" / "report.md").read_text(encoding="utf-8")
    assert "80.0 % (4/5)" in report and "a cut needs a body" in report


# --- runs that would mislead (issue 21) ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["eval_predictions_no_matching_id.jsonl", "empty_file.jsonl"])
def test_a_run_that_scores_nothing_fails_loudly_and_writes_no_report(tmp_path, sample_fiches, name):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["score", str(BAD / name), "--gold", str(sample_fiches), "--out", str(out)])
    assert result.exit_code == 1 and "nothing scored" in result.output
    assert not out.exists()


def test_a_partial_match_is_scored_with_a_warning(tmp_path, sample_fiches, fiche_predictions):
    result = CliRunner().invoke(main, ["score", str(fiche_predictions), "--gold", str(sample_fiches), "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "warning: 3 of 8 gold id(s) have no prediction" in result.stderr
    assert "warning: 1 prediction id(s) match no gold id and are ignored (e.g. 'not-in-gold')" in result.stderr


def test_a_nan_in_a_prediction_is_an_error_naming_its_line(tmp_path, sample_fiches):
    name = "eval_predictions_nan_number.jsonl"
    result = CliRunner().invoke(main, ["score", str(BAD / name), "--gold", str(sample_fiches), "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{BAD / name}:1: line: non-standard JSON constant NaN" in result.output
    assert not (tmp_path / "out").exists()


def strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_an_out_of_range_prediction_is_not_scored_and_metrics_stay_strict_json(tmp_path, sample_fiches):
    metrics = score(BAD / "eval_predictions_dimensions_out_of_range.jsonl", sample_fiches, tmp_path / "out")
    geometry = metrics["geometry"]
    assert geometry["scored"] == 1 and geometry["envelope_iou_scored"] == {"n": 1, "mean": 1.0, "median": 1.0,
                                                                            "min": 1.0, "max": 1.0}
    assert geometry["envelope_iou_invalid_as_0"] == pytest.approx(1 / 8)
    assert strict_json(tmp_path / "out" / "metrics.json")["geometry"] == geometry


def test_metrics_json_is_never_written_with_a_nan(tmp_path, sample_fiches, fiche_predictions, monkeypatch):
    import eval.tasks.fiche

    real_score = eval.tasks.fiche.score

    def with_a_nan(pairs, out_dir):
        result = real_score(pairs, out_dir)
        result.metrics["geometry"]["envelope_iou_invalid_as_0"] = float("nan")
        return result

    monkeypatch.setattr(eval.tasks.fiche, "score", with_a_nan)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        score(fiche_predictions, sample_fiches, tmp_path / "out")
    assert not (tmp_path / "out" / "metrics.json").exists()
