"""Training benchmark: one recipe on a random-weight Qwen2-VL of the real 2B or 7B architecture, synthetic fiches.

What it does, in order:
1. writes synthetic fiches (the fiche JSONL contract): N fiches, each with V views of W×H px (filled shapes) and
   a schema-valid gold JSON trimmed to about `--answer-tokens` tokens; converts them with the project's own
   converter (`converters.fiche.convert_fiches`: views fitted to the 28-px grid, canonical JSON answers);
2. builds a model folder: the tiny model's tokenizer and processor (trained on the synthetic texts, so its
   tokens are ordinary text pieces) and, for 2b/7b, random weights with Qwen2-VL-2B/7B-Instruct's exact
   configuration, saved in bfloat16 like the published checkpoints (`--base-dtype float32`: as t4-base.yaml
   writes t4.yaml's base), cached under the work folder;
3. runs the recipe in-process with LLaMA-Factory's `run_exp` for `--steps` optimizer steps, with only the model
   path, dataset, output folder and step count overridden (plus `--set` overrides);
4. prints ONE JSON line: peak GPU memory (torch.cuda.max_memory_allocated, and reserved), samples/s and
   tokens/s over the steps after the warm-up ones, and what was run (sizes, overrides, device, versions).

It is a benchmark, not a test: it asserts nothing about speed. `--tiny` runs the tiny model on the CPU
(precision, quantization and DeepSpeed keys dropped, and listed in the output) to check the script itself.

Example: .venv/bin/python benchmarks/train_bench.py --arch 2b --recipe recipes/t4.yaml --base-dtype float32
"""
from __future__ import annotations

import copy
import gc
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import click

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script from anywhere: the project's packages are beside it
    sys.path.insert(0, str(PROJECT_ROOT))

from converters.fiche import FICHE_INSTRUCTION, convert_fiches
from fiche_io.files import atomic_write_text
from fiche_io.jsonl import dumps_jsonl
from fiche_schema.canonical import canonical_text

DATASET_NAME = "bench"

# Qwen2-VL-{2B,7B}-Instruct's config.json, as text and vision sizes (parameters: 2.209 B and 8.291 B).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "2b": {
        "text": {"vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                 "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768},
        "vision_out": 1536,
        "tie_word_embeddings": True,
    },
    "7b": {
        "text": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                 "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768},
        "vision_out": 3584,
        "tie_word_embeddings": False,
    },
}
VISION = {"depth": 32, "embed_dim": 1280, "num_heads": 16, "mlp_ratio": 4, "patch_size": 14,
          "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}
MROPE_SECTION = [16, 24, 24]  # head_dim 128 for both: 16+24+24 = 64 = head_dim / 2
QWEN2VL_PROCESSOR_PIXELS = (3136, 12845056)  # min_pixels, max_pixels of the published preprocessor_config.json

# Keys a CPU cannot run, dropped by --tiny (and reported): CUDA mixed precision, bitsandbytes, DeepSpeed, Liger.
CPU_DROPPED_KEYS = ("fp16", "bf16", "pure_bf16", "quantization_bit", "quantization_method", "quantization_type",
                    "double_quantization", "deepspeed", "enable_liger_kernel", "flash_attn")

WORDS = ("corps", "platine", "bride", "arbre", "palier", "roulement", "vis", "écrou", "rondelle", "joint", "axe",
         "carter", "couvercle", "support", "équerre", "charnière", "poulie", "gorge", "alésage", "chanfrein",
         "congé", "perçage", "taraudage", "épaulement", "nervure", "lumière", "fente", "clavette", "goupille",
         "ressort", "acier", "aluminium", "laiton", "inox", "polyamide", "fonte", "usinage", "fraisage", "tournage",
         "pliage", "soudure", "moulage", "découpe", "laser", "anodisation", "zingage", "peinture", "tolérance",
         "jeu", "serrage", "guidage", "rotation", "translation", "fixation", "étanchéité", "lubrification",
         "charge", "couple", "effort", "vibration", "usure", "corrosion", "fatigue", "assemblage", "montage",
         "démontage", "centrage", "appui", "plan", "cylindre", "cône", "sphère", "face", "bord", "angle",
         "hauteur", "largeur", "profondeur", "diamètre", "entraxe", "épaisseur", "section", "vue", "coupe")
LIST_FIELDS = ("components", "interfaces", "materials_guess", "manufacturing", "assumptions", "uncertainties",
               "risks_limits")
TEXT_FIELDS = ("function", "global_shape", "working_principle", "assembly_hypothesis")


@dataclass(frozen=True)
class DataSpec:
    """What the synthetic dataset is made of; its hash names the data folder."""
    samples: int
    views: int
    view_px: tuple[int, int]
    long_side: tuple[int, int]
    answer_tokens: int
    seed: int

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------- data
def phrase(rng: random.Random, limit: int) -> str:
    """Random words and a dimension, within the schema's string pattern and `limit` characters."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
    words.insert(rng.randrange(len(words)), f"{rng.choice(['Ø', 'R', 'L', 'e'])}{rng.randint(2, 400)} mm")
    text = " ".join(words)
    return text[:limit].rstrip() or "pièce"


def draft_output(rng: random.Random) -> dict[str, Any]:
    """A schema-valid fiche answer with every list full (12 items), to be trimmed to the token target."""
    output: dict[str, Any] = {"object": phrase(rng, 80)}
    for name in TEXT_FIELDS:
        output[name] = phrase(rng, 160)
    for name in LIST_FIELDS:
        output[name] = [phrase(rng, 80) for _ in range(12)]
    output["dimensions"] = {"H": rng.randint(5, 900), "W": rng.randint(5, 900), "D": rng.randint(5, 900), "unit": "mm"}
    return output


def trim_to_tokens(output: dict[str, Any], count_tokens, target: int) -> dict[str, Any]:
    """Drop list items, longest list first, until the canonical answer has at most `target` tokens."""
    output = copy.deepcopy(output)
    while count_tokens(canonical_text(output)) > target:
        longest = max(LIST_FIELDS, key=lambda name: len(output[name]))
        if not output[longest]:
            break
        output[longest].pop()
    return output


def draw_view(rng: random.Random, size: tuple[int, int]):
    """A view-like picture: filled, outlined shapes in a few colours on white (content only has to be real pixels)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randrange(width // 2), rng.randrange(height // 2)
        x1, y1 = x0 + rng.randint(width // 8, width // 2), y0 + rng.randint(height // 8, height // 2)
        colour = tuple(rng.randrange(40, 230) for _ in range(3))
        shape = rng.choice((draw.rectangle, draw.ellipse))
        shape((x0, y0, x1, y1), fill=colour, outline=(0, 0, 0), width=4)
    for _ in range(4):
        draw.line([(rng.randrange(width), rng.randrange(height)) for _ in range(2)], fill=(0, 0, 0), width=2)
    return image


def write_fiches(folder: Path, spec: DataSpec, vocab_size: int) -> Path:
    """The synthetic fiche JSONL (+ images) in `folder`; answers trimmed with a tokenizer trained on the drafts."""
    from fiche_vlm.tiny_model import train_tokenizer

    rng = random.Random(spec.seed)
    drafts = [draft_output(rng) for _ in range(spec.samples)]
    context = "Plan de définition. Cotes en mm. Tolérances générales ISO 2768-m."
    tokenizer = train_tokenizer([FICHE_INSTRUCTION, context] + [canonical_text(d) for d in drafts], vocab_size)

    def count(text: str) -> int:
        return len(tokenizer.encode(text).ids)

    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for index, draft in enumerate(drafts):
        fiche_id = f"bench-{index:04d}"
        names = []
        for view in range(spec.views):
            name = f"images/{fiche_id}_{view}.png"
            draw_view(rng, spec.view_px).save(folder / name)
            names.append(name)
        records.append({"id": fiche_id, "images": names, "context_text": context, "instruction": FICHE_INSTRUCTION,
                        "output": trim_to_tokens(draft, count, spec.answer_tokens)})
    path = folder / "fiches.jsonl"
    atomic_write_text(path, dumps_jsonl(records))
    return path


def prepare_data(workdir: Path, spec: DataSpec, vocab_size: int) -> tuple[Path, Path]:
    """(fiche JSONL, dataset_dir with `bench` registered); reused when the same spec was built before."""
    folder = workdir / "data" / spec.key()
    dataset_dir = folder / "dataset_info"
    fiches = folder / "fiches.jsonl"
    if not (dataset_dir / "dataset_info.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        write_fiches(folder, spec, vocab_size)
        report = convert_fiches(fiches, dataset_dir / f"{DATASET_NAME}.json", dataset_dir=dataset_dir,
                                name=DATASET_NAME, long_side=spec.long_side, strict=True)
        if report.written != spec.samples:
            raise RuntimeError(f"converter wrote {report.written} of {spec.samples} synthetic fiches")
    return fiches, dataset_dir


# --------------------------------------------------------------------------------------------------- model
def architecture_config(arch: str, tokenizer):
    """Qwen2VLConfig with the published sizes of `arch`; special-token ids from `tokenizer`."""
    from transformers import Qwen2VLConfig

    sizes = ARCHITECTURES[arch]
    token_id = tokenizer.convert_tokens_to_ids
    return Qwen2VLConfig(
        text_config={**sizes["text"], "rms_norm_eps": 1e-6, "tie_word_embeddings": sizes["tie_word_embeddings"],
                     "rope_parameters": {"rope_type": "default", "mrope_section": MROPE_SECTION,
                                         "rope_theta": 1000000.0},
                     "bos_token_id": token_id("<|endoftext|>"), "eos_token_id": token_id("<|im_end|>"),
                     "pad_token_id": token_id("<|endoftext|>")},
        vision_config={**VISION, "hidden_size": sizes["vision_out"]},
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
        tie_word_embeddings=sizes["tie_word_embeddings"],
    )


def build_model(workdir: Path, arch: str, fiches: Path, seed: int, dtype: str = "bfloat16") -> Path:
    """The model folder for `arch` ("tiny", "2b" or "7b"), built once per corpus and dtype and cached; 2b/7b
    weights are saved in `dtype` (bfloat16 as published; float32 as t4-base.yaml writes t4.yaml's base)."""
    from fiche_vlm.tiny_model import TinySpec, build_tiny_model

    corpus = hashlib.sha256(fiches.read_bytes()).hexdigest()
    min_pixels, max_pixels = QWEN2VL_PROCESSOR_PIXELS
    spec = TinySpec(seed=seed, min_pixels=min_pixels, max_pixels=max_pixels, corpus_sha256=corpus)
    target = workdir / "models" / f"{arch}-{spec.key()}{'' if dtype == 'bfloat16' else '-' + dtype}"
    if (target / "config.json").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_tiny_model(partial, [fiches], spec)  # tokenizer + processor (+ the tiny weights, kept for "tiny")
    if arch != "tiny":
        import torch
        from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

        config = architecture_config(arch, AutoTokenizer.from_pretrained(partial))
        for stale in (*partial.glob("*.safetensors"), partial / "tiny_spec.json"):
            stale.unlink()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(seed)
        with torch.device(device):  # random init on the GPU: seconds instead of minutes on the CPU
            model = Qwen2VLForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
        model.save_pretrained(partial)
        (partial / "bench_arch.json").write_text(json.dumps({"arch": arch, "parameters": model.num_parameters()}) + "\n")
        del model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


# ----------------------------------------------------------------------------------------------- the run
def load_recipe(path: Path, overrides: list[str] = ()) -> dict[str, Any]:
    """The recipe as `llamafactory-cli train` reads it: YAML merged with OmegaConf dot-list overrides."""
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(list(overrides)))
    return OmegaConf.to_container(merged)


def cpu_runnable(args: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`args` without what only a CUDA machine runs, plus use_cpu; also the dropped keys, for the record."""
    dropped = [key for key in CPU_DROPPED_KEYS if key in args]
    kept = {key: value for key, value in args.items() if key not in CPU_DROPPED_KEYS}
    kept.update(use_cpu=True, dataloader_num_workers=0, dataloader_persistent_workers=False,
                preprocessing_num_workers=1)
    return kept, dropped


def bench_args(recipe: dict[str, Any], *, model_dir: Path, dataset_dir: Path, output_dir: Path, steps: int,
               dataset: str = DATASET_NAME) -> dict[str, Any]:
    """The recipe with the benchmark's own keys: its model, data and output, a fixed step count, no checkpoints."""
    args = dict(recipe)
    args.update(model_name_or_path=str(model_dir), dataset_dir=str(dataset_dir), dataset=dataset,
                output_dir=str(output_dir), overwrite_output_dir=True, max_steps=steps, save_strategy="no",
                logging_steps=1, report_to="none", plot_loss=False, overwrite_cache=True, do_train=True)
    for key in ("eval_dataset", "val_size", "eval_strategy", "eval_steps", "resume_from_checkpoint"):
        args.pop(key, None)
    return args


def make_clock(image_token_id: int):
    """A TrainerCallback that timestamps every optimizer step and reads the tokenized sample lengths."""
    import torch
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.started = math.nan
            self.step_ends: list[float] = []
            self.lengths: list[int] = []
            self.image_tokens: list[int] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            dataset = getattr(kwargs.get("train_dataloader"), "dataset", None)
            if dataset is not None and "input_ids" in getattr(dataset, "column_names", ()):
                for ids in dataset["input_ids"]:
                    self.lengths.append(len(ids))
                    self.image_tokens.append(sum(1 for token in ids if token == image_token_id))

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # the step's kernels are done when its time is taken
            self.step_ends.append(time.perf_counter())

    return StepClock()


def finite(value: float, digits: int) -> float | None:
    """Rounded, or None where nothing was measured (JSON has no NaN)."""
    return round(value, digits) if math.isfinite(value) else None


def versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "transformers", "peft", "llamafactory", "accelerate", "bitsandbytes", "deepspeed",
                 "liger-kernel"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def run_bench(*, recipe_path: Path, arch: str, cpu: bool, steps: int, warmup_steps: int, data: DataSpec,
              workdir: Path, overrides: list[str], vocab_size: int = 4096, base_dtype: str = "bfloat16") -> dict[str, Any]:
    """Run the benchmark and return the measurement (the printed JSON line)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    if not 0 <= warmup_steps < steps:
        raise click.BadParameter(f"--warmup-steps ({warmup_steps}) must be in [0, --steps ({steps})): nothing would be timed")
    if not cpu and not torch.cuda.is_available():
        raise click.UsageError("no CUDA GPU here: run with --tiny (tiny model on the CPU) to check the script")
    recipe = load_recipe(recipe_path, overrides)
    fiches, dataset_dir = prepare_data(workdir, data, vocab_size)
    model_dir = build_model(workdir, arch, fiches, data.seed, base_dtype)
    run_dir = workdir / "runs" / f"{recipe_path.stem}-{arch}"
    args = bench_args(recipe, model_dir=model_dir, dataset_dir=dataset_dir, output_dir=run_dir, steps=steps)
    dropped: list[str] = []
    if cpu:
        args, dropped = cpu_runnable(args)

    from llamafactory.train.tuner import run_exp

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    answers = [canonical_text(json.loads(line)["output"]) for line in fiches.read_text(encoding="utf-8").splitlines()]
    clock = make_clock(config.image_token_id)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    run_exp(args=args, callbacks=[clock])

    # One process: what one optimizer step consumes (8 and 1 are the transformers defaults).
    effective_batch = args.get("per_device_train_batch_size", 8) * args.get("gradient_accumulation_steps", 1)
    # From the end of the last warm-up step (or the start of training) to the end of the last step, so the
    # timed steps include their data loading.
    marks = [clock.started] + clock.step_ends
    timed_steps = len(clock.step_ends) - warmup_steps
    seconds = marks[-1] - marks[warmup_steps]
    samples_per_s = timed_steps * effective_batch / seconds if timed_steps > 0 else math.nan
    seq_len = sum(clock.lengths) / len(clock.lengths) if clock.lengths else math.nan
    gib = 2 ** 30
    result = {
        "bench": "train",
        "date": datetime.now(timezone.utc).date().isoformat(),
        "recipe": str(recipe_path),
        "arch": arch,
        "parameters": json.loads((model_dir / "bench_arch.json").read_text())["parameters"]
        if (model_dir / "bench_arch.json").exists() else None,
        "overrides": overrides,
        "base_dtype": base_dtype if arch != "tiny" else None,
        "cpu_dropped_keys": dropped,
        "device": device_name(),
        "views": data.views,
        "view_px": list(data.view_px),
        "image_max_pixels": args.get("image_max_pixels"),
        "image_tokens_per_sample": sum(clock.image_tokens) / len(clock.image_tokens) if clock.image_tokens else None,
        "answer_tokens_mean": round(sum(len(tokenizer(a)["input_ids"]) for a in answers) / len(answers), 1),
        "seq_len_mean": finite(seq_len, 1),
        "per_device_batch": args.get("per_device_train_batch_size", 8),
        "grad_accum": args.get("gradient_accumulation_steps", 1),
        "effective_batch": effective_batch,
        "steps": len(clock.step_ends),
        "timed_steps": timed_steps,
        "peak_alloc_gib": round(torch.cuda.max_memory_allocated() / gib, 2) if torch.cuda.is_available() else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / gib, 2) if torch.cuda.is_available() else None,
        "samples_per_s": finite(samples_per_s, 3),
        "tokens_per_s": finite(samples_per_s * seq_len, 1),
        "versions": versions(),
    }
    return result


@click.command()
@click.option("--recipe", "recipe_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="LLaMA-Factory training recipe (YAML) to run.")
@click.option("--arch", type=click.Choice(["2b", "7b", "tiny"]), default="2b", show_default=True,
              help="Random-weight model: Qwen2-VL-2B's or 7B's exact architecture, or the tiny test model.")
@click.option("--tiny", is_flag=True, help="The tiny model on the CPU (drops fp16/bf16, bitsandbytes, DeepSpeed, "
                                           "Liger keys), small views: checks the script without a GPU.")
@click.option("--steps", default=4, show_default=True, help="Optimizer steps to run (max_steps).")
@click.option("--warmup-steps", default=1, show_default=True, help="Steps left out of the timing.")
@click.option("--samples", type=int, default=None, help="Synthetic fiches. Default: enough for every step.")
@click.option("--views", default=2, show_default=True, help="Views per fiche.")
@click.option("--view-px", nargs=2, type=int, default=None, help="Width and height of each view [768 768; --tiny 224 224].")
@click.option("--long-side", nargs=2, type=int, default=None,
              help="The converter's long-side band [640 768 (fits 768 px to 756); --tiny 224 224].")
@click.option("--answer-tokens", default=350, show_default=True, help="Target length of each gold JSON answer.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Recipe override, as on the llamafactory-cli command line (repeatable).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=PROJECT_ROOT / "outputs" / "bench",
              show_default=True, help="Data, model and run folders (models are cached here).")
@click.option("--jsonl", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also append the JSON line to this file.")
@click.option("--seed", default=0, show_default=True)
@click.option("--base-dtype", type=click.Choice(["bfloat16", "float32"]), default="bfloat16", show_default=True,
              help="dtype the random 2b/7b weights are saved in: bfloat16 as Qwen publishes them; float32 as "
                   "t4-base.yaml writes t4.yaml's base.")
def main(recipe_path: Path, arch: str, tiny: bool, steps: int, warmup_steps: int, samples: int | None, views: int,
         view_px: tuple[int, int] | None, long_side: tuple[int, int] | None, answer_tokens: int,
         overrides: tuple[str, ...], workdir: Path, jsonl: Path | None, seed: int, base_dtype: str) -> None:
    """Run RECIPE for a few steps on a random-weight Qwen2-VL and print one JSON line of measurements.

    Example: .venv/bin/python benchmarks/train_bench.py --arch 2b --recipe recipes/t4.yaml --base-dtype float32
    """
    if tiny:
        arch = "tiny"
    view_px = view_px or ((224, 224) if tiny else (768, 768))
    long_side = long_side or ((224, 224) if tiny else (640, 768))
    recipe = load_recipe(recipe_path, list(overrides))
    per_step = recipe.get("per_device_train_batch_size", 8) * recipe.get("gradient_accumulation_steps", 1)
    data = DataSpec(samples=samples or per_step * steps, views=views, view_px=tuple(view_px),
                    long_side=tuple(long_side), answer_tokens=answer_tokens, seed=seed)
    result = run_bench(recipe_path=recipe_path, arch=arch, cpu=tiny, steps=steps, warmup_steps=warmup_steps,
                       data=data, workdir=workdir, overrides=list(overrides), base_dtype=base_dtype)
    line = json.dumps(result, ensure_ascii=False)
    if jsonl is not None:
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        with jsonl.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")
    click.echo(line)


if __name__ == "__main__":
    main()
