"""Does every sample of a sharegpt dataset fit the recipe that will train it? Counted before training.

LLaMA-Factory cuts a sample longer than `cutoff_len`; cut inside its image tokens, training stops with "Image
features and image tokens do not match". A view that LLaMA-Factory (`image_max_pixels`/`image_min_pixels`) or the
Qwen2-VL processor (its 28-px grid and pixel budget) would resize is trained at another resolution than the one
`fiche convert` fitted and `fiche predict` sends. Both are refused here, with the sample's id, before any GPU time.

How a sample is counted, as `llamafactory-cli train` would build it:
- text: the recipe's LLaMA-Factory template renders the conversation (system prompt, role markers, the answer and
  its end token) and the model's tokenizer encodes it, each `<image>` as the plugin's vision start, one image pad
  and vision end (that one pad is then taken off the text count);
- images: each view goes through LLaMA-Factory's own pre-resize and transformers' `smart_resize` with the
  processor's patch and merge sizes and pixel budget; it then takes (h / 28) × (w / 28) tokens (one per 2×2 merge
  of 14-px patches).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eval.loading import read_records_or_fail
from fiche_io.progress import with_progress

# LLaMA-Factory 0.9.5's defaults (hparams/data_args.py, model_args.py) for recipes that leave the keys out.
DEFAULT_CUTOFF_LEN = 2048
DEFAULT_MIN_PIXELS = 32 * 32
DEFAULT_MAX_PIXELS = 768 * 768
IMAGE_PLACEHOLDER = "<image>"


@dataclass(frozen=True)
class RecipeBudget:
    """What a training recipe allows one sample: tokens, and the pixel budget LLaMA-Factory resizes views to."""
    path: Path
    model: str
    template: str
    cutoff_len: int
    image_min_pixels: int
    image_max_pixels: int


def recipe_budget(recipe: Path) -> RecipeBudget:
    keys = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
    if "template" not in keys:
        raise ValueError(f"{recipe}: template: missing (LLaMA-Factory needs it to render the samples)")
    return RecipeBudget(path=recipe, model=str(keys.get("model_name_or_path", "")), template=keys["template"],
                        cutoff_len=int(keys.get("cutoff_len", DEFAULT_CUTOFF_LEN)),
                        image_min_pixels=int(keys.get("image_min_pixels", DEFAULT_MIN_PIXELS)),
                        image_max_pixels=int(keys.get("image_max_pixels", DEFAULT_MAX_PIXELS)))


@dataclass
class SampleCount:
    """One sample's token count and what keeps it from training as converted (empty: it fits)."""
    id: str
    text_tokens: int = 0
    image_tokens: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.text_tokens + self.image_tokens


@dataclass
class BudgetReport:
    dataset: Path
    budget: RecipeBudget
    samples: list[SampleCount]

    @property
    def refused(self) -> list[SampleCount]:
        return [sample for sample in self.samples if sample.problems]

    def messages(self) -> list[str]:
        return [f"{self.dataset}: {sample.id}: {problem}" for sample in self.refused for problem in sample.problems]

    def summary(self) -> str:
        longest = max(self.samples, key=lambda sample: sample.total, default=None)
        text = (f"checked {len(self.samples)} samples against {self.budget.path} (cutoff_len {self.budget.cutoff_len}, "
                f"image pixels {self.budget.image_min_pixels}–{self.budget.image_max_pixels})")
        if longest is not None:
            text += f": longest {longest.total} tokens ({longest.id}: {longest.image_tokens} image + {longest.text_tokens} text)"
        return f"{text}; refused {len(self.refused)}"


def read_sharegpt(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(id, record) for each sample of a converter's output (.json array or .jsonl); id falls back to `#index`.
    A record that cannot be read is an InputError (a ValueError) naming its file:line."""
    records = [line.value for line in read_records_or_fail(path)]
    return [(str(record.get("id", f"#{index}")), record) for index, record in enumerate(records)]


def load_counting_tools(budget: RecipeBudget, model_dir: Path):
    """(tokenizer, processor, template) exactly as LLaMA-Factory builds them for training with this recipe."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer

    model_args = ModelArguments(model_name_or_path=str(model_dir), image_max_pixels=budget.image_max_pixels,
                                image_min_pixels=budget.image_min_pixels)
    module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(module["tokenizer"], DataArguments(template=budget.template))
    return module["tokenizer"], module["processor"], template


def count_image(path: Path, budget: RecipeBudget, processor, plugin) -> tuple[int, list[str]]:
    """Tokens one view takes in training, and the resizes it would go through after the converter's."""
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    image_processor = processor.image_processor
    patch, merge = image_processor.patch_size, image_processor.merge_size
    size = image_processor.size
    with Image.open(path) as image:
        width, height = image.size
        resized = plugin._preprocess_image(image, image_max_pixels=budget.image_max_pixels,
                                           image_min_pixels=budget.image_min_pixels)
        pre_width, pre_height = resized.size
    problems = []
    if (pre_width, pre_height) != (width, height):
        problems.append(f"{path.name} is {width}×{height} px: LLaMA-Factory resizes it to {pre_width}×{pre_height} "
                        f"(recipe image_min_pixels {budget.image_min_pixels}, image_max_pixels {budget.image_max_pixels}); "
                        f"convert with a --long-side band inside the recipe's budget")
    grid_height, grid_width = smart_resize(pre_height, pre_width, factor=patch * merge,
                                           min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])
    if (grid_width, grid_height) != (pre_width, pre_height):
        problems.append(f"{path.name}: the processor resizes {pre_width}×{pre_height} px to {grid_width}×{grid_height} "
                        f"(its {patch * merge}-px grid, pixels {size['shortest_edge']}–{size['longest_edge']}); "
                        f"convert with `fiche convert`, which fits views to that grid")
    return (grid_height // patch) * (grid_width // patch) // (merge * merge), problems


def count_sample(sample_id: str, record: dict[str, Any], budget: RecipeBudget, media_dir: Path, tokenizer,
                 processor, template) -> SampleCount:
    from llamafactory.data.data_utils import Role

    count = SampleCount(sample_id)
    roles = {"user": Role.USER.value, "assistant": Role.ASSISTANT.value}
    messages = list(record.get("messages") or [])
    system = messages.pop(0)["content"] if messages and messages[0].get("role") == "system" else None
    unusable = [f"messages[{index + (system is not None)}]: {message!r:.60} is no user or assistant turn"
                for index, message in enumerate(messages)
                if not isinstance(message, dict) or message.get("role") not in roles
                or not isinstance(message.get("content"), str)]
    if unusable or not messages:
        count.problems.extend(unusable or ["messages: none to train on"])
        return count
    plugin = template.mm_plugin
    one_pad = f"{plugin.vision_bos_token}{plugin.image_token}{plugin.vision_eos_token}"
    turns = [{"role": roles[message["role"]], "content": message["content"].replace(IMAGE_PLACEHOLDER, one_pad)}
             for message in messages]
    pairs = template.encode_multiturn(tokenizer, turns, system, None)
    images = record.get("images") or []
    placeholders = sum(message["content"].count(IMAGE_PLACEHOLDER) for message in messages)
    if placeholders != len(images):
        count.problems.append(f"{placeholders} <image> placeholders for {len(images)} images")
    count.text_tokens = (sum(len(source) + len(target) for source, target in pairs) - placeholders  # their one pad
                         + (1 if template.efficient_eos else 0))
    for image in images:
        path = media_dir / image
        if not path.is_file():
            count.problems.append(f"image {image} not found under {media_dir}")
            continue
        tokens, problems = count_image(path, budget, processor, plugin)
        count.image_tokens += tokens
        count.problems.extend(problems)
    if count.total > budget.cutoff_len:
        count.problems.insert(0, f"{count.total} tokens ({count.image_tokens} image + {count.text_tokens} text) > "
                                 f"cutoff_len {budget.cutoff_len} of {budget.path}: LLaMA-Factory would cut it, "
                                 f"image tokens included")
    return count


def check_dataset(dataset: Path, recipe: Path, *, model_dir: Path | None = None, media_dir: Path | None = None,
                  show_progress: bool = False) -> BudgetReport:
    """Count every sample of `dataset` (a converter's sharegpt output) against `recipe`; nothing is written.

    `model_dir` gives the tokenizer and image processor (default: the recipe's model_name_or_path); `media_dir`
    is where image paths start (default: the dataset's folder, as for a dataset registered beside its file)."""
    budget = recipe_budget(recipe)
    tokenizer, processor, template = load_counting_tools(budget, model_dir or Path(budget.model))
    samples = read_sharegpt(dataset)
    media_dir = media_dir or dataset.parent
    counts = [count_sample(sample_id, record, budget, media_dir, tokenizer, processor, template)
              for sample_id, record in with_progress(samples, "counting tokens", show_progress)]
    return BudgetReport(dataset=dataset, budget=budget, samples=counts)
