"""t4.yaml's precision: fp16 autocast with loss scaling on a float32 copy of the base (t4-base.yaml).

What runs here, on the CPU, with the tiny model saved in bf16 as Qwen publishes Qwen2-VL:
- t4-base.yaml exports the float32 copy; LLaMA-Factory loads it (frozen weights fp32, LoRA fp32) as `fp16: true`
  makes it (compute dtype fp16: the parser's setting, set by hand because a CPU parse refuses fp16);
- the recipe's first optimizer steps run as the HF Trainer runs them with fp16: forward under fp16 autocast,
  GradScaler, gradient clipping at max_grad_norm, AdamW at the recipe's learning rate; every loss must be finite
  and the LoRA weights must move;
- the same steps on the bf16 checkpoint stop at the first forward (why t4-base.yaml exists);
- a down_proj whose products leave fp16's range (Qwen2's large activations) gives a non-finite loss, so the
  finiteness check above can fail.
What it does not prove: CPU autocast is not CUDA's (its op lists and fp16 matmul kernels differ, accumulation
included), and the tiny random model has none of the trained 2B's large activations; so a finite loss here says
that the recipe's precision set-up runs and scales its gradients, not that the real model never overflows on a T4.
benchmarks/gpu_proof.py runs t4.yaml on a GPU.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from benchmark_scripts import load_benchmark

from converters.fiche import convert_fiches
from fiche_vlm import PROJECT_ROOT

RECIPES = PROJECT_ROOT / "recipes"
STEPS = 2


@pytest.fixture(scope="module")
def checkpoints(tiny_model_dir, sample_fiches, tmp_path_factory) -> dict[str, Path]:
    """The tiny model as a bf16 checkpoint, its float32 copy by t4-base.yaml, and the sample dataset."""
    import yaml
    from llamafactory.train.tuner import export_model
    from transformers import AutoModelForImageTextToText

    root = tmp_path_factory.mktemp("precision")
    bf16 = root / "bf16"
    AutoModelForImageTextToText.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).save_pretrained(bf16)
    for name in ("tokenizer.json", "tokenizer_config.json", "processor_config.json", "chat_template.jinja"):
        (bf16 / name).write_bytes((tiny_model_dir / name).read_bytes())
    recipe = yaml.safe_load((RECIPES / "t4-base.yaml").read_text(encoding="utf-8"))
    export_model(dict(recipe, model_name_or_path=str(bf16), export_dir=str(root / "fp32")))
    dataset_dir = root / "dataset_info"
    convert_fiches(sample_fiches, dataset_dir / "fiches.json", dataset_dir=dataset_dir, name="fiches",
                   long_side=(224, 224), strict=True)
    return {"bf16": bf16, "fp32": root / "fp32", "dataset_dir": dataset_dir}


@pytest.fixture(scope="module")
def t4_run(checkpoints, tmp_path_factory) -> dict:
    """t4.yaml's parsed arguments, tokenizer, template and first samples, as `llamafactory-cli train` builds them
    (the tokenizer is the same in both checkpoints)."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    bench = load_benchmark("train_bench")
    recipe = bench.load_recipe(RECIPES / "t4.yaml")
    args = bench.bench_args(recipe, model_dir=checkpoints["fp32"], dataset_dir=checkpoints["dataset_dir"],
                            output_dir=tmp_path_factory.mktemp("t4-run"), steps=STEPS, dataset=recipe["dataset"])
    args, dropped = bench.cpu_runnable(args)
    assert "fp16" in dropped
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(dict(args, max_samples=STEPS))
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)["train_dataset"]
    return {"model_args": model_args, "training_args": training_args, "finetuning_args": finetuning_args,
            "tokenizer_module": tokenizer_module, "template": template, "dataset": dataset}


def first_fp16_steps(run: dict, model_dir: Path, steps: int = STEPS, tamper=None, **model_keys) -> tuple[list[float], dict, bool]:
    """t4.yaml's first optimizer steps as the HF Trainer runs fp16 (autocast + GradScaler + clipping) on
    `model_dir`; returns the losses, the dtypes of the loaded parameters and whether the trainable weights moved."""
    import copy

    from llamafactory.data import MultiModalDataCollatorForSeq2Seq
    from llamafactory.model import load_model

    model_args = copy.deepcopy(run["model_args"])
    model_args.model_name_or_path = str(model_dir)
    model_args.compute_dtype = torch.float16  # what the parser sets for fp16: true
    for key, value in model_keys.items():
        setattr(model_args, key, value)
    training_args, tokenizer_module = run["training_args"], run["tokenizer_module"]
    model = load_model(tokenizer_module["tokenizer"], model_args, run["finetuning_args"], is_trainable=True)
    if tamper is not None:
        tamper(model)
    dtypes = {"frozen": {str(p.dtype) for p in model.parameters() if not p.requires_grad},
              "trainable": {str(p.dtype) for p in model.parameters() if p.requires_grad}}
    collator = MultiModalDataCollatorForSeq2Seq(template=run["template"], model=model, label_pad_token_id=-100,
                                                **tokenizer_module)
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=training_args.learning_rate, weight_decay=training_args.weight_decay)
    scaler = torch.amp.GradScaler("cpu")  # accelerate's fp16 scaler: initial scale 2**16, dynamic
    losses = []
    model.train()
    for index in range(steps):
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(**collator([run["dataset"][index]])).loss
        losses.append(loss.item())
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, training_args.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    moved = any(not torch.equal(old, new.detach()) for old, new in zip(before, trainable))
    return losses, dtypes, moved


def test_t4_base_is_an_exact_float32_copy(checkpoints):
    from safetensors.torch import load_file

    config = json.loads((checkpoints["fp32"] / "config.json").read_text(encoding="utf-8"))
    assert config["dtype"] == "float32"
    bf16 = load_file(next(checkpoints["bf16"].glob("*.safetensors")))
    fp32 = {}
    for shard in checkpoints["fp32"].glob("*.safetensors"):
        fp32.update(load_file(shard))
    assert fp32.keys() == bf16.keys()
    assert all(fp32[name].dtype == torch.float32 and torch.equal(fp32[name], bf16[name].float()) for name in bf16)


def test_t4_recipe_first_fp16_steps_have_finite_losses(checkpoints, t4_run):
    losses, dtypes, moved = first_fp16_steps(t4_run, checkpoints["fp32"])
    assert dtypes == {"frozen": {"torch.float32"}, "trainable": {"torch.float32"}}
    assert all(math.isfinite(loss) for loss in losses), f"non-finite loss in t4.yaml's first steps: {losses}"
    assert moved, "no optimizer step was taken: every step's gradients overflowed"


def test_the_published_bf16_dtype_stops_fp16_training_at_the_first_forward(checkpoints, t4_run):
    """Why t4-base.yaml exists; when this fails, LLaMA-Factory or transformers cope with a bf16 base under fp16
    autocast, and t4.yaml could train the published checkpoint directly. upcast_layernorm keeps a CPU-only error
    (the ViT's LayerNorm refuses bf16 weights with fp32 inputs) out of the way, so the failure seen is the rotary
    embedding's `torch.cat` of bf16 tensors, refused by autocast's device-independent type promotion: a T4 stops
    there too."""
    with pytest.raises(RuntimeError, match="Unexpected floating ScalarType in at::autocast::prioritize"):
        first_fp16_steps(t4_run, checkpoints["bf16"], steps=1, upcast_layernorm=True)


def test_an_fp16_overflow_gives_a_non_finite_loss(checkpoints, t4_run):
    def overflow(model):
        down_proj = model.get_base_model().model.language_model.layers[0].mlp.down_proj
        with torch.no_grad():
            down_proj.weight.mul_(1e6)  # its fp16 products exceed 65504, as Qwen2's large activations can

    losses, _, _ = first_fp16_steps(t4_run, checkpoints["fp32"], steps=1, tamper=overflow)
    assert not math.isfinite(losses[0])
