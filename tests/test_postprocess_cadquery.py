"""CadQuery sandbox: syntax valid / runs / solid, exports, the shape lookup, and what confines generated code
(bubblewrap: descendants, user, filesystem, network, limits, a verdict the code cannot forge).

These tests need bubblewrap with user namespaces; where it is missing they fail, they never skip."""
from __future__ import annotations

import json
import math
import os
import secrets
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fiche_schema.cadquery_code import code_of, syntax_error
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli import main
from postprocess import cadquery_sandbox
from postprocess.cadquery_sandbox import SandboxUnavailable, confinement, run_cadquery

BOX_WITH_HOLE = """
import cadquery as cq
result = cq.Workplane("XY").box(10, 20, 5).faces(">Z").workplane().hole(4)
"""


def test_the_sandbox_can_be_set_up_here():
    assert confinement().startswith("bubblewrap: own user (uid 65534, no capabilities), PID, network")


@pytest.fixture()
def no_bubblewrap(monkeypatch):
    monkeypatch.setattr(cadquery_sandbox.shutil, "which", lambda name: None)
    confinement.cache_clear()
    yield
    confinement.cache_clear()


def test_without_bubblewrap_nothing_runs(tmp_path, no_bubblewrap):
    with pytest.raises(SandboxUnavailable, match="bubblewrap is not installed"):
        run_cadquery("open('ran', 'w').close()\n", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(300)
def test_a_solid_is_exported_as_stl_and_step(tmp_path):
    import trimesh

    result = run_cadquery(BOX_WITH_HOLE, tmp_path, name="box")
    assert (result.syntax_ok, result.ran, result.solid, result.error) == (True, True, True, None)
    assert result.path == tmp_path / "box.stl" and result.step_path == tmp_path / "box.step"
    assert result.step_path.read_text(encoding="utf-8", errors="replace").startswith("ISO-10303-21")
    assert result.convention == "result"
    mesh = trimesh.load(result.path, force="mesh")
    assert mesh.is_watertight
    assert mesh.extents.tolist() == pytest.approx([10, 20, 5], abs=1e-6)
    assert result.volume == pytest.approx(10 * 20 * 5 - math.pi * 2 ** 2 * 5, rel=1e-9)  # the BREP's, exact


@pytest.mark.timeout(300)
@pytest.mark.parametrize("code, ran, error", [
    ("import cadquery as cq\nresult = cq.Workplane('XY').rect(10, 20)\n", True, "no valid solid: 0 solid(s)"),
    ("import cadquery as cq\na = cq.Workplane('XY').box(1, 1, 1)\nb = a.translate((2, 0, 0))\n", True,
     "no shape found: looked for --result-var, variables `result`, `solid`, `r`, then show_object(…); "
     "it builds 2 shapes (a, b) and names none"),
    ("import cadquery as cq\nresult = cq.Workplane('XY').box(10, 20, 5).edges('|Z').fillet(50)\n", False,
     "BRep_API: command not done"),
])
def test_code_that_runs_but_gives_no_solid(tmp_path, code, ran, error):
    result = run_cadquery(code, tmp_path, timeout_s=120)
    assert (result.syntax_ok, result.ran, result.solid, result.path) == (True, ran, False, None)
    assert error in result.error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("code, result_var, volume, convention", [
    # `result` comes before `solid`, which comes before `r`.
    ("import cadquery as cq\nr = cq.Workplane().box(3, 3, 3)\nsolid = cq.Workplane().box(2, 2, 2)\n"
     "result = cq.Workplane().box(1, 1, 1)\n", None, 1.0, "result"),
    # CQ-editor: whatever show_object was given, when no variable names the shape.
    ("import cadquery as cq\npart = cq.Workplane().box(1, 2, 3)\nother = part.translate((9, 0, 0))\n"
     "show_object(part, name='part', options={'color': 'red'})\n", None, 6.0, "show_object"),
    # An explicit name wins over every convention.
    ("import cadquery as cq\nresult = cq.Workplane().box(1, 1, 1)\npart = cq.Workplane().box(2, 3, 4)\n",
     "part", 24.0, "part"),
])
def test_the_shape_is_found_by_each_convention(tmp_path, code, result_var, volume, convention):
    result = run_cadquery(code, tmp_path, result_var=result_var)
    assert (result.solid, result.convention) == (True, convention), result.error
    assert result.volume == pytest.approx(volume, rel=1e-9)


def test_syntax_errors_are_reported_without_running(tmp_path, monkeypatch):
    def no_sandbox(*args, **kwargs):
        raise AssertionError("code that does not compile must not reach the sandbox")

    monkeypatch.setattr(cadquery_sandbox, "_sandboxed", no_sandbox)
    result = run_cadquery("import cadquery as cq\nresult = cq.Workplane('XY').box(1, 2\n", tmp_path)
    assert (result.syntax_ok, result.ran, result.solid) == (False, False, False)
    assert "SyntaxError" in result.error and "line 2" in result.error
    deep = run_cadquery("result = " + "-" * 100_000 + "1\n", tmp_path)
    assert not deep.syntax_ok and "nested too deeply" in deep.error


def test_code_is_taken_from_a_fence_or_the_whole_answer():
    assert code_of("Voici :\n```python\nresult = 1\n```\nfin") == "result = 1\n"
    assert code_of("```\nresult = 2\n```") == "result = 2\n"
    assert code_of("result = 3") == "result = 3"
    assert code_of("```python\nresult = 4") == "result = 4"  # a reply cut inside its fence
    assert code_of("```text\nplan\n```\n~~~py\nresult = 5\n~~~\n") == "result = 5\n"
    assert code_of("\ufeffresult = 6\n") == "result = 6\n"
    assert syntax_error(code_of("```python\nresult = (1,\n```")).startswith("SyntaxError: '(' was never closed")


def test_wall_clock_timeout_kills_the_code(tmp_path):
    result = run_cadquery("while True:\n    pass\n", tmp_path, timeout_s=3)
    assert (result.syntax_ok, result.ran, result.solid) == (True, False, False)
    assert "timed out after 3 s" in result.error and result.seconds < 30


def _processes_named(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def test_every_descendant_dies_with_the_run(tmp_path):
    """A grandchild that left the process group (fork, setsid, fork) is killed with the sandbox at the timeout."""
    marker = "cq" + secrets.token_hex(6)
    code = f"""
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"{marker}", 0, 0, 0)  # PR_SET_NAME, to be found in /proc
        while True:
            time.sleep(0.1)
    os._exit(0)
time.sleep(600)
"""
    result = run_cadquery(code, tmp_path, timeout_s=5)
    survivors = _processes_named(marker)
    for pid in survivors:  # do not leave it running when this test fails
        cadquery_sandbox.os.kill(pid, 9)
    assert "timed out after 5 s" in result.error
    assert survivors == []


def test_code_runs_unprivileged_without_a_shell(tmp_path):
    code = """
import ctypes, os
libc = ctypes.CDLL(None)
raise SystemExit(f"uid={os.getuid()} euid={os.geteuid()} system={os.system('touch pwned')} "
                 f"libc={libc.system(b'touch pwned')} files={sorted(os.listdir())}")
"""
    result = run_cadquery(code, tmp_path)
    assert "uid=65534 euid=65534" in result.error
    assert "system=32512 libc=32512" in result.error  # 127 << 8: no /bin/sh to run
    assert "'pwned'" not in result.error


def test_code_cannot_write_outside_its_folder(tmp_path):
    outside = tmp_path / f"escaped-{secrets.token_hex(4)}"
    targets = [str(outside), f"/tmp/{outside.name}", f"/usr/lib/{outside.name}", f"/{outside.name}",
               str(PROJECT_ROOT / outside.name), f"/root/{outside.name}", f"/dev/{outside.name}"]
    code = f"""
outcomes = []
for target in {targets!r}:
    try:
        with open(target, "w") as stream:
            stream.write("x")
        outcomes.append("WROTE " + target)
    except OSError as error:
        outcomes.append(type(error).__name__)
raise SystemExit(" ".join(outcomes))
"""
    result = run_cadquery(code, tmp_path / "out")
    assert "WROTE" not in result.error, result.error
    for target in targets:
        assert not Path(target).exists()


def test_users_files_are_hidden(tmp_path):
    """/etc (passwd), the user's home, the project checkout and other processes are not in the sandbox: only the
    Python installation and its virtual environment are bound there, read-only, at their own paths."""
    home = Path.home()
    python_dirs = [Path(path) for path in (sys.base_prefix, sys.prefix, os.path.realpath(sys.prefix))]
    allowed = sorted({path.relative_to(home).parts[0] for path in python_dirs if path.is_relative_to(home)})
    code = f"""
import os
raise SystemExit("seen=" + str([os.path.exists(path) for path in ("/etc/passwd", "/home", "/proc/1",
                                {str(PROJECT_ROOT / "README.md")!r}, {str(PROJECT_ROOT / "data")!r})])
                 + " home=" + str(sorted(os.listdir({str(home)!r})) if os.path.isdir({str(home)!r}) else []))
"""
    result = run_cadquery(code, tmp_path)
    assert f"seen=[False, False, False, False, False] home={allowed}" in result.error


def test_a_status_file_linked_to_etc_passwd_is_not_read(tmp_path):
    code = """
import os
os.symlink("/etc/passwd", "status.json.tmp")
os.replace("status.json.tmp", "status.json")
os.symlink("/etc/passwd", "shape.brep")
os._exit(0)
"""
    result = run_cadquery(code, tmp_path)
    assert (result.solid, result.ran) == (False, False)
    assert "root:" not in result.error and "exit status 0" in result.error


def test_the_verdict_cannot_be_forged(tmp_path):
    """The code writes its own status.json, a closed STL and a bogus BREP without calling CadQuery: no solid."""
    code = r"""
import json, os
triangles = [((0, 0, 0), (0, 1, 0), (1, 0, 0)), ((0, 0, 0), (1, 0, 0), (0, 0, 1)),
             ((0, 0, 0), (0, 0, 1), (0, 1, 0)), ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
facets = "".join("facet normal 0 0 0\nouter loop\n" + "".join("vertex %g %g %g\n" % v for v in t)
                 + "endloop\nendfacet\n" for t in triangles)
for name in ("result.stl", "shape.stl"):
    with open(name, "w") as stream:
        stream.write("solid forged\n" + facets + "endsolid forged\n")
with open("shape.brep", "w") as stream:
    stream.write("DBRep_DrawableShape\nCASCADE Topology V1, (c) Matra-Datavision\n")
with open("status.json", "w") as stream:
    json.dump({"stage": "done", "convention": "result", "syntax_ok": True, "ran": True, "solid": True,
               "volume": 1.0, "error": None}, stream)
os._exit(0)
"""
    result = run_cadquery(code, tmp_path)
    assert (result.solid, result.path, result.volume) == (False, None, None)
    assert result.error.startswith("the shape does not load")
    assert list(tmp_path.iterdir()) == []


def test_os_exit_is_reported_as_an_exit_not_a_kill(tmp_path):
    result = run_cadquery("import os\nos._exit(0)\n", tmp_path)
    assert (result.syntax_ok, result.solid) == (True, False)
    assert "exit status 0" in result.error and "killed" not in result.error


def test_memory_limit_stops_a_memory_bomb(tmp_path):
    result = run_cadquery("blob = bytearray(16 * 1024 ** 3)\n", tmp_path, memory_mb=512)
    assert (result.ran, result.solid) == (False, False) and "MemoryError" in result.error


def test_file_size_limit_stops_a_disk_filler(tmp_path):
    code = "with open('big', 'wb') as f:\n    f.write(b'x' * (8 * 1024 * 1024))\n"
    result = run_cadquery(code, tmp_path, file_mb=1)
    assert (result.ran, result.solid) == (False, False)
    assert "File too large" in result.error or "SIGXFSZ" in result.error


def test_output_is_bounded(tmp_path):
    """Printing without end fills only the size-limited log: the run is stopped, the message stays short."""
    result = run_cadquery("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", tmp_path, file_mb=1)
    assert (result.ran, result.solid) == (False, False)
    assert result.error == "OSError: [Errno 27] File too large"  # Python ignores SIGXFSZ, the write fails


def test_environment_is_empty_and_cwd_is_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FICHE_SECRET_TOKEN", "do-not-leak")
    code = "import os\nraise SystemExit(f'env={sorted(os.environ)} cwd={os.getcwd()} {sorted(os.listdir())}')\n"
    result = run_cadquery(code, tmp_path)
    assert "FICHE_SECRET_TOKEN" not in result.error
    # HOME and TMPDIR are the scratch folder, PWD is set by bubblewrap, LC_CTYPE by Python (PEP 538 coercion).
    assert "env=['HOME', 'LC_CTYPE', 'PWD', 'TMPDIR']" in result.error
    assert "cwd=/sandbox ['generated.py', 'status.json']" in result.error


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


def test_network_namespace_blocks_even_raw_libc_sockets(tmp_path, listener):
    """Bypass the Python-level block with libc calls: the sandbox's own network namespace (a loopback, no route
    out) has nothing listening on the port."""
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
    assert "rc=-1" in result.error and "connection refused" in result.error.lower()
    assert_no_connection(listener)


# Volumes of the sample's programs (data/cadquery), worked out by hand from their sketches.
SAMPLE_VOLUMES = {
    "gc-block": 1.5 * 1.0 * 0.25,
    "gc-holed-block": 1.5 * 1.5 * 0.375 - math.pi * 0.25 ** 2 * 0.375,
    "gc-cylinder": math.pi * 0.45 ** 2 * 1.5,
    "gc-tube": math.pi * (0.75 ** 2 - 0.45 ** 2) * 0.5,
    # an L profile extruded 0.75, a hole cut through its foot, a boss added on its upright
    "gc-bracket": (1.5 * 0.1875 + 0.1875 * (1.125 - 0.1875)) * 0.75 - math.pi * 0.125 ** 2 * 0.1875
    + math.pi * 0.1875 ** 2 * 0.125,
    "cr-plate-4-holes": 160 * 100 * 10 - 4 * math.pi * 8 ** 2 * 10,
    "cr-stepped-shaft": math.pi * 40 ** 2 * 104 + math.pi * 20 ** 2 * 30,
    "cr-angle": (120 * 20 + 20 * 100) * 100,
}
SAMPLE = PROJECT_ROOT / "data" / "cadquery" / "cadquery.jsonl"


@pytest.mark.timeout(600)
def test_cadquery_run_gives_each_sample_its_volume(tmp_path):
    """GenCAD-Code programs name their shape `solid`, CAD-Recode programs `r`: both give the right solid."""
    files = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        files.append(tmp_path / f"{record['deepcad_id']}.py")
        files[-1].write_text(record["cadquery"], encoding="utf-8")
    assert sorted(path.stem for path in files) == sorted(SAMPLE_VOLUMES)
    result = CliRunner().invoke(main, ["cadquery-run", *map(str, files), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(row) for row in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    for line in lines:
        name = Path(line["file"]).stem
        assert line["solid"] and line["stl"] == str(tmp_path / "out" / f"{name}.stl"), line
        assert line["volume"] == pytest.approx(SAMPLE_VOLUMES[name], rel=1e-6), name
        assert line["convention"] == ("solid" if name.startswith("gc-") else "r")


@pytest.mark.timeout(300)
def test_cadquery_run_keeps_files_of_the_same_name_and_reads_a_bom(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second, snoop = tmp_path / "a" / "good.py", tmp_path / "b" / "good.py", tmp_path / "snoop.py"
    first.write_bytes(b"\xef\xbb\xbfimport cadquery as cq\nresult = cq.Workplane().box(1, 1, 1)\n")  # Windows BOM
    second.write_text("import cadquery as cq\nresult = cq.Workplane().box(2, 2, 2)\n", encoding="utf-8")
    snoop.write_text("text = open('/etc/passwd').read()\nprint(text)\nraise SystemExit(text)\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["cadquery-run", str(first), str(second), str(snoop), "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = {row["file"]: row for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert lines[str(first)]["stl"] == str(out / "good.stl") and lines[str(first)]["volume"] == pytest.approx(1)
    assert lines[str(second)]["stl"] == str(out / "good-2.stl") and lines[str(second)]["volume"] == pytest.approx(8)
    assert "FileNotFoundError" in lines[str(snoop)]["error"]
    passwd_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert passwd_line not in result.output and passwd_line not in (out / "results.jsonl").read_text()


def test_cadquery_run_refuses_to_run_unconfined(tmp_path, no_bubblewrap):
    code = tmp_path / "part.py"
    code.write_text("open('ran', 'w').close()\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["cadquery-run", str(code), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "bubblewrap is not installed" in result.output and not (tmp_path / "out").exists()
