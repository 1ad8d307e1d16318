"""Serve a merged model directory (or a base model + LoRA adapter) with vLLM's OpenAI-compatible server.

The same argument list runs everywhere: the official `vllm` on a CUDA machine, the `vllm-cpu` build in
`.venv-serve` elsewhere. `VLLMServer` starts it in its own process group, waits until `/v1/models` answers and
always stops the whole group (SIGTERM, then SIGKILL) on exit, error or Ctrl-C.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Self

from fiche_io.processes import group_alive, signal_group
from fiche_vlm import DEFAULT_API_KEY_ENV, PROJECT_ROOT

# vLLM accepts only these LoRA ranks for --max-lora-rank (vllm.config.lora.MaxLoRARanks).
ALLOWED_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
LORA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DEFAULT_MAX_MODEL_LEN = 8192


class ServeError(RuntimeError):
    """The server could not be configured or started; the message says why (with the log's tail)."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cuda" or "cpu"
    compute_capability: float | None = None  # lowest over the visible GPUs
    count: int = 0


def detect_device() -> Device:
    """CUDA when `nvidia-smi` lists a GPU, else CPU; read without importing torch (it is in the other venv)."""
    if shutil.which("nvidia-smi") is None:
        return Device("cpu")
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return Device("cpu")
    caps = [float(line) for line in out.split() if line.strip()]
    return Device("cuda", min(caps), len(caps)) if caps else Device("cpu")


def default_dtype(device: Device) -> str:
    """float32 on CPU (the AVX2 kernels have no fast half path); bfloat16 from Ampere (A100/H100, sm ≥ 8.0)
    on; half below (T4 is sm 7.5 and has no bfloat16)."""
    if device.kind != "cuda":
        return "float32"
    return "bfloat16" if (device.compute_capability or 0) >= 8.0 else "half"


def read_pixel_budget(model_dir: Path) -> tuple[int, int]:
    """(min_pixels, max_pixels) of the model directory's image processor, so serving resizes like training.

    Looks in `preprocessor_config.json`, then in `processor_config.json`'s `image_processor`; takes
    `min_pixels`/`max_pixels` or `size.shortest_edge`/`size.longest_edge` (transformers 5 names).
    """
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = model_dir / name
        if not path.is_file():
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        processor = config.get("image_processor", config)
        size = processor.get("size") or {}
        low = processor.get("min_pixels") or size.get("shortest_edge") or size.get("min_pixels")
        high = processor.get("max_pixels") or size.get("longest_edge") or size.get("max_pixels")
        if low and high:
            return int(low), int(high)
    raise ServeError(f"no image pixel budget in {model_dir} (looked for min/max pixels in preprocessor_config.json "
                     "and processor_config.json): pass --min-pixels and --max-pixels")


def model_max_positions(model_dir: Path) -> int | None:
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    text = config.get("text_config") or config
    return text.get("max_position_embeddings") or config.get("max_position_embeddings")


def lora_rank(adapter_dir: Path) -> int:
    """The smallest rank vLLM allows that holds the adapter's `r` (vLLM sizes its LoRA buffers by it)."""
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise ServeError(f"{adapter_dir} is not a PEFT adapter: adapter_config.json is missing")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    ranks = [int(config.get("r") or 0), *map(int, (config.get("rank_pattern") or {}).values())]
    saved = config.get("modules_to_save") or []
    if len(saved) > 1:
        raise ServeError(f"{config_path}: modules_to_save {saved} — vLLM serves at most one fully trained module "
                         "next to a LoRA adapter; merge the adapter (llamafactory-cli export) and serve the merged model")
    for allowed in ALLOWED_LORA_RANKS:
        if allowed >= max(ranks):
            return allowed
    raise ServeError(f"{config_path}: LoRA rank {max(ranks)} is above vLLM's largest ({ALLOWED_LORA_RANKS[-1]})")


def parse_lora_spec(spec: str, default_name: str) -> tuple[str, Path]:
    """`NAME=DIR` → (NAME, DIR); a bare existing `DIR` (the single-adapter spelling) is named `default_name`."""
    if Path(spec).is_dir() or "=" not in spec:
        return default_name, Path(spec)
    name, path = spec.split("=", 1)
    return name, Path(path)


def check_lora_names(adapters: list[tuple[str, Path]], served_name: str) -> None:
    """Every adapter needs its own name, distinct from the base's: clients pick one by it (`--model NAME`)."""
    seen: set[str] = set()
    for name, path in adapters:
        if not LORA_NAME.fullmatch(name):
            raise ServeError(f"--lora {name}={path}: the name must be letters, digits, '.', '_' or '-' "
                             "(it is what clients send as the model)")
        if name == served_name:
            raise ServeError(f"--lora {name}={path}: the name is the base model's --served-name; "
                             "choose another, or serve the base as --served-name base")
        if name in seen:
            raise ServeError(f"--lora {name}={path}: two adapters named {name!r}")
        seen.add(name)


@dataclass(frozen=True)
class ServeOptions:
    """Everything that decides the vLLM command line; `None` fields are filled from the model and the machine."""
    model_dir: Path
    port: int = 8000
    host: str = "127.0.0.1"
    served_name: str = "fiche"
    dtype: str | None = None
    max_model_len: int | None = None
    images_per_prompt: int = 3
    min_pixels: int | None = None
    max_pixels: int | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    structured_backend: str = "xgrammar"
    lora_adapter: Path | None = None  # the single-adapter spelling, served as `lora_name`
    lora_name: str = "fiche-lora"
    loras: tuple[tuple[str, Path], ...] = ()  # (name, adapter dir): several adapters on one base
    max_lora_rank: int | None = None
    max_loras: int | None = None  # adapters in one batch; default: all of them
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    enforce_eager: bool = False
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def adapters(self) -> list[tuple[str, Path]]:
        single = [(self.lora_name, Path(self.lora_adapter))] if self.lora_adapter is not None else []
        return single + [(name, Path(path)) for name, path in self.loras]


def vllm_args(options: ServeOptions, device: Device) -> list[str]:
    """The api_server arguments (after `python -m vllm.entrypoints.openai.api_server`)."""
    model_dir = Path(options.model_dir).resolve()
    if not (model_dir / "config.json").is_file():
        raise ServeError(f"{model_dir} is not a model directory (no config.json); serve the merged export")
    if options.min_pixels is not None and options.max_pixels is not None:
        min_pixels, max_pixels = options.min_pixels, options.max_pixels
    else:
        found_min, found_max = read_pixel_budget(model_dir)
        min_pixels = options.min_pixels if options.min_pixels is not None else found_min
        max_pixels = options.max_pixels if options.max_pixels is not None else found_max
    max_len = options.max_model_len or min(DEFAULT_MAX_MODEL_LEN, model_max_positions(model_dir) or DEFAULT_MAX_MODEL_LEN)
    args = [
        "--model", str(model_dir),
        "--host", options.host,
        "--port", str(options.port),
        "--served-model-name", options.served_name,
        "--dtype", options.dtype or default_dtype(device),
        # Prompt (views × max_pixels/784 tokens + text) plus the answer must fit; it also sizes the KV cache.
        "--max-model-len", str(max_len),
        # Fiches carry 2–3 views and never video; the limit sizes the encoder cache and the startup profile.
        "--limit-mm-per-prompt", json.dumps({"image": options.images_per_prompt, "video": 0}),
        # The processor's resize band, as in training, so the server never re-rounds a fitted view.
        "--mm-processor-kwargs", json.dumps({"min_pixels": min_pixels, "max_pixels": max_pixels}),
        # Sampling defaults come from the request, not from a generation_config.json shipped with the weights.
        "--generation-config", "vllm",
        # Without disable_any_whitespace a weak model pads JSON with whitespace until max_tokens.
        "--structured-outputs-config",
        json.dumps({"backend": options.structured_backend, "disable_any_whitespace": True}),
    ]
    if options.tensor_parallel_size > 1:
        args += ["--tensor-parallel-size", str(options.tensor_parallel_size)]
    if options.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", str(options.gpu_memory_utilization)]
    if options.enforce_eager:
        args += ["--enforce-eager"]  # no torch.compile (and no CUDA graphs): starts minutes sooner on CPU
    adapters = options.adapters()
    if adapters:
        args += lora_args(adapters, options, device)
    return args + list(options.extra_args)


def default_max_loras(adapter_count: int, device: Device) -> int:
    """Every adapter gets a batch slot. On CPU one more slot stays empty: vllm-cpu 0.32's torch LoRA ops index the
    stacked adapter weights with a base request's -1, i.e. the last slot, so a base request that shares a batch
    with adapter requests would get that slot's adapter (tests/test_multilora.py); an empty last slot adds zero."""
    return adapter_count + 1 if device.kind == "cpu" else adapter_count


def lora_args(adapters: list[tuple[str, Path]], options: ServeOptions, device: Device) -> list[str]:
    """`--enable-lora --lora-modules …` for every adapter, with the rank buffers sized by the largest one."""
    check_lora_names(adapters, options.served_name)
    resolved = [(name, Path(path).resolve()) for name, path in adapters]
    rank = options.max_lora_rank or max(lora_rank(path) for _, path in resolved)
    if rank not in ALLOWED_LORA_RANKS:
        raise ServeError(f"--max-lora-rank {rank} is not one of vLLM's {ALLOWED_LORA_RANKS}")
    max_loras = options.max_loras or default_max_loras(len(resolved), device)
    # JSON entries: vLLM reads `name=path` only when the path has no comma.
    modules = [json.dumps({"name": name, "path": str(path)}) for name, path in resolved]
    return ["--enable-lora", "--lora-modules", *modules, "--max-lora-rank", str(rank),
            # vLLM's default is 1: requests for different adapters would never share a batch.
            "--max-loras", str(max_loras)]


def serve_python() -> Path:
    """The python of the serve environment: $FICHE_SERVE_PYTHON, else the project's .venv-serve."""
    python = Path(os.environ.get("FICHE_SERVE_PYTHON") or PROJECT_ROOT / ".venv-serve" / "bin" / "python")
    if not python.exists():
        raise ServeError(f"no serve python at {python}: run `make setup` or set FICHE_SERVE_PYTHON")
    return python


def server_env(options: ServeOptions, device: Device) -> dict[str, str]:
    env = dict(os.environ)
    if device.kind == "cpu":
        env["VLLM_TARGET_DEVICE"] = "cpu"
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the default (4) is a lot on a shared small machine
    else:
        env.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")  # the staged GPU wheels leave flashinfer out
    key = os.environ.get(options.api_key_env)
    if key:
        env["VLLM_API_KEY"] = key  # vLLM's own equivalent of --api-key, kept off the process list
    else:
        env.pop("VLLM_API_KEY", None)
    return env


def server_command(options: ServeOptions, device: Device | None = None) -> list[str]:
    device = device or detect_device()
    return [str(serve_python()), "-m", "vllm.entrypoints.openai.api_server", *vllm_args(options, device)]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does: a port held only by TIME_WAIT connections of a stopped server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


class VLLMServer:
    """A vLLM server for the lifetime of a `with` block.

    with VLLMServer(model_dir, port=8320) as server:
        predict_file(..., base_url=server.base_url, model=server.served_name)
    """

    def __init__(self, model_dir: str | Path, port: int = 8000, served_name: str = "fiche", *,
                 log_path: str | Path | None = None, startup_timeout: float = 900.0, **options: object) -> None:
        known = {item.name for item in fields(ServeOptions)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown server options: {', '.join(unknown)}")
        self.options = ServeOptions(model_dir=Path(model_dir), port=port, served_name=served_name, **options)  # type: ignore[arg-type]
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"fiche-vllm-{port}.log"
        self.process: subprocess.Popen | None = None
        self.device = detect_device()

    @property
    def served_name(self) -> str:
        return self.options.served_name

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}/v1"

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.options.api_key_env) or None

    def start(self) -> Self:
        if self.process is not None and self.process.poll() is None:
            raise ServeError(f"server on port {self.options.port} is already running")
        command = server_command(self.options, self.device)
        if not port_is_free(self.options.host, self.options.port):
            raise ServeError(f"port {self.options.port} on {self.options.host} is already in use")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w", encoding="utf-8") as log:
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=server_env(self.options, self.device),
                                            start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def answers(self) -> bool:
        """True once /v1/models answers with our served name (with the API key when one is set)."""
        request = urllib.request.Request(self.base_url + "/models")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                listing = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return any(item.get("id") == self.served_name for item in listing.get("data", []))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServeError(f"vLLM exited with code {code} before answering; log {self.log_path}:\n"
                                 f"{log_tail(self.log_path)}")
            if self.answers():
                return
            time.sleep(1.0)
        raise ServeError(f"vLLM did not answer on {self.base_url}/models within {self.startup_timeout:.0f} s; "
                         f"log {self.log_path}:\n{log_tail(self.log_path)}")

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        signal_group(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would (used to test the client's recovery)."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self.process.wait()

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds; idempotent."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # Workers can outlive the leader: the group is gone only when killpg finds no one.
        self._signal_group(signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
