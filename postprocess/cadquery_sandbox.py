"""Run generated CadQuery code in a sandboxed subprocess and report: syntax valid, runs, produces a solid.

Convention (CAD-Recode / CAD-Coder): the code imports cadquery itself and leaves its shape in a variable named
`result` (a Workplane, Shape or Assembly). The child is `sys.executable` running `cadquery_runner.py` with:
an empty environment; a fresh temporary working directory; RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_FSIZE and
RLIMIT_CORE=0; a wall-clock timeout after which its whole process group is killed; its own network namespace
(`unshare(CLONE_NEWNET)`, which leaves only a loopback that is down) where the kernel allows it, else a recorded
reason; and socket creation disabled inside the child in every case. RLIMIT_NPROC is not set: root ignores it,
and for other users it counts every process and thread they own, so no fixed value is safe; killing the
process group ends anything the code started. A `solid` is believed only if the parent can load the exported
STL with trimesh and it encloses a positive volume.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fiche_io.files import copy_atomic, safe_file_stem

RUNNER = Path(__file__).with_name("cadquery_runner.py")
CLONE_NEWNET = 0x40000000
LOG_LIMIT = 4000


@dataclass(frozen=True)
class Result:
    syntax_ok: bool
    ran: bool
    solid: bool
    path: Path | None  # the STL, when solid
    error: str | None
    step_path: Path | None = None
    volume: float | None = None
    seconds: float = 0.0
    network: str = ""  # how the network was cut off for this run


# Looked up in the parent: between fork and exec the child should only make system calls, not load libraries.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _unshare_network() -> None:
    if _LIBC.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


@cache
def network_isolation() -> tuple[bool, str]:
    """Whether a child can get its own network namespace here, and a sentence saying how the network is cut."""
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_unshare_network, check=True, env={},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    except (subprocess.SubprocessError, OSError) as error:
        return False, f"sockets disabled in the child only (no network namespace: {error})"
    return True, "own network namespace (no interface up) and sockets disabled in the child"


def _limits(memory_mb: int, cpu_s: int, file_mb: int, isolate: bool) -> Callable[[], None]:
    def apply() -> None:
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 1024 * 1024, file_mb * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if isolate:
            _unshare_network()

    return apply


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _mesh_volume(stl_path: Path) -> float | None:
    """Volume of the STL if it is a closed mesh, else None."""
    import trimesh

    mesh = trimesh.load(stl_path, file_type="stl", force="mesh")
    if mesh.is_empty or not mesh.is_watertight:
        return None
    return float(abs(mesh.volume))


def run_cadquery(code: str, out_dir: Path, timeout_s: float = 120, memory_mb: int = 2048, name: str = "result",
                 file_mb: int = 64) -> Result:
    """Run `code` sandboxed; on success write `out_dir/<name>.stl` and `<name>.step` (name made file-safe).

    `memory_mb` bounds the address space: importing cadquery alone maps about 1.2 GB.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    isolate, network = network_isolation()
    with tempfile.TemporaryDirectory(prefix="cadquery-sandbox-") as work:
        work_dir = Path(work)
        (work_dir / "generated.py").write_text(code, encoding="utf-8")
        log_path = work_dir / "child.log"
        with open(log_path, "wb") as log:
            # preexec_fn only makes system calls (setrlimit, unshare), which is safe even with threads around.
            # The CPU limit is a backstop should this process die: set at the wall-clock limit, it would race the
            # timeout below for any busy loop and turn a clear "timed out" into a bare SIGXCPU.
            limits = _limits(memory_mb, 2 * max(1, int(timeout_s)) + 5, file_mb, isolate)
            process = subprocess.Popen(
                [sys.executable, "-I", str(RUNNER), "generated.py"], cwd=work_dir, env={},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=limits)  # noqa: PLW1509
            try:
                process.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(process.pid)
            process.wait()
        status = _read_status(work_dir / "status.json")
        seconds = time.perf_counter() - started
        if status is None:
            tail = log_path.read_bytes()[-LOG_LIMIT:].decode("utf-8", "replace").strip().splitlines()[-1:]
            why = f"timed out after {timeout_s:g} s" if timed_out else f"exited {process.returncode}"
            return Result(False, False, False, None, f"sandbox {why} before checking the syntax {tail}",
                          seconds=seconds, network=network)
        error = status.get("error")
        if timed_out:
            error = f"timed out after {timeout_s:g} s ({error})"
        elif process.returncode != 0 and not status.get("solid"):
            error = f"{error} (exit status {process.returncode})"
        if not status.get("solid"):
            return Result(bool(status.get("syntax_ok")), bool(status.get("ran")), False, None, error,
                          volume=status.get("volume"), seconds=seconds, network=network)
        return _collect(work_dir, out_dir, name, status, seconds, network)


def _read_status(path: Path) -> dict | None:
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def _collect(work_dir: Path, out_dir: Path, name: str, status: dict, seconds: float, network: str) -> Result:
    """Check the child's exported STL ourselves, then move the files out of the sandbox directory."""
    stl, step = work_dir / "result.stl", work_dir / "result.step"
    if not stl.is_file():
        return Result(True, True, False, None, "the child reported a solid but wrote no STL",
                      seconds=seconds, network=network)
    try:
        volume = _mesh_volume(stl)
    except Exception as error:  # noqa: BLE001 (trimesh raises many kinds on a malformed file)
        return Result(True, True, False, None, f"the exported STL does not load: {error}", seconds=seconds,
                      network=network)
    if volume is None or volume <= 0:
        return Result(True, True, False, None, "the exported STL is not a closed mesh with volume",
                      seconds=seconds, network=network)
    stem = safe_file_stem(name)
    stl_out, step_out = out_dir / f"{stem}.stl", out_dir / f"{stem}.step"
    copy_atomic(stl, stl_out)
    step_path = None
    if step.is_file():
        copy_atomic(step, step_out)
        step_path = step_out
    return Result(True, True, True, stl_out, None, step_path=step_path, volume=volume, seconds=seconds,
                  network=network)
