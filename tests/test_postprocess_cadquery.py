"""CadQuery sandbox: syntax valid / runs / solid, exports, and the limits (time, memory, network, environment)."""
from __future__ import annotations

import socket

import pytest

from postprocess.cadquery_sandbox import network_isolation, run_cadquery

BOX_WITH_HOLE = """
import cadquery as cq
result = cq.Workplane("XY").box(10, 20, 5).faces(">Z").workplane().hole(4)
"""


@pytest.mark.timeout(300)
def test_a_solid_is_exported_as_stl_and_step(tmp_path):
    import math

    import trimesh

    result = run_cadquery(BOX_WITH_HOLE, tmp_path, name="box")
    assert (result.syntax_ok, result.ran, result.solid, result.error) == (True, True, True, None)
    assert result.path == tmp_path / "box.stl" and result.step_path == tmp_path / "box.step"
    assert result.step_path.read_text(encoding="utf-8", errors="replace").startswith("ISO-10303-21")
    mesh = trimesh.load(result.path, force="mesh")
    assert mesh.is_watertight
    assert mesh.extents.tolist() == pytest.approx([10, 20, 5], abs=1e-6)
    assert result.volume == pytest.approx(10 * 20 * 5 - math.pi * 2 ** 2 * 5, rel=2e-2)  # STL facets the hole


@pytest.mark.timeout(300)
@pytest.mark.parametrize("code, ran, error", [
    ("import cadquery as cq\nresult = cq.Workplane('XY').rect(10, 20)\n", True, "no valid solid: 0 solid(s)"),
    ("import cadquery as cq\nshape = cq.Workplane('XY').box(1, 1, 1)\n", True, "defines no variable `result`"),
    ("import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5).edges('|Z').fillet(50)\n", False,
     "BRep_API: command not done"),
])
def test_code_that_runs_but_gives_no_solid(tmp_path, code, ran, error):
    result = run_cadquery(code, tmp_path, timeout_s=120)
    assert (result.syntax_ok, result.ran, result.solid, result.path) == (True, ran, False, None)
    assert error in result.error
    assert list(tmp_path.iterdir()) == []


def test_syntax_errors_are_reported_without_running(tmp_path):
    result = run_cadquery("import cadquery as cq\nresult = cq.Workplane('XY').box(1, 2\n", tmp_path)
    assert (result.syntax_ok, result.ran, result.solid) == (False, False, False)
    assert "SyntaxError" in result.error and "line 2" in result.error


def test_wall_clock_timeout_kills_the_code(tmp_path):
    result = run_cadquery("while True:\n    pass\n", tmp_path, timeout_s=3)
    assert (result.syntax_ok, result.ran, result.solid) == (True, False, False)
    assert "timed out after 3 s" in result.error and result.seconds < 30


def test_memory_limit_stops_a_memory_bomb(tmp_path):
    result = run_cadquery("blob = bytearray(16 * 1024 ** 3)\n", tmp_path, memory_mb=512)
    assert (result.ran, result.solid) == (False, False) and "MemoryError" in result.error


def test_file_size_limit_stops_a_disk_filler(tmp_path):
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (8 * 1024 * 1024))\n"
    result = run_cadquery(code, tmp_path, file_mb=1)
    assert (result.ran, result.solid) == (False, False)
    assert "File too large" in (result.error or "") or "exit status" in (result.error or "")


def test_environment_is_empty_and_cwd_is_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FICHE_SECRET_TOKEN", "do-not-leak")
    code = "import os\nraise SystemExit(f'env={sorted(os.environ)} cwd={sorted(os.listdir())}')\n"
    result = run_cadquery(code, tmp_path)
    assert "FICHE_SECRET_TOKEN" not in result.error
    assert "env=[]" in result.error or "env=['LC_CTYPE']" in result.error
    assert "cwd=['child.log', 'generated.py', 'status.json']" in result.error  # LC_CTYPE: PEP 538 coercion


@pytest.fixture()
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    yield server
    server.close()


def assert_no_connection(server: socket.socket) -> None:
    with pytest.raises(socket.timeout):
        server.accept()


def test_python_sockets_are_disabled(tmp_path, listener):
    port = listener.getsockname()[1]
    result = run_cadquery(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n", tmp_path)
    assert not result.ran and "network access is disabled" in result.error
    assert_no_connection(listener)


@pytest.mark.skipif(not network_isolation()[0], reason=network_isolation()[1])
def test_network_namespace_blocks_even_raw_libc_sockets(tmp_path, listener):
    """Bypass the Python-level block with libc calls: the empty network namespace still refuses."""
    port = listener.getsockname()[1]
    code = f"""
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)
address = struct.pack("!HH4s8x", 2, {port}, bytes([127, 0, 0, 1]))
address = address[:2][::-1] + address[2:] if struct.pack("=H", 1) == b"\\x01\\x00" else address
rc = libc.connect(fd, ctypes.c_char_p(address), 16)
raise SystemExit(f"fd={{fd}} rc={{rc}} errno={{os.strerror(ctypes.get_errno())}}")
"""
    result = run_cadquery(code, tmp_path)
    assert "rc=-1" in result.error and "unreachable" in result.error.lower()
    assert_no_connection(listener)
    assert result.network.startswith("own network namespace")
