"""A port for a test's own server: chosen by the OS, so parallel runs and other agents never collide."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (closed again before returning: the caller's server binds it next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
