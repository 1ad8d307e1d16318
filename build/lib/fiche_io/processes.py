"""Child processes in their own process group, so that a timeout or a stop ends the children they started."""
from __future__ import annotations

import os
import signal
import subprocess


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to every process of group `pgid` (a session leader's pid is its group id); gone is fine."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_group(command: list[str], timeout_s: float) -> tuple[int | None, str]:
    """(exit code, stdout+stderr) of `command`; (None, "") when it ran past `timeout_s` and its group was killed."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.communicate()
        return None, ""
