"""The lock files: the GPU ones resolve for Linux x86_64 with CUDA wheels, and hold what every recipe needs.

CI has no GPU, so nothing here installs the GPU locks. Instead:
- each GPU lock is resolved again by `uv pip compile` for the platform and Python its own header names (PyPI is
  reached: a lock whose wheels are missing for that platform, or whose pins no longer hold together, fails), and
  the result must pin exactly what the lock pins;
- LLaMA-Factory's own version checks, the ones `llamafactory-cli train` runs for the keys each recipe sets
  (bitsandbytes for 4-bit, deepspeed, liger-kernel, its transformers/datasets/accelerate/peft/trl ranges), are
  evaluated against the GPU lock's pins instead of the installed packages;
- the installed environment, in which tests/test_recipes.py parses every recipe, carries the GPU lock's versions
  of the training stack, so those parses hold for a GPU machine's install too.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from packaging.requirements import Requirement

from fiche_vlm import PROJECT_ROOT

REQUIREMENTS = PROJECT_ROOT / "requirements"
RECIPES = PROJECT_ROOT / "recipes"
GPU_LOCKS = ["train-gpu.txt", "serve-gpu.txt"]
UV = ["python3", "-m", "uv"]  # as the Makefile runs it (`make` installs it there)
TRAINING_STACK = ("llamafactory", "transformers", "peft", "accelerate", "datasets", "trl", "torch", "torchvision",
                  "tokenizers", "safetensors", "omegaconf")


def pins(lock: Path) -> dict[str, str]:
    """{normalised name: version} of a uv-compiled lock file."""
    found = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def header_command(lock: Path) -> list[str]:
    """The `uv pip compile …` line that the lock's header says produced it."""
    for line in lock.read_text(encoding="utf-8").splitlines()[:3]:
        if "uv pip compile" in line:
            return shlex.split(line.lstrip("# ").strip())
    raise AssertionError(f"{lock.name}: no `uv pip compile` command in its header")


@pytest.mark.parametrize("name", GPU_LOCKS)
def test_gpu_lock_resolves_for_linux_x86_64_without_installing(name, tmp_path):
    lock = REQUIREMENTS / name
    command = header_command(lock)
    platform = command[command.index("--python-platform") + 1]
    assert platform.startswith("x86_64-manylinux"), f"{name}: compiled for {platform}, not Linux x86_64"
    version = command[command.index("--python-version") + 1]
    out = tmp_path / "resolved.txt"
    # The lock itself as input: every pin must exist with a wheel (or sdist) for that platform and hold together.
    result = subprocess.run([*UV, "pip", "compile", "-q", "--no-header", "--python-version",
                             version, "--python-platform", platform, str(lock), "-o", str(out)],
                            check=False, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert result.returncode == 0, f"{name} does not resolve for {platform}:\n{result.stderr}"
    assert pins(out) == pins(lock), f"{name}: resolving it pins something else; recompile it (see its header)"


def test_gpu_train_lock_keeps_the_cpu_lock_versions():
    cpu, gpu = pins(REQUIREMENTS / "train.txt"), pins(REQUIREMENTS / "train-gpu.txt")
    differ = {name: (version, gpu.get(name)) for name, version in cpu.items() if gpu.get(name) != version}
    assert differ == {}, f"train-gpu.txt moves these pins of train.txt: {differ}"
    for package in ("bitsandbytes", "deepspeed", "liger-kernel"):
        assert package in gpu


def test_installed_training_stack_is_the_gpu_locks(request):
    """tests/test_recipes.py parses the recipes with the installed packages: the GPU lock must pin the same ones."""
    gpu = pins(REQUIREMENTS / "train-gpu.txt")
    installed = {name: metadata.version(name) for name in TRAINING_STACK}
    locked = {name: gpu.get(name) for name in TRAINING_STACK}
    assert {name: version.split("+")[0] for name, version in installed.items()} == locked


def satisfied(requirement: str, lock: dict[str, str]) -> str | None:
    """None when the lock satisfies `requirement` (LLaMA-Factory's check_version syntax), else why not."""
    parsed = Requirement(requirement)
    name = re.sub(r"[-_.]+", "-", parsed.name).lower()
    if name not in lock:
        return f"{requirement}: not in the lock"
    if parsed.specifier and not parsed.specifier.contains(lock[name], prereleases=True):
        return f"{requirement}: the lock pins {lock[name]}"
    return None


def recorded_checks(monkeypatch, *modules) -> list[str]:
    """Replace `check_version` in LLaMA-Factory's modules with a recorder; returns the list it fills."""
    seen: list[str] = []
    for module in modules:
        monkeypatch.setattr(module, "check_version", lambda requirement, mandatory=False: seen.append(requirement))
    return seen


def recipe_requirements(name: str, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> list[str]:
    """Every package requirement LLaMA-Factory checks when it trains `name` (parse, extra deps, quantization)."""
    import transformers.training_args
    from llamafactory.extras import misc
    from llamafactory.hparams import get_train_args, parser
    from llamafactory.model.model_utils import quantization

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    recipe = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    deepspeed = recipe.pop("deepspeed", None)  # TrainingArguments would import deepspeed, absent on a CPU machine
    recipe.update(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path / "out"))
    seen = recorded_checks(monkeypatch, misc, parser, quantization)
    misc.check_dependencies()
    model_args, _, training_args, finetuning_args, _ = get_train_args(recipe)
    if deepspeed is not None:
        training_args.deepspeed = deepspeed
        parser._check_extra_dependencies(model_args, finetuning_args, training_args)
    if model_args.quantization_bit is not None:
        import torch

        model_args.compute_dtype = torch.bfloat16
        monkeypatch.setattr(quantization, "BitsAndBytesConfig", lambda **kwargs: kwargs)  # imports bitsandbytes
        quantization.configure_quantization(SimpleNamespace(), None, model_args, True, {})
    return seen


@pytest.mark.parametrize("name", ["t4.yaml", "a100.yaml", "qlora.yaml", "multi-gpu.yaml"])
def test_gpu_lock_satisfies_what_llamafactory_checks_for_the_recipe(name, tiny_model_dir, tmp_path, monkeypatch):
    needed = recipe_requirements(name, tiny_model_dir, tmp_path, monkeypatch)
    recipe = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    if "quantization_bit" in recipe:
        assert any(requirement.startswith("bitsandbytes") for requirement in needed), needed
    if "deepspeed" in recipe:
        assert "deepspeed" in needed, needed
    lock = pins(REQUIREMENTS / "train-gpu.txt")
    problems = [problem for problem in (satisfied(requirement, lock) for requirement in needed) if problem]
    assert problems == [], f"{name} on a GPU machine installed from train-gpu.txt: {problems}"


def test_liger_override_is_satisfied_by_the_gpu_lock(tiny_model_dir, tmp_path, monkeypatch):
    """Any recipe with `enable_liger_kernel=true` (the proof script measures t4.yaml so) finds liger-kernel."""
    import transformers.training_args
    from llamafactory.hparams import get_train_args, parser

    monkeypatch.setattr(transformers.training_args, "is_torch_bf16_gpu_available", lambda: True)
    recipe = yaml.safe_load((RECIPES / "t4.yaml").read_text(encoding="utf-8"))
    recipe.update(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path / "out"), enable_liger_kernel=True)
    seen = recorded_checks(monkeypatch, parser)
    get_train_args(recipe)
    assert "liger-kernel" in seen
    assert satisfied("liger-kernel", pins(REQUIREMENTS / "train-gpu.txt")) is None


def test_gpu_proof_wheels_are_the_gpu_lock_versions():
    """benchmarks/gpu_proof.py runs on wheels staged from this list: they must be the versions `make` installs."""
    lock = pins(REQUIREMENTS / "train-gpu.txt")
    staged = pins(PROJECT_ROOT / "benchmarks" / "gpu_proof_wheels.txt")
    assert "bitsandbytes" in staged
    assert {name: lock.get(name) for name in staged} == staged
