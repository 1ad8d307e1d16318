"""The tiny model: deterministic, loadable as a hub checkpoint, and its chat template renders like training."""
from __future__ import annotations

import json

from click.testing import CliRunner

from fiche_vlm.cli import main

VISION = "<|vision_start|><|image_pad|><|vision_end|>"


def test_chat_template_renders_the_prompt_llamafactory_trains_on(tiny_model_dir):
    """vLLM renders requests with this template; LLaMA-Factory's `qwen2_vl` template built the training text.
    Any difference (a lost newline, say) is a prompt the model never saw."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    tokenizer = processor.tokenizer
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen2_vl"))
    text = "Tu es ingénieur produit.\n\nCotes en mm."
    trained = [{"role": "user", "content": VISION * 2 + text}, {"role": "assistant", "content": '{"object":"x"}'}]
    prompt_ids, answer_ids = template.encode_oneturn(tokenizer, trained)

    served = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": text}]}]
    rendered = processor.apply_chat_template(served, tokenize=False, add_generation_prompt=True)

    assert rendered == tokenizer.decode(prompt_ids)
    assert tokenizer.decode(answer_ids).startswith('{"object":"x"}<|im_end|>')


def test_tiny_model_is_deterministic_and_kept_when_unchanged(tmp_path, sample_fiches):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        result = CliRunner().invoke(main, ["tiny-model", "-o", str(out), "--corpus", str(sample_fiches)])
        assert result.exit_code == 0, result.output
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    stamp = (first / "model.safetensors").stat().st_mtime_ns
    CliRunner().invoke(main, ["tiny-model", "-o", str(first), "--corpus", str(sample_fiches)])
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # same spec and corpus: not rebuilt
    config = json.loads((first / "config.json").read_text())
    assert config["architectures"] == ["Qwen2VLForConditionalGeneration"]
    tokens = json.loads((first / "tokenizer.json").read_text())["added_tokens"]
    assert {"<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|video_pad|>"} <= {t["content"] for t in tokens}
