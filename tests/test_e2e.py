"""The whole chain on the tiny model, against the real vLLM CPU server: the learning proof of the skeleton.

The prompt is the same for every sample fiche, so exact answers for all eight prove that the images reach the
model through training (LLaMA-Factory), merging, serving (vLLM) and the client, at the same pixels.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from ports import free_port

from fiche_vlm.cli import main
from fiche_vlm.demo import DemoLayout, run_demo


def vllm_processes_on(port: int) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if "vllm" in line and f"--port {port}" in line]


@pytest.mark.e2e
@pytest.mark.server
def test_demo_chain_reproduces_every_gold_fiche(tmp_path, tiny_model_dir, sample_fiches):
    layout = DemoLayout(out=tmp_path / "demo", base_model=tiny_model_dir, dataset_dir=tmp_path / "dataset")
    port = free_port()
    metrics = run_demo(layout, fiches=sample_fiches, port=port)

    gold = {record["id"]: record["output"] for record in map(json.loads, sample_fiches.read_text().splitlines())}
    predictions = [json.loads(line) for line in layout.predictions.read_text().splitlines()]
    assert sorted(p["id"] for p in predictions) == sorted(gold)  # one line per fiche, no duplicates
    for prediction in predictions:
        assert prediction["valid"], prediction["errors"]
        assert prediction["finish_reason"] == "stop"
        assert prediction["json"] == gold[prediction["id"]], prediction["id"]

    assert metrics["validity"]["rate"] == 1.0
    assert metrics["exact_match"]["rate"] == 1.0
    report = (layout.out / "report.md").read_text()
    assert "8/8" in report
    for fiche_id in gold:
        assert (layout.scad_dir / f"{fiche_id}.scad").is_file()
        assert (layout.scad_dir / f"{fiche_id}.stl").stat().st_size > 0
        for role in ("view", "predicted", "gold"):  # the report shows the view beside both renders
            assert f"](pictures/{fiche_id}.{role}.png)" in report
            assert (layout.out / "pictures" / f"{fiche_id}.{role}.png").stat().st_size > 0
    assert not vllm_processes_on(port), "the demo left its vLLM server running"


def test_demo_refuses_bad_fiches_before_training(tmp_path, sample_fiches):
    bad = tmp_path / "fiches.jsonl"
    lines = sample_fiches.read_text().splitlines()
    shutil.copytree(sample_fiches.parent / "images", tmp_path / "images")
    bad.write_text("\n".join([lines[0], "{not json", lines[2]]) + "\n")
    out = tmp_path / "demo"

    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--fiches", str(bad)])

    assert result.exit_code != 0
    assert f"{bad}:2" in result.output
    assert not (out / "adapter").exists(), "training started despite bad input"
