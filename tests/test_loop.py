"""The loop of the README ("The loop: from your fiches to a better model") on the tiny model, through the commands a
user runs: folders of views → `fiche convert views` (skeletons) → `fiche predict` with the current model (the random
base, served by vLLM) → annotation (the drafts corrected to the gold and confirmed, as the page's Confirm does) →
`fiche convert fiche` (confirmed fiches only) → `llamafactory-cli train` + `export` → `fiche eval` of both models
on the held-out file and on the training file → `fiche compare`.

The held-out split is the README's: the sample's ids sorted, every fifth one starting with the first (2 of 8) in
their own folder of views. On a 1 M-parameter model that memorises, held-out exact match stays 0 for both runs: it
does not generalise from six fiches. What the loop must prove is on the training file: the model it produced
answers every confirmed gold fiche exactly (6/6) where the base answered none, and `fiche compare` says so.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ports import free_port

from fiche_io.processes import group_alive
from fiche_schema.canonical import canonical_text
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.annotate.form import answer_to_form
from fiche_vlm.annotate.launch import prepare
from fiche_vlm.annotate.session import Session
from fiche_vlm.annotate.store import CONFIRMED, DRAFTED
from fiche_vlm.cli import main
from fiche_vlm.demo import DemoLayout, train_and_merge
from fiche_vlm.serve import VLLMServer

pytestmark = [pytest.mark.e2e, pytest.mark.server]

LONG_SIDE = ["--long-side", "224", "224"]  # the tiny model's views, as in the demo
EVAL_MAX_TOKENS = "400"  # the trained model's answers are about 140 tokens; the random base's are cut here
RECIPES = PROJECT_ROOT / "recipes"


def fiche(*args: object, exit_codes: tuple[int, ...] = (0,)) -> Result:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code in exit_codes, f"fiche {' '.join(map(str, args))}\n{result.output}"
    return result


def held_out(ids: list[str]) -> set[str]:
    """The README's rule: sorted by id, every fifth fiche starting with the first."""
    return set(sorted(ids)[::5])


def view_folder(folder: Path, sample_images: Path, ids: set[str]) -> Path:
    """A folder of views as `fiche convert views` reads it: `<fiche>_<view>.png` for each fiche of `ids`."""
    folder.mkdir(parents=True)
    for image in sample_images.iterdir():
        if image.stem.rsplit("_", 1)[0] in ids:
            shutil.copy(image, folder / image.name)
    return folder


def confirm_gold(session: Session, gold: dict[str, dict]) -> dict[str, str]:
    """What the engineer does on the page: each fiche's form (the model's draft, if any) corrected to the gold,
    then Confirm. Returns each fiche's status before the correction."""
    before = {}
    for index, shown in enumerate(session.store.fiches):
        before[shown.id] = shown.status
        done, message = session.confirm(index, answer_to_form(gold[shown.id]))
        assert done, message
    return before


def evaluate(server: VLLMServer, valset: Path, out: Path) -> dict:
    fiche("eval", valset, "--base-url", server.base_url, "--model", server.served_name, "--out", out,
          "--max-tokens", EVAL_MAX_TOKENS, "--pictures", "0", *LONG_SIDE)
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def compare_rows(markdown: str) -> dict[str, list[str]]:
    """compare.md's metric table: metric → [A, B, delta, verdict]."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[\w.]+", cells[0]):
            rows[cells[0]] = cells[1:]
    return rows


@dataclass
class Loop:
    work: Path
    gold: dict[str, dict]
    train_ids: set[str]
    heldout_ids: set[str]
    drafts: dict[str, dict]  # predictions.jsonl of the base model, by id
    status_before: dict[str, str]  # each training fiche's status when the engineer opened it
    unconfirmed: Result  # `fiche convert fiche` on the drafted, not yet confirmed file
    status: dict[str, str]  # `fiche annotate --status` output per file
    dataset: Path
    metrics: dict[tuple[str, str], dict]  # (run, file) → metrics.json
    compare: dict[str, Path]  # file → the compare folder
    servers: list[VLLMServer]


@pytest.fixture(scope="module")
def loop(tiny_model_dir: Path, sample_fiches: Path, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    root = tmp_path_factory.mktemp("loop")
    work, logs = root / "work", root / "logs"
    gold = {record["id"]: record["output"]
            for record in map(json.loads, sample_fiches.read_text(encoding="utf-8").splitlines())}
    heldout_ids = held_out(list(gold))
    train_ids = set(gold) - heldout_ids
    images = sample_fiches.parent / "images"
    fiches, heldout, predictions = work / "fiches.jsonl", work / "heldout.jsonl", work / "predictions.jsonl"

    fiche("convert", "views", view_folder(root / "my_views", images, train_ids), "-o", fiches)
    fiche("convert", "views", view_folder(root / "my_heldout_views", images, heldout_ids), "-o", heldout)

    servers = []
    metrics = {}
    with VLLMServer(tiny_model_dir, port=free_port(), log_path=logs / "vllm-run-1.log",
                    enforce_eager=True) as base:
        servers.append(base)
        # The random base: sampled, with room for the long strings it writes (as the constraint proof asks it);
        # a cut or invalid answer exits 1 and is still shown as a draft.
        fiche("predict", fiches, "-o", predictions, "--base-url", base.base_url, "--model", base.served_name,
              "--max-tokens", "3000", "--temperature", "0.7", *LONG_SIDE, exit_codes=(0, 1))
        session, _ = prepare(fiches, predictions=predictions)  # what `fiche annotate --predictions` opens
        unconfirmed = fiche("convert", "fiche", fiches, "-o", root / "unconfirmed" / "fiches.json",
                            "--dataset-dir", root / "unconfirmed", "--name", "fiches", *LONG_SIDE, exit_codes=(1,))
        status_before = confirm_gold(session, gold)
        confirm_gold(prepare(heldout)[0], gold)  # the held-out gold, written by hand
        for name, file in (("train", fiches), ("heldout", heldout)):
            metrics["run-1", name] = evaluate(base, file, root / "eval-run-1" / name)

    status = {name: fiche("annotate", file, "--status").output for name, file in (("train", fiches),
                                                                                    ("heldout", heldout))}
    layout = DemoLayout(out=root / "run-2", base_model=tiny_model_dir, dataset_dir=root / "dataset_info",
                        dataset_name="fiches")
    fiche("convert", "fiche", fiches, "-o", layout.dataset_file, "--dataset-dir", layout.dataset_dir,
          "--name", layout.dataset_name, *LONG_SIDE)
    fiche("check-dataset", layout.dataset_file, "--recipe", RECIPES / "smoke.yaml", "--model", tiny_model_dir)
    train_and_merge(layout, RECIPES / "smoke.yaml", RECIPES / "merge-smoke.yaml")

    with VLLMServer(layout.merged, port=free_port(), log_path=logs / "vllm-run-2.log",
                    enforce_eager=True) as trained:
        servers.append(trained)
        for name, file in (("train", fiches), ("heldout", heldout)):
            metrics["run-2", name] = evaluate(trained, file, root / "eval-run-2" / name)

    compare = {}
    for name in ("train", "heldout"):
        compare[name] = root / "compare-1-2" / name
        fiche("compare", root / "eval-run-1" / name, root / "eval-run-2" / name, "--out", compare[name])
    drafts = {line["id"]: line for line in map(json.loads, predictions.read_text(encoding="utf-8").splitlines())}
    return Loop(work, gold, train_ids, heldout_ids, drafts, status_before, unconfirmed, status, layout.dataset_file,
                metrics, compare, servers)


def test_the_held_out_fiches_are_every_fifth_by_id(loop):
    assert loop.heldout_ids == {"bracket-02", "pulley-08"} and len(loop.train_ids) == 6
    skeleton = [json.loads(line) for line in (loop.work / "heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {line["id"] for line in skeleton} == loop.heldout_ids


def test_the_model_drafts_every_fiche_and_only_confirmed_answers_reach_the_file(loop):
    assert set(loop.drafts) == loop.train_ids  # one answer per skeleton fiche, valid or not
    drafted = {key for key, line in loop.drafts.items() if isinstance(line["json"], dict)}
    assert {key for key, status in loop.status_before.items() if status == DRAFTED} == drafted
    # Before Confirm the drafts live in the sidecar only: the skeleton has nothing to train on.
    assert "nothing converted: all 6 input lines" in loop.unconfirmed.output, loop.unconfirmed.output
    assert loop.unconfirmed.output.count(": output: is null") == 6, loop.unconfirmed.output
    for name, count in (("train", 6), ("heldout", 2)):
        assert f"{count}/{count} confirmed" in loop.status[name] and f"  {CONFIRMED}: {count}" in loop.status[name]
    for file in ("fiches.jsonl", "heldout.jsonl"):
        for line in (loop.work / file).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert record["output"] == loop.gold[record["id"]]


def test_the_training_set_holds_the_confirmed_fiches_and_no_held_out_one(loop):
    records = json.loads(loop.dataset.read_text(encoding="utf-8"))
    assert sorted(record["id"] for record in records) == sorted(loop.train_ids)
    for record in records:
        assert record["messages"][-1]["content"] == canonical_text(loop.gold[record["id"]])
        assert all(Path(image).name.startswith(record["id"] + "_") for image in record["images"])
    fitted = {path.name.rsplit("_", 1)[0] for path in (loop.dataset.parent / "fiches.images").iterdir()}
    assert fitted == loop.train_ids


def test_the_trained_model_answers_every_confirmed_fiche_and_compare_says_it_is_better(loop):
    before, after = loop.metrics["run-1", "train"], loop.metrics["run-2", "train"]
    assert before["exact_match"]["count"] == 0
    assert after["exact_match"] == {"count": 6, "total": 6, "rate": 1.0}
    assert after["validity"]["rate"] == 1.0

    markdown = (loop.compare["train"] / "compare.md").read_text(encoding="utf-8")
    rows = compare_rows(markdown)
    assert rows["exact_match.rate"] == ["0.0000", "1.0000", "+1.0000", "better"]
    assert rows["slot_f1.micro.f1"][1:] == ["1.0000", f"{1 - before['slot_f1']['micro']['f1']:+.4f}", "better"]
    assert "## Better in B\n\n6 items" in markdown and "## Worse in B\n\n0 items" in markdown
    assert (loop.compare["train"] / "compare.html").is_file()
    assert (loop.compare["train"] / "compare_metrics.png").stat().st_size > 0


def test_the_held_out_fiches_are_scored_for_both_runs_and_compared(loop):
    """The tiny model memorises: on fiches it never saw, neither run is exact (README). The trained model's answers
    are valid fiches all the same, which the comparison shows."""
    for run in ("run-1", "run-2"):
        assert loop.metrics[run, "heldout"]["exact_match"]["total"] == 2
        assert loop.metrics[run, "heldout"]["counts"]["gold_without_prediction"] == 0
    assert loop.metrics["run-2", "heldout"]["validity"]["rate"] == 1.0
    rows = compare_rows((loop.compare["heldout"] / "compare.md").read_text(encoding="utf-8"))
    assert rows["validity.rate"][1:] == ["1.0000", f"{1 - loop.metrics['run-1', 'heldout']['validity']['rate']:+.4f}",
                                         "better"]


def test_no_vllm_server_is_left_running(loop):
    assert len(loop.servers) == 2
    for server in loop.servers:
        assert not group_alive(server.process.pid), f"vLLM on port {server.options.port} is still running"
