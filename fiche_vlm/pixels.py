"""Write training's pixel budget into an exported model's processor config, so a server sees training's pixels.

LLaMA-Factory 0.9.5's export keeps the base model's image-processor budget (Qwen2-VL ships 3136–12845056 pixels),
not the `image_min_pixels`/`image_max_pixels` the adapter was trained with; vLLM would then feed larger images
than training did to any client that does not resize first.
"""
from __future__ import annotations

import json
from pathlib import Path

from fiche_io.files import atomic_write_text

# LLaMA-Factory 0.9.5's defaults (hparams/model_args.py), used when a recipe leaves the keys out.
LLAMAFACTORY_MIN_PIXELS = 32 * 32
LLAMAFACTORY_MAX_PIXELS = 768 * 768
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


def recipe_pixel_budget(recipe: Path) -> tuple[int, int]:
    """(image_min_pixels, image_max_pixels) of a training recipe, with LLaMA-Factory's defaults."""
    import yaml

    keys = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
    return (int(keys.get("image_min_pixels", LLAMAFACTORY_MIN_PIXELS)),
            int(keys.get("image_max_pixels", LLAMAFACTORY_MAX_PIXELS)))


def _set_budget(image_processor: dict, min_pixels: int, max_pixels: int) -> None:
    image_processor["size"] = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if key in image_processor:  # older checkpoints carry both spellings; keep them in agreement
            image_processor[key] = value


def pin_pixel_budget(model_dir: Path, min_pixels: int, max_pixels: int) -> list[Path]:
    """Set the image processor's budget in every processor config file of `model_dir`; returns the files changed."""
    if min_pixels > max_pixels:
        raise ValueError(f"image_min_pixels {min_pixels} is above image_max_pixels {max_pixels}")
    changed = []
    for name in PROCESSOR_FILES:
        path = model_dir / name
        if not path.exists():
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        _set_budget(config["image_processor"] if "image_processor" in config else config, min_pixels, max_pixels)
        atomic_write_text(path, json.dumps(config, indent=2) + "\n")
        changed.append(path)
    if not changed:
        raise FileNotFoundError(f"{model_dir}: no {' or '.join(PROCESSOR_FILES)} to set the pixel budget in")
    return changed
