"""The demo chain on the embedded sample: convert → train → merge → serve → predict → OpenSCAD → score.

Each step is the same command a user runs alone (`fiche convert`, `llamafactory-cli train|export`, `fiche serve`,
`fiche predict`, `fiche scad`, `fiche score`); this module only strings them together into `outputs/demo/`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fiche_io.jsonl import iter_jsonl
from fiche_vlm import PROJECT_ROOT, SAMPLE_FICHES
from fiche_vlm.pixels import pin_pixel_budget, recipe_pixel_budget
from fiche_vlm.serve import log_tail

DEMO_LONG_SIDE = (224, 224)  # the tiny model's resolution; keep smoke.yaml's image_max_pixels ≥ 224×224
console = Console(stderr=True)


class StepFailed(RuntimeError):
    """A step of the chain failed; the message names the step and where its log is."""


@dataclass(frozen=True)
class DemoLayout:
    """Where each stage of the demo writes, all under one output folder (the base model is shared)."""
    out: Path
    base_model: Path = PROJECT_ROOT / "outputs" / "tiny-qwen2vl"
    dataset_dir: Path = PROJECT_ROOT / "dataset_info"
    dataset_name: str = "fiche_sample"

    @property
    def dataset_file(self) -> Path:
        return self.dataset_dir / f"{self.dataset_name}.json"

    @property
    def adapter(self) -> Path:
        return self.out / "adapter"

    @property
    def merged(self) -> Path:
        return self.out / "merged"

    @property
    def predictions(self) -> Path:
        return self.out / "predictions.jsonl"

    @property
    def scad_dir(self) -> Path:
        return self.out / "scad"

    @property
    def logs(self) -> Path:
        return self.out / "logs"


def last_trainer_line(trainer_log: Path) -> dict | None:
    """The last complete line of LLaMA-Factory's trainer_log.jsonl (steps, total, loss), if any yet."""
    try:
        lines = list(iter_jsonl(trainer_log))
    except FileNotFoundError:
        return None
    # the last line may still be being written: take the last one that parses
    return next((line.value for line in reversed(lines) if line.value is not None), None)


def run_logged(step: str, command: list[str], log: Path, trainer_log: Path | None = None) -> None:
    """Run one tool of the chain with its output in `log`; a failure raises with the log's tail.
    With `trainer_log`, a progress bar follows the steps and loss that LLaMA-Factory writes there."""
    log.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"[dim]$ {' '.join(command)}[/dim]")
    with log.open("w", encoding="utf-8") as handle, Progress(
            TextColumn(f"{step}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
            TimeElapsedColumn(), console=console, transient=True) as progress:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        task = progress.add_task("", total=None)
        while process.poll() is None:
            time.sleep(1)
            state = last_trainer_line(trainer_log) if trainer_log is not None else None
            if state and "current_steps" in state:
                progress.update(task, completed=state["current_steps"], total=state.get("total_steps"),
                                description=f"loss {state['loss']:.3f}" if "loss" in state else "")
        status = process.returncode
    if status != 0:
        raise StepFailed(f"{step} failed (exit {status}); log: {log}\n{log_tail(log, 30)}")


def venv_tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def check_token_budget(layout: DemoLayout, train_recipe: Path) -> None:
    """`fiche check-dataset`: every sample fits the recipe's cutoff_len and no view is resized again, or no training."""
    from fiche_vlm.budget import check_dataset

    report = check_dataset(layout.dataset_file, train_recipe, model_dir=layout.base_model, media_dir=layout.dataset_dir)
    console.print(report.summary())
    if report.refused:
        raise StepFailed("token budget: " + "\n".join(report.messages()))


def train(recipe: Path, *, base_model: Path, dataset_dir: Path, dataset: str, output_dir: Path, log: Path,
          overrides: tuple[str, ...] = ()) -> None:
    """`llamafactory-cli train RECIPE` on `dataset` (names, comma-separated) from `base_model` into `output_dir`,
    with a progress bar; `overrides` are more of its key=value arguments."""
    (output_dir / "trainer_log.jsonl").unlink(missing_ok=True)  # an earlier run's would fool the progress bar
    run_logged("train", [venv_tool("llamafactory-cli"), "train", str(recipe), f"model_name_or_path={base_model}",
                         f"dataset_dir={dataset_dir}", f"dataset={dataset}", f"output_dir={output_dir}", *overrides],
               log, trainer_log=output_dir / "trainer_log.jsonl")


def train_and_merge(layout: DemoLayout, train_recipe: Path, merge_recipe: Path, overrides: tuple[str, ...] = ()) -> None:
    train(train_recipe, base_model=layout.base_model, dataset_dir=layout.dataset_dir, dataset=layout.dataset_name,
          output_dir=layout.adapter, log=layout.logs / "train.log", overrides=overrides)
    run_logged("merge", [venv_tool("llamafactory-cli"), "export", str(merge_recipe),
                         f"model_name_or_path={layout.base_model}", f"adapter_name_or_path={layout.adapter}",
                         f"export_dir={layout.merged}"],
               layout.logs / "merge.log")
    pin_pixel_budget(layout.merged, *recipe_pixel_budget(train_recipe))


def run_demo(layout: DemoLayout, *, fiches: Path = SAMPLE_FICHES, port: int = 8300,
             train_recipe: Path = PROJECT_ROOT / "recipes" / "smoke.yaml",
             merge_recipe: Path = PROJECT_ROOT / "recipes" / "merge-smoke.yaml") -> dict:
    """Run the chain and return the scored metrics; every artefact of the run lands under `layout.out`."""
    from converters.fiche import convert_fiches
    from eval.pictures import DEFAULT_PICTURES
    from eval.runner import score
    from fiche_vlm.predict import predict_file
    from fiche_vlm.serve import VLLMServer
    from fiche_vlm.tiny_model import ensure_tiny_model
    from postprocess.openscad import predictions_to_scad

    started = time.monotonic()

    console.rule("1/7 convert")  # strict: bad input stops the demo here, before anything is trained
    report = convert_fiches(fiches, layout.dataset_file, dataset_dir=layout.dataset_dir, name=layout.dataset_name,
                            long_side=DEMO_LONG_SIDE, strict=True)
    console.print(report.summary())

    console.rule("2/7 tiny model + token budget")
    ensure_tiny_model(layout.base_model, [fiches])
    check_token_budget(layout, train_recipe)

    console.rule("3/7 train + merge (llamafactory-cli)")
    train_and_merge(layout, train_recipe, merge_recipe)

    console.rule("4/7 serve (vLLM) + 5/7 predict")
    layout.predictions.unlink(missing_ok=True)
    with ExitStack() as running:
        with console.status(f"starting vLLM (about 1–2 min on 2 CPU cores; log: {layout.logs / 'vllm.log'})"):
            server = running.enter_context(VLLMServer(layout.merged, port=port, log_path=layout.logs / "vllm.log"))
        predict_file(fiches, layout.predictions, base_url=server.base_url, model=server.served_name,
                     long_side=DEMO_LONG_SIDE)

    console.rule("6/7 OpenSCAD")
    predictions_to_scad(layout.predictions, layout.scad_dir, render="stl")  # every written file proven to render

    console.rule("7/7 score")
    metrics = score(layout.predictions, fiches, layout.out, task="fiche",
                    train_log=layout.adapter / "trainer_log.jsonl", pictures=DEFAULT_PICTURES)
    console.print(f"demo finished in {time.monotonic() - started:.0f} s → {layout.out}")
    return metrics
