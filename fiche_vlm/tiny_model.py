"""A tiny Qwen2-VL, built locally and saved like a hub checkpoint, so the whole chain runs with no hub.

It has Qwen2-VL's real classes (model, config, processor) and special tokens, a byte-level BPE tokenizer
trained with `tokenizers` on the sample data, and a Qwen2-VL-style chat template. Random weights, about 1 M
parameters; with the smoke recipe it learns the eight sample fiches on two CPU cores in a few minutes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Qwen2-VL's added tokens, in its own order; the first is also the pad token.
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]

# Renders the same text as LLaMA-Factory's `qwen2_vl` template: a default system turn, then
# <|im_start|>role\n…<|im_end|>\n, with each image as <|vision_start|><|image_pad|><|vision_end|> in place.
# Every literal is an expression: transformers renders templates with trim_blocks, which would eat a newline
# written after a block tag (tests/test_tiny_model.py holds this equal to LLaMA-Factory's own rendering).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') or 'image' in part %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] in ('video', 'video_url') %}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    """What the tiny model is made of; its hash names the cache folder."""
    seed: int = 0
    vocab_size: int = 4096  # BPE target; a larger vocabulary makes the gold JSON fewer tokens to learn
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    mrope_section: tuple[int, int, int] = (4, 6, 6)  # sums to head_dim / 2 = 16
    vision_embed_dim: int = 64
    vision_depth: int = 2
    vision_num_heads: int = 4
    max_position_embeddings: int = 8192
    min_pixels: int = 56 * 56
    max_pixels: int = 224 * 224  # ≥ every fitted sample image (long side 224), so the processor leaves them as they are
    corpus_sha256: str = field(default="")
    chat_template_sha256: str = field(default_factory=lambda: hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest())

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def corpus_from_fiches(paths: list[Path]) -> list[str]:
    """The texts the tokenizer learns from: every string field of the fiche JSONL lines, gold JSON as canonical text;
    in text → CAD lines (`cad` instead of `output`) the CAD JSON as the converter writes it."""
    from fiche_io.jsonl import iter_jsonl
    from fiche_schema.canonical import canonical_text, dumps_plain

    texts: list[str] = []
    for path in paths:
        for line in iter_jsonl(path):
            if line.error is not None:
                raise ValueError(f"{line.where(path)}: {line.error}")
            record = line.value
            texts += [record.get("instruction") or "", record.get("context_text") or ""]
            if record.get("output") is not None:
                texts.append(canonical_text(record["output"]))
            if isinstance(record.get("cad"), dict):
                texts.append(dumps_plain(record["cad"]))
    return texts


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE (every byte is in the alphabet, so no text is out of vocabulary) with Qwen2-VL's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Chat-template pieces are part of every training sequence: let them merge too.
    scaffold = ["<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "user\n", "assistant\n"]
    tokenizer.train_from_iterator(texts + scaffold, trainer=trainer)
    return tokenizer


def spec_for_corpus(corpus_paths: list[Path], seed: int = 0) -> TinySpec:
    digest = hashlib.sha256(b"".join(Path(path).read_bytes() for path in corpus_paths)).hexdigest()
    return TinySpec(seed=seed, corpus_sha256=digest)


def ensure_tiny_model(out_dir: str | Path, corpus_paths: list[Path], seed: int = 0) -> Path:
    """The tiny model in `out_dir`, built only when absent or made from another spec or corpus; built in a
    sibling folder and renamed, so an interrupted build never leaves a half model behind."""
    import shutil

    out_dir, spec = Path(out_dir), spec_for_corpus(corpus_paths, seed)
    spec_file = out_dir / "tiny_spec.json"
    if spec_file.exists() and json.loads(spec_file.read_text(encoding="utf-8")) == json.loads(json.dumps(asdict(spec))):
        return out_dir
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_tiny_model(partial, corpus_paths, spec)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return out_dir


def build_tiny_model(out_dir: str | Path, corpus_paths: list[Path], spec: TinySpec = TinySpec()) -> Path:
    """Build and save the model, tokenizer and processor in `out_dir`; deterministic for a spec and a corpus."""
    import torch
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = train_tokenizer(corpus_from_fiches(corpus_paths), spec.vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        model_max_length=spec.max_position_embeddings,
        chat_template=CHAT_TEMPLATE,
    )
    token_id = tokenizer.convert_tokens_to_ids
    vocab = ((len(tokenizer) + 63) // 64) * 64  # padded like real checkpoints; LLaMA-Factory leaves it alone

    config = Qwen2VLConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "max_position_embeddings": spec.max_position_embeddings,
            "rope_parameters": {"rope_type": "default", "mrope_section": list(spec.mrope_section), "rope_theta": 1000000.0},
            "tie_word_embeddings": False,
            "bos_token_id": token_id("<|endoftext|>"),
            "eos_token_id": token_id("<|im_end|>"),
            "pad_token_id": token_id("<|endoftext|>"),
        },
        vision_config={
            "depth": spec.vision_depth,
            "embed_dim": spec.vision_embed_dim,
            "hidden_size": spec.hidden_size,
            "num_heads": spec.vision_num_heads,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(spec.seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32)
    model.generation_config.eos_token_id = [token_id("<|im_end|>"), token_id("<|endoftext|>")]
    model.generation_config.pad_token_id = token_id("<|endoftext|>")
    model.generation_config.do_sample = False
    model.save_pretrained(out_dir)

    size = {"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels),
        video_processor=Qwen2VLVideoProcessor(size=size),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out_dir)
    (out_dir / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n", encoding="utf-8")
    return out_dir
