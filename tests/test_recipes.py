"""The recipes in recipes/: valid for LLaMA-Factory 0.9.5, runnable, documented; and the training benchmark.

- Every recipe is parsed by LLaMA-Factory's own parser (get_train_args / get_infer_args) with only the model
  path and output folder pointed at the tiny model and tmp_path; every key it sets must land in the parsed
  arguments with its value.
- Each GPU recipe trains one optimizer step on the tiny model on the CPU, with only the model path, dataset
  folder, output folder, precision and the step count overridden (gradient accumulation set to 1 to keep CI
  short): the method keys (LoRA targets, frozen or LoRA'd ViT, checkpointing, batch, scheduler) really run.
- The memory claims in the headers are pinned: with t4.yaml the ViT's blocks save (almost) nothing for
  backward, with the fiche workflow's frozen ViT they keep their activations; a100.yaml sends nothing back
  through the ViT.

What a CPU cannot check, and how each case is handled here:
- bf16: transformers refuses it at parse time unless a bf16 GPU is found; the parse test reports one
  (patching `transformers.training_args.is_torch_bf16_gpu_available`), so recipes are parsed as written.
  The one-step runs drop fp16/bf16 (no CUDA mixed precision on a CPU).
- quantization (qlora.yaml): bitsandbytes needs CUDA and is not installed; LLaMA-Factory's argument checks
  (quantization with LoRA only, no vocab resize...) run at parse time, the 4-bit load itself is not run.
- deepspeed (multi-gpu.yaml): needs the deepspeed package and a torchrun launch; the recipe is parsed without
  the key, and the JSON it names goes through transformers' own "auto" filling and mismatch checks
  (HfTrainerDeepSpeedConfig.trainer_config_process/finalize) against the recipe's parsed arguments.
- flash_attn: dropped for the CPU runs (sdpa is what a CPU uses anyway).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from benchmark_scripts import load_benchmark
from click.testing import CliRunner
from safetensors import safe_open

from converters.fiche import convert_fiches
from fiche_vlm import PROJECT_ROOT

RECIPES = PROJECT_ROOT / "recipes"
BAD = PROJECT_ROOT / "tests" / "data" / "bad"
ALL_RECIPES = sorted(path.name for path in RECIPES.glob("*.yaml"))
GPU_RECIPES = ["t4.yaml", "a100.yaml", "qlora.yaml", "multi-gpu.yaml"]
OWN_RECIPES = GPU_RECIPES + ["merge.yaml", "t4-base.yaml"]  # smoke.yaml and merge-smoke.yaml are the lead's
WORKFLOW_METHOD = ["freeze_vision_tower=true", "lora_target=q_proj,k_proj,v_proj,o_proj"]  # the fiche workflow's


bench = load_benchmark("train_bench")


def is_export(recipe: dict[str, Any]) -> bool:
    return "export_dir" in recipe


@pytest.fixture
def bf16_gpu(monkeypatch):
    """Parse as on a bf16-capable GPU: transformers checks the device while building TrainingArguments."""
    import transformers.training_args

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)


@pytest.fixture(scope="module")
def fiche_dataset(tmp_path_factory, sample_fiches) -> Path:
    """The sample fiches converted at the tiny model's 224 px and registered as `fiches`, the recipes' name."""
    dataset_dir = tmp_path_factory.mktemp("recipes-data") / "dataset_info"
    report = convert_fiches(sample_fiches, dataset_dir / "fiches.json", dataset_dir=dataset_dir, name="fiches",
                            long_side=(224, 224), strict=True)
    assert report.written == report.read > 0
    return dataset_dir


def parse_recipe(recipe: dict[str, Any]):
    """LLaMA-Factory's own parse: the dataclasses `llamafactory-cli train|export` would build."""
    from llamafactory.hparams import get_infer_args, get_train_args

    return get_infer_args(recipe) if is_export(recipe) else get_train_args(recipe)


def parsed_value(parsed: tuple, key: str) -> Any:
    for arguments in parsed:
        if hasattr(arguments, key):
            return getattr(arguments, key)
    raise AssertionError(f"{key} is in no parsed argument class")


def same_value(expected: Any, actual: Any) -> bool:
    if isinstance(actual, Enum):
        actual = actual.value
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual)
    if isinstance(expected, str) and isinstance(actual, list):  # comma lists: lora_target, adapter paths
        parts = [part.strip() for part in expected.split(",")]
        return parts == actual or (parts == ["none"] and actual == [])  # report_to: none
    return str(expected) == str(actual)


# ------------------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("name", ALL_RECIPES)
def test_every_recipe_parses_with_llamafactory_and_keeps_its_values(name, tiny_model_dir, tmp_path, bf16_gpu):
    recipe = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    args = dict(recipe, model_name_or_path=str(tiny_model_dir))
    args["export_dir" if is_export(recipe) else "output_dir"] = str(tmp_path / "out")
    deepspeed = args.pop("deepspeed", None)  # needs the deepspeed package and torchrun: checked below
    if deepspeed is not None:
        assert (PROJECT_ROOT / deepspeed).is_file(), f"{name}: deepspeed config {deepspeed} not found"
    parsed = parse_recipe(args)
    overridden = {"model_name_or_path", "output_dir", "export_dir", "deepspeed"}
    for key, value in recipe.items():
        if key not in overridden:
            actual = parsed_value(parsed, key)
            assert same_value(value, actual), f"{name}: {key}={value!r} was parsed as {actual!r}"


@pytest.mark.parametrize("bad, message", [
    ("recipes_unknown_key.yaml", "lora_rnak"),
    ("recipes_pixel_floor_above_budget.yaml", "image_max_pixels"),
])
def test_parser_refuses_bad_recipes(bad, message, tiny_model_dir, tmp_path):
    recipe = yaml.safe_load((BAD / bad).read_text(encoding="utf-8"))
    recipe.update(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=message):
        parse_recipe(recipe)


@pytest.mark.parametrize("config, stage", [("z2.json", 2), ("z3.json", 3)])
def test_deepspeed_configs_fill_from_the_multi_gpu_recipe(config, stage, tiny_model_dir, tmp_path, bf16_gpu):
    """transformers' own DeepSpeed glue fills every "auto" from the recipe and finds no mismatch."""
    from accelerate.utils.deepspeed import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    class TrainerDeepSpeedConfig(HfDeepSpeedConfig):
        """HfTrainerDeepSpeedConfig's checks on accelerate's parser (its own base needs `import deepspeed`)."""
        is_auto = HfTrainerDeepSpeedConfig.is_auto
        fill_match = HfTrainerDeepSpeedConfig.fill_match
        fill_only = HfTrainerDeepSpeedConfig.fill_only
        trainer_config_process = HfTrainerDeepSpeedConfig.trainer_config_process
        trainer_config_finalize = HfTrainerDeepSpeedConfig.trainer_config_finalize

        def __init__(self, path: Path) -> None:
            super().__init__(str(path))
            self._dtype, self.mismatches = None, []

    recipe = yaml.safe_load((RECIPES / "multi-gpu.yaml").read_text(encoding="utf-8"))
    assert recipe["deepspeed"] == "recipes/deepspeed/z3.json"
    recipe.pop("deepspeed")
    recipe.update(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path / "out"))
    training_args = parse_recipe(recipe)[2]
    ds = TrainerDeepSpeedConfig(RECIPES / "deepspeed" / config)
    assert ds.get_value("zero_optimization.stage") == stage and ds.is_zero3() == (stage == 3)
    ds.trainer_config_process(training_args)
    ds.trainer_config_finalize(training_args, SimpleNamespace(config=SimpleNamespace(hidden_size=3584)), 100)
    assert ds.mismatches == []
    assert "auto" not in json.dumps(ds.config), f"{config}: an 'auto' value is left for DeepSpeed"
    assert ds.get_value("train_micro_batch_size_per_gpu") == recipe["per_device_train_batch_size"]
    assert ds.get_value("gradient_accumulation_steps") == recipe["gradient_accumulation_steps"]
    assert ds.is_true("bf16.enabled") and not ds.is_true("fp16.enabled")
    assert ds.get_value("zero_allow_untested_optimizer") is True  # the HF Trainer's torch AdamW, not DeepSpeed's


# ------------------------------------------------------------------------------------------ style
def parser_defaults() -> dict[str, Any]:
    from llamafactory.hparams.parser import _INFER_ARGS, _TRAIN_ARGS

    defaults: dict[str, Any] = {}
    for cls in [*_TRAIN_ARGS, *_INFER_ARGS]:
        for field in dataclasses.fields(cls):
            if field.default is not dataclasses.MISSING:
                defaults.setdefault(field.name, field.default)
            elif field.default_factory is not dataclasses.MISSING:
                defaults.setdefault(field.name, field.default_factory())
    return defaults


@pytest.mark.parametrize("name", OWN_RECIPES)
def test_recipe_is_documented_like_the_style_guide(name):
    text = (RECIPES / name).read_text(encoding="utf-8")
    command = "export" if is_export(yaml.safe_load(text)) else "train"
    header = text.split("\n###", 1)[0]
    assert header.startswith(f"# {name} — "), f"{name}: first line must say what the recipe is: '# {name} — …'"
    for part in ("What it is for:", "Run first", "Launch:", "Override example"):
        assert part in header, f"{name}: header lacks '{part}'"
    launch = f"llamafactory-cli {command} recipes/{name}"
    assert launch in header.split("Launch:", 1)[1].splitlines()[1], f"{name}: Launch: line must run `{launch}`"
    assert re.search(rf"{re.escape(launch)} \S+=\S+", header), f"{name}: override example must set a key"
    groups = re.findall(r"^### (\w+)$", text, flags=re.MULTILINE)
    expected = ["model", "method", "export"] if command == "export" else ["model", "method", "dataset", "output", "train"]
    assert groups == expected, f"{name}: key groups {groups}, expected {expected}"

    defaults = parser_defaults()
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^(\w+):\s*([^#]*?)\s*(#.*)?$", line)
        if not match:
            continue
        key, raw, comment = match.groups()
        assert key in defaults, f"{name}:{number}: {key} is no LLaMA-Factory 0.9.5 argument"
        value = yaml.safe_load(raw)
        if not comment and not same_value(value, defaults[key]):
            pytest.fail(f"{name}:{number}: {key}: {raw} differs from LLaMA-Factory's default "
                        f"({defaults[key]!r}) and has no comment saying why")


def test_multi_gpu_recipe_is_launched_through_torchrun():
    header = (RECIPES / "multi-gpu.yaml").read_text(encoding="utf-8").split("\n###", 1)[0]
    assert "FORCE_TORCHRUN=1 llamafactory-cli train recipes/multi-gpu.yaml" in header
    for rank in (0, 1):  # several machines: LLaMA-Factory's launcher reads these (llamafactory/launcher.py)
        assert re.search(rf"FORCE_TORCHRUN=1 NNODES=2 NODE_RANK={rank} MASTER_ADDR=\S+ MASTER_PORT=\d+ "
                         r"llamafactory-cli train recipes/multi-gpu.yaml", header)


# ---------------------------------------------------------------------------------- one step on a CPU
def cpu_step_args(name: str, model_dir: Path, dataset_dir: Path, output_dir: Path, extra: list[str] = ()) -> dict:
    recipe = bench.load_recipe(RECIPES / name, list(extra))
    args = bench.bench_args(recipe, model_dir=model_dir, dataset_dir=dataset_dir, output_dir=output_dir, steps=1,
                            dataset=recipe["dataset"])
    args, _ = bench.cpu_runnable(args)
    args["gradient_accumulation_steps"] = 1  # one micro-batch per step: CI time
    return args


@pytest.mark.parametrize("name", GPU_RECIPES)
def test_gpu_recipe_trains_one_step_on_the_tiny_model(name, tiny_model_dir, fiche_dataset, tmp_path):
    from llamafactory.train.tuner import run_exp

    out = tmp_path / "adapter"
    args = cpu_step_args(name, tiny_model_dir, fiche_dataset, out)
    run_exp(args=args)
    results = json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    assert math.isfinite(results["train_loss"]) and results["train_loss"] > 0
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    recipe = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    assert adapter["r"] == recipe.get("lora_rank", 8)
    with safe_open(out / "adapter_model.safetensors", framework="pt") as weights:
        names = list(weights.keys())
    in_vit = any(".visual.blocks." in weight for weight in names)
    assert in_vit == (recipe.get("freeze_vision_tower") is False), f"{name}: LoRA in the ViT is {in_vit}"
    assert any(".language_model." in weight for weight in names)


def test_a_realistic_french_fiche_trains_a_step_of_the_t4_recipe(tiny_model_dir, tmp_path):
    """Issue 14's user case end to end on the training side: the French fiche (’ « » ≤ ⌀ N·m, 1/2″ threads, a
    Windows path, a 1,000-character paragraph) converts and one optimizer step of t4.yaml runs on it."""
    from llamafactory.train.tuner import run_exp

    dataset_dir, out = tmp_path / "dataset_info", tmp_path / "adapter"
    report = convert_fiches(PROJECT_ROOT / "tests" / "data" / "fiche_verin_fr.jsonl", dataset_dir / "fiches.json",
                            dataset_dir=dataset_dir, name="fiches", long_side=(224, 224), data_root=PROJECT_ROOT,
                            strict=True)
    assert report.written == report.read == 1
    run_exp(args=cpu_step_args("t4.yaml", tiny_model_dir, dataset_dir, out))
    results = json.loads((out / "all_results.json").read_text(encoding="utf-8"))
    assert math.isfinite(results["train_loss"]) and results["train_loss"] > 0


def saved_for_backward(args: dict[str, Any]) -> dict[str, int]:
    """Bytes that one forward pass keeps for backward, inside the ViT and elsewhere (one sample, tiny model)."""
    import torch
    from llamafactory.data import (
        MultiModalDataCollatorForSeq2Seq,
        get_dataset,
        get_template_and_fix_tokenizer,
    )
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_model, load_tokenizer

    model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(args, max_samples=1))
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    model = load_model(tokenizer_module["tokenizer"], model_args, finetuning_args, is_trainable=True)
    collator = MultiModalDataCollatorForSeq2Seq(template=template, model=model, label_pad_token_id=-100,
                                                **tokenizer_module)
    batch = collator([dataset["train_dataset"][0]])
    visual = model.get_base_model().model.visual
    where = {"inside": False}
    visual.register_forward_pre_hook(lambda module, inputs: where.update(inside=True))
    visual.register_forward_hook(lambda module, inputs, output: where.update(inside=False))
    saved, seen = {"vit": 0, "rest": 0}, set()

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            saved["vit" if where["inside"] else "rest"] += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    loss.backward()  # the graph is complete and usable
    return saved


def test_t4_recipe_checkpoints_the_vit_that_the_workflow_keeps_whole(tiny_model_dir, fiche_dataset, tmp_path):
    t4 = saved_for_backward(cpu_step_args("t4.yaml", tiny_model_dir, fiche_dataset, tmp_path / "a"))
    workflow = saved_for_backward(cpu_step_args("t4.yaml", tiny_model_dir, fiche_dataset, tmp_path / "b",
                                                WORKFLOW_METHOD))
    assert workflow["vit"] > 0, "the frozen ViT no longer keeps activations: revisit t4.yaml's header"
    assert t4["vit"] < workflow["vit"] / 3, (t4, workflow)


def test_a100_recipe_sends_no_gradient_through_the_frozen_vit(tiny_model_dir, fiche_dataset, tmp_path):
    saved = saved_for_backward(cpu_step_args("a100.yaml", tiny_model_dir, fiche_dataset, tmp_path))
    assert saved["vit"] == 0 and saved["rest"] > 0, saved


def test_merge_recipe_exports_bf16_and_pin_pixels_restores_the_training_budget(tiny_model_dir, fiche_dataset, tmp_path):
    """merge.yaml's header states that LLaMA-Factory 0.9.5 does not write image_max_pixels into the export, and
    that `fiche pin-pixels` does; when the first budget assertion fails, that step is no longer needed."""
    from llamafactory.train.tuner import export_model, run_exp

    from fiche_vlm.pixels import pin_pixel_budget, recipe_pixel_budget

    adapter = tmp_path / "adapter"
    run_exp(args=cpu_step_args("t4.yaml", tiny_model_dir, fiche_dataset, adapter))
    recipe = yaml.safe_load((RECIPES / "merge.yaml").read_text(encoding="utf-8"))
    merged = tmp_path / "merged"
    export_model(dict(recipe, model_name_or_path=str(tiny_model_dir), adapter_name_or_path=str(adapter),
                      export_dir=str(merged)))
    config = json.loads((merged / "config.json").read_text(encoding="utf-8"))
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    processor = json.loads((merged / "processor_config.json").read_text(encoding="utf-8"))
    base = json.loads((tiny_model_dir / "processor_config.json").read_text(encoding="utf-8"))
    assert processor["image_processor"]["size"] == base["image_processor"]["size"]
    assert processor["image_processor"]["size"]["longest_edge"] != recipe["image_max_pixels"]

    min_pixels, max_pixels = recipe_pixel_budget(RECIPES / "t4.yaml")
    pin_pixel_budget(merged, min_pixels, max_pixels)
    processor = json.loads((merged / "processor_config.json").read_text(encoding="utf-8"))
    assert processor["image_processor"]["size"] == {"shortest_edge": min_pixels, "longest_edge": max_pixels}


# ------------------------------------------------------------------------------------------ benchmark
def test_train_bench_runs_one_step_on_the_tiny_config(tmp_path):
    runner = CliRunner()
    result = runner.invoke(bench.main, [
        "--tiny", "--recipe", str(RECIPES / "t4.yaml"), "--steps", "1", "--warmup-steps", "0", "--samples", "2",
        "--set", "gradient_accumulation_steps=2", "--workdir", str(tmp_path), "--jsonl", str(tmp_path / "b.jsonl"),
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line == json.loads((tmp_path / "b.jsonl").read_text(encoding="utf-8"))
    assert line["arch"] == "tiny" and line["steps"] == 1 and line["timed_steps"] == 1
    assert line["effective_batch"] == 2 and line["samples_per_s"] > 0
    assert line["tokens_per_s"] == pytest.approx(line["samples_per_s"] * line["seq_len_mean"], rel=0.01)
    assert line["image_tokens_per_sample"] == 2 * (224 // 28) ** 2  # two 224-px views, 8×8 merged patches each
    assert 300 <= line["answer_tokens_mean"] <= 350
    assert line["seq_len_mean"] > line["image_tokens_per_sample"] + line["answer_tokens_mean"]
    assert "fp16" in line["cpu_dropped_keys"] and line["peak_alloc_gib"] is None


def test_train_bench_refuses_a_run_with_nothing_to_time(tmp_path):
    result = CliRunner().invoke(bench.main, ["--tiny", "--recipe", str(RECIPES / "t4.yaml"), "--steps", "1",
                                             "--warmup-steps", "1", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--warmup-steps" in result.output


def test_train_bench_needs_a_gpu_for_the_real_architectures(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the 2B run would start")
    result = CliRunner().invoke(bench.main, ["--arch", "2b", "--recipe", str(RECIPES / "t4.yaml"),
                                             "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "--tiny" in result.output
