"""`fiche eval` against the real vLLM CPU server on the tiny random model: it predicts, scores, and resumes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fiche_vlm.cli import main

PORT = 8340


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.server
def test_fiche_eval_predicts_scores_and_resumes_after_an_interruption(tmp_path, tiny_model_dir, sample_fiches):
    from fiche_vlm.serve import VLLMServer

    gold_ids = [json.loads(line)["id"] for line in sample_fiches.read_text(encoding="utf-8").splitlines()]
    out = tmp_path / "eval"
    with VLLMServer(tiny_model_dir, port=PORT, log_path=tmp_path / "vllm.log") as server:
        command = ["eval", str(sample_fiches), "--base-url", server.base_url, "--model", server.served_name,
                   "--out", str(out), "--long-side", "224", "224", "--max-tokens", "400", "--concurrency", "4"]
        first = CliRunner().invoke(main, command)
        assert first.exit_code == 0, first.output
        predictions = out / "predictions.jsonl"
        answered = _lines(predictions)
        assert sorted(line["id"] for line in answered) == sorted(gold_ids)

        # An interruption: only the first three answers reached the file. The rerun asks for the other five.
        kept = answered[:3]
        predictions.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in kept), encoding="utf-8")
        second = CliRunner().invoke(main, command)
        assert second.exit_code == 0, second.output
    resumed = _lines(predictions)
    assert resumed[:3] == kept and sorted(line["id"] for line in resumed) == sorted(gold_ids)

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["validity"]["total"] == 8 and metrics["counts"]["gold_without_prediction"] == 0
    valid = sum(line["valid"] for line in resumed)
    assert metrics["validity"]["count"] == valid  # the random model's validity, re-checked by eval
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"JSON validity rate (schema-valid) | {100 * valid / 8:.1f} % ({valid}/8)" in markdown
    assert (out / "report.html").is_file() and (out / "slot_f1_per_field.png").is_file()
