"""The demo's step runner: a failing tool names its step and shows its log's tail; training progress is read
from LLaMA-Factory's trainer_log.jsonl while it is being written."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fiche_vlm.demo import StepFailed, last_trainer_line, run_logged


def test_a_failing_step_raises_with_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "train.log"
    command = [sys.executable, "-c", "import sys; print('loading'); print('CUDA out of memory'); sys.exit(3)"]
    with pytest.raises(StepFailed) as failure:
        run_logged("train", command, log)
    message = str(failure.value)
    assert message.startswith("train failed (exit 3)") and str(log) in message and "CUDA out of memory" in message


def test_progress_follows_the_trainer_log_while_it_is_written(tmp_path: Path) -> None:
    trainer_log = tmp_path / "trainer_log.jsonl"
    assert last_trainer_line(trainer_log) is None
    first = {"current_steps": 10, "total_steps": 300, "loss": 5.96}
    trainer_log.write_text(json.dumps(first) + "\n" + '{"current_steps": 20, "tot', encoding="utf-8")
    assert last_trainer_line(trainer_log) == first  # the half-written line is not read yet


def test_a_step_that_writes_a_trainer_log_completes(tmp_path: Path) -> None:
    trainer_log = tmp_path / "trainer_log.jsonl"
    script = (f"import json, time\nfor step in (1, 2):\n"
              f"    open({str(trainer_log)!r}, 'a').write(json.dumps({{'current_steps': step, 'total_steps': 2, "
              f"'loss': 1.0 / step}}) + '\\n')\n    time.sleep(1.2)\n")
    run_logged("train", [sys.executable, "-c", script], tmp_path / "train.log", trainer_log=trainer_log)
    assert last_trainer_line(trainer_log)["current_steps"] == 2


def test_the_demo_stops_before_training_when_a_sample_exceeds_the_recipe(tmp_path: Path, tiny_model_dir) -> None:
    from fiche_vlm import PROJECT_ROOT
    from fiche_vlm.demo import DemoLayout, run_demo

    layout = DemoLayout(out=tmp_path / "demo", base_model=tiny_model_dir, dataset_dir=tmp_path / "dataset_info")
    recipe = PROJECT_ROOT / "tests" / "data" / "bad" / "budget_cutoff_below_samples.yaml"
    with pytest.raises(StepFailed) as failure:
        run_demo(layout, train_recipe=recipe)
    assert str(failure.value).startswith("token budget: ")
    assert "plate-01: " in str(failure.value) and "> cutoff_len 300" in str(failure.value)
    assert not layout.adapter.exists() and not layout.logs.exists()  # nothing was trained
