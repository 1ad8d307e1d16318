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


def test_a_text2cad_corpus_teaches_the_tokenizer_cad_json(tmp_path, sample_fiches):
    """The multi-LoRA proof trains CAD answers: learnt from the CAD JSON too, the tokenizer writes them in about
    half the tokens (measured 90–303 instead of 181–562), so the tiny model trains on shorter sequences."""
    from transformers import AutoTokenizer

    from fiche_vlm import PROJECT_ROOT

    text2cad = PROJECT_ROOT / "data" / "text2cad" / "text2cad.jsonl"
    cad_texts = [json.dumps(json.loads(line)["cad"], separators=(",", ":")) for line in text2cad.read_text().splitlines()]
    lengths = {}
    for name, corpus in {"fiches": [sample_fiches], "both": [sample_fiches, text2cad]}.items():
        result = CliRunner().invoke(main, ["tiny-model", "-o", str(tmp_path / name),
                                           *[arg for path in corpus for arg in ("--corpus", str(path))]])
        assert result.exit_code == 0, result.output
        tokenizer = AutoTokenizer.from_pretrained(tmp_path / name)
        lengths[name] = sum(len(tokenizer(text)["input_ids"]) for text in cad_texts)
    assert lengths["both"] < 0.7 * lengths["fiches"], lengths
