"""Run generated CadQuery code confined by bubblewrap and report: syntax valid, runs, produces a solid.

The shape is looked up as the image → CadQuery datasets write it (see `cadquery_runner.find_shape`): an explicit
`result_var`, else the top-level `result`, `solid` (GenCAD-Code), `r` (CAD-Recode), else show_object() (CQ-editor).

Why bubblewrap: it is the maintained, packaged (Debian `bubblewrap`) setuid-free tool that gives, in one exec,
every namespace the code must not share (user, PID, network, IPC, UTS, mount, cgroup) and a filesystem built
from explicit read-only binds. A PID namespace ends every descendant with the run (its init dies, the kernel kills
the rest), which a process group cannot promise (setsid escapes it). cgroups would add a memory total but need a
delegated hierarchy that containers rarely give; rlimits stay per process. The sandbox is probed once; where it
cannot be had, `SandboxUnavailable` is raised and nothing runs.

Two sandboxes per program. The first runs the generated code (with the trusted runner in the same process, so all
it writes is untrusted) and may leave `shape.brep`. The parent copies that file (regular file only, never through
a link) into a second sandbox that runs no generated code: it loads the BREP with OpenCASCADE, counts solids,
checks validity, measures volume, exports STL/STEP and answers on its stdout, a pipe only the parent holds. The
parent then loads that STL with trimesh and requires a closed mesh. status.json from the first sandbox only
explains failures; its text is cut and stripped of control characters before it is shown.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fiche_io.files import copy_atomic, safe_file_stem
from fiche_schema.cadquery_code import syntax_error

RUNNER = Path(__file__).with_name("cadquery_runner.py")
LOG_LIMIT = 4000  # bytes of the child's stdout/stderr kept, from the end
MESSAGE_LIMIT = 300  # characters of any child-given text shown
SANDBOX_UID = 65534  # "nobody" inside the user namespace
INSIDE = Path("/sandbox")  # the scratch folder, the one writable path
CONFINEMENT = ("bubblewrap: own user (uid 65534, no capabilities), PID, network, IPC, UTS and mount namespaces; "
               "read-only system libraries and Python only; one writable scratch folder")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here: generated code is never run unconfined."""


@dataclass(frozen=True)
class Result:
    syntax_ok: bool
    ran: bool
    solid: bool
    path: Path | None  # the STL, when solid
    error: str | None
    step_path: Path | None = None
    volume: float | None = None  # of the BREP solids, measured by the checking sandbox
    seconds: float = 0.0
    confinement: str = CONFINEMENT
    convention: str | None = None  # which lookup named the shape: result, solid, r, show_object, …


SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/usr/lib32")


def _python_binds() -> list[str]:
    """Read-only binds for this interpreter, its standard library and its virtual environment, at their paths.
    A system Python (prefix /usr) has its library under /usr/lib, already bound: only its executable is added."""
    binds: list[str] = []
    bound = [path for path in SYSTEM_LIBRARIES if os.path.isdir(path)]
    for prefix in dict.fromkeys([sys.base_prefix, sys.prefix]):
        real = os.path.realpath(prefix)
        if real != "/usr":
            binds += ["--ro-bind", real, prefix]
            bound.append(prefix)
    if not any(sys.executable.startswith(folder + "/") for folder in bound):
        binds += ["--ro-bind", os.path.realpath(sys.executable), sys.executable]
    return binds


def _system_binds() -> list[str]:
    """Shared libraries only: no /usr/bin (so no shell for os.system), no /etc, /home, /root, /proc or /tmp."""
    binds: list[str] = []
    for path in SYSTEM_LIBRARIES:
        if os.path.isdir(path):
            binds += ["--ro-bind", path, path]
    for top in ("/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            binds += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            binds += ["--ro-bind", top, top]
    return binds


def _bwrap(scratch: Path, extra_binds: list[str], argv: list[str], info_fd: int) -> list[str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap is not installed (Debian package `bubblewrap`; `make system`): "
                                 "generated CadQuery code is not run unconfined")
    return [bwrap, "--info-fd", str(info_fd), "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID), "--disable-userns", "--die-with-parent", "--new-session",
            "--hostname", "sandbox",
            *_system_binds(), *_python_binds(), "--ro-bind", str(RUNNER), "/runner/cadquery_runner.py",
            *extra_binds, "--dev", "/dev", "--bind", str(scratch), str(INSIDE), "--remount-ro", "/dev",
            "--remount-ro", "/", "--chdir", str(INSIDE),
            "--setenv", "TMPDIR", str(INSIDE), "--setenv", "HOME", str(INSIDE), "--", sys.executable, "-I", *argv]


def _limits(memory_mb: int, cpu_s: int, file_mb: int) -> Callable[[], None]:
    def apply() -> None:  # only system calls: safe between fork and exec
        memory, size = memory_mb * 1024 * 1024, file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


@dataclass(frozen=True)
class _Exit:
    returncode: int
    timed_out: bool
    stdout: bytes


def _sandboxed(argv: list[str], scratch: Path, log: Path, timeout_s: float, memory_mb: int, file_mb: int,
               extra_binds: list[str] | None = None, answer_on_stdout: bool = False) -> _Exit:
    """Run `python -I argv` in bubblewrap; on timeout kill the sandbox's init, which ends every process in it.

    Output goes to `log` (bounded by the file-size limit, only its end is read); with `answer_on_stdout` (trusted
    code only) stdout is a pipe returned in `_Exit.stdout`."""
    info_read, info_write = os.pipe()
    # The CPU limit is a backstop should this process die; at the wall-clock limit it would race the timeout.
    limits = _limits(memory_mb, 2 * max(1, int(timeout_s)) + 5, file_mb)
    try:
        with open(log, "ab") as log_stream:
            process = subprocess.Popen(  # noqa: S603
                _bwrap(scratch, extra_binds or [], argv, info_write), env={}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if answer_on_stdout else log_stream, stderr=log_stream,
                pass_fds=(info_write,), start_new_session=True, preexec_fn=limits)  # noqa: PLW1509
            os.close(info_write)
            info_write = -1
            try:
                stdout, _ = process.communicate(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out, stdout = True, b""
                _kill_sandbox(process, info_read)
    finally:
        os.close(info_read)
        if info_write >= 0:
            os.close(info_write)
    return _Exit(process.returncode, timed_out, (stdout or b"")[:LOG_LIMIT])


def _kill_sandbox(process: subprocess.Popen, info_read: int) -> None:
    """SIGKILL the sandbox's init (its pid from bubblewrap's --info-fd): the kernel kills the whole PID namespace
    and bubblewrap exits once it is empty. Should that not happen in 10 s, or the pid be unknown (still setting
    up), kill bubblewrap, whose --die-with-parent takes the sandbox down with it."""
    os.set_blocking(info_read, False)
    try:
        child = json.loads(os.read(info_read, 4096) or b"{}").get("child-pid")
    except (OSError, ValueError, AttributeError):
        child = None
    if isinstance(child, int) and child > 1:
        try:
            os.kill(child, signal.SIGKILL)
            process.communicate(timeout=10)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


@cache
def confinement() -> str:
    """What confines generated code here; raises SandboxUnavailable where bubblewrap cannot set it up."""
    with tempfile.TemporaryDirectory(prefix="cadquery-probe-") as folder:
        scratch, log = Path(folder) / "scratch", Path(folder) / "log"
        scratch.mkdir()
        probe = _sandboxed(["-c", "import os, sys; sys.stdout.write(str(os.getuid()))"], scratch, log, 60, 1024, 1,
                           answer_on_stdout=True)
        if probe.returncode != 0 or probe.stdout != str(SANDBOX_UID).encode():
            why = log.read_text(encoding="utf-8", errors="replace").strip()[-MESSAGE_LIMIT:]
            raise SandboxUnavailable(f"bubblewrap cannot confine generated code here (exit {probe.returncode}: "
                                     f"{why or 'no message'}); in a container, bubblewrap needs user namespaces "
                                     "(a seccomp profile that allows unshare(CLONE_NEWUSER))")
    return CONFINEMENT


def _clean(text: object) -> str:
    """Child-given text, safe to show: printable characters only, cut to MESSAGE_LIMIT."""
    printable = "".join(char if char.isprintable() else " " for char in str(text))
    return printable[:MESSAGE_LIMIT]


def _read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of `path` if it is a regular file (never through a symlink), at most `limit`; else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        return stream.read(limit)


def _status(scratch: Path) -> dict:
    data = _read_regular(scratch / "status.json", 64 * 1024)
    try:
        status = json.loads(data) if data else {}
    except ValueError:
        status = {}
    return status if isinstance(status, dict) else {}


def _why_stopped(run: _Exit, timeout_s: float, stage: object) -> str:
    if run.timed_out:
        return f"timed out after {timeout_s:g} s"
    code = run.returncode
    if code > 128 or code < 0:  # bubblewrap reports a signal as 128 + its number
        number = code - 128 if code > 128 else -code
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        return f"killed by {name} while {_clean(stage)} (memory limit, CPU limit or a crash)"
    return f"the process ended with exit status {code} while {_clean(stage)}, before the shape was exported"


def run_cadquery(code: str, out_dir: Path, timeout_s: float = 120, memory_mb: int = 2048, name: str = "result",
                 file_mb: int = 64, result_var: str | None = None) -> Result:
    """Run `code` confined; on success write `out_dir/<name>.stl` and `<name>.step` (name made file-safe).

    `memory_mb` bounds each process's address space: importing cadquery alone maps about 1.2 GB.
    Raises SandboxUnavailable when the sandbox cannot be set up here.
    """
    started = time.perf_counter()
    code = code.removeprefix("\ufeff")
    problem = syntax_error(code)
    if problem:
        return Result(False, False, False, None, problem, seconds=time.perf_counter() - started)
    confinement()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="cadquery-sandbox-"))
    try:
        scratch = folder / "run"
        scratch.mkdir()
        (scratch / "generated.py").write_text(code, encoding="utf-8")
        argv = ["/runner/cadquery_runner.py", "run", "generated.py", *([result_var] if result_var else [])]
        run = _sandboxed(argv, scratch, folder / "run.log", timeout_s, memory_mb, file_mb)
        status = _status(scratch)
        convention = _clean(status["convention"]) if isinstance(status.get("convention"), str) else None

        def failed(ran: bool, error: str) -> Result:
            return Result(True, ran, False, None, error, seconds=time.perf_counter() - started,
                          convention=convention)

        stage = status.get("stage")
        brep = _read_regular(scratch / "shape.brep", file_mb * 1024 * 1024)
        if run.timed_out or run.returncode != 0 or stage != "done" or brep is None:
            if not run.timed_out and run.returncode == 0 and stage in ("raised", "no shape", "export failed"):
                return failed(stage != "raised", _clean(status.get("error")))
            if not run.timed_out and run.returncode == 0 and stage == "done":
                return failed(True, "the shape file is missing")
            return failed(stage in ("finding the shape", "exporting"),
                          _why_stopped(run, timeout_s, stage or "starting"))
        return _check(brep, folder, out_dir, name, timeout_s, memory_mb, file_mb, started, convention)
    finally:
        shutil.rmtree(folder, onerror=_force_remove)


def _force_remove(function: Callable, path: str, _: object) -> None:
    """The code may leave folders without permissions; give them back and retry."""
    os.chmod(os.path.dirname(path), 0o700)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)
    function(path)


def _check(brep: bytes, folder: Path, out_dir: Path, name: str, timeout_s: float, memory_mb: int, file_mb: int,
           started: float, convention: str | None) -> Result:
    """The shape is checked by a second sandbox that runs no generated code, then its STL by trimesh here."""
    inbox, scratch = folder / "inbox", folder / "check"
    inbox.mkdir()
    scratch.mkdir()
    (inbox / "shape.brep").write_bytes(brep)
    run = _sandboxed(["/runner/cadquery_runner.py", "check", "/inbox/shape.brep"], scratch, folder / "check.log",
                     timeout_s, memory_mb, file_mb, ["--ro-bind", str(inbox), "/inbox"], answer_on_stdout=True)

    def failed(error: str, volume: float | None = None) -> Result:
        return Result(True, True, False, None, error, volume=volume, seconds=time.perf_counter() - started,
                      convention=convention)

    if run.timed_out or run.returncode != 0:
        return failed(f"checking the shape: {_why_stopped(run, timeout_s, 'checking')}")
    try:
        verdict = json.loads(run.stdout)
    except ValueError:
        return failed("checking the shape gave no verdict")
    if "error" in verdict:
        return failed(f"the shape does not load: {_clean(verdict['error'])}")
    solids, volume, valid = verdict["solids"], float(verdict["volume"]), verdict["valid"]
    if not solids or volume <= 0 or not valid:
        return failed(f"no valid solid: {solids} solid(s), volume {volume:g}, valid {valid}", volume)
    stl, step = scratch / "shape.stl", scratch / "shape.step"
    try:
        closed = _mesh_is_closed(stl)
    except Exception as error:  # noqa: BLE001 (trimesh raises many kinds on a malformed file)
        return failed(f"the exported STL does not load: {_clean(error)}", volume)
    if not closed:
        return failed("the exported STL is not a closed mesh with volume", volume)
    stem = safe_file_stem(name)
    stl_out, step_out = out_dir / f"{stem}.stl", out_dir / f"{stem}.step"
    copy_atomic(stl, stl_out)
    copy_atomic(step, step_out)
    return Result(True, True, True, stl_out, None, step_path=step_out, volume=volume,
                  seconds=time.perf_counter() - started, convention=convention)


def _mesh_is_closed(stl_path: Path) -> bool:
    import trimesh

    mesh = trimesh.load(stl_path, file_type="stl", force="mesh")
    return not mesh.is_empty and mesh.is_watertight and abs(mesh.volume) > 0
