"""The test policy and the package as a user installs it: a skip fails under CI, `pip install .` works outside
the checkout (issue 20)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from fiche_vlm import PROJECT_ROOT

UV = ["python3", "-m", "uv"]  # as the Makefile runs it


def test_a_skipped_test_fails_under_ci(tmp_path: Path):
    shutil.copy(PROJECT_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text("import pytest\n\ndef test_skipped():\n    pytest.skip('no widget')\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    outside_ci = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "CI": ""})
    under_ci = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "CI": "true"})
    assert outside_ci.returncode == 0 and "1 skipped" in outside_ci.stdout
    assert under_ci.returncode == 1 and "skipped under CI=true, which counts as a failure: Skipped: no widget" in \
        under_ci.stdout


def test_pip_install_gives_a_working_fiche_outside_the_checkout(tmp_path: Path):
    """The wheel carries the schemas, the sample, the recipes and the registry; no source tree is needed.
    Dependencies come from the .venv's site-packages (no download); the package itself only from the wheel."""
    wheel_dir, venv, source = tmp_path / "wheel", tmp_path / "venv", tmp_path / "source"
    # built from a copy: setuptools writes build/ and *.egg-info into the tree it builds
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".cache", "outputs", "__pycache__", "*.egg-info", "build", ".pytest_cache", ".hypothesis"))
    build = subprocess.run([*UV, "build", "-q", "--wheel", "-o", str(wheel_dir), str(source)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    subprocess.run([*UV, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([*UV, "pip", "install", "-q", "--python", str(python), "--no-deps",
                              str(next(wheel_dir.glob("*.whl")))], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    # the .venv's third-party packages, but not its editable finder for this checkout (.pth files are not read here)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "PYTHONNOUSERSITE": "1"}
    where = subprocess.run([str(python), "-c", "import fiche_vlm, fiche_schema; print(fiche_vlm.__file__); "
                            "print(fiche_vlm.SAMPLE_FICHES); from fiche_schema import load_schema; load_schema('fiche')"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    package_file, sample = where.stdout.split()
    assert Path(package_file).is_relative_to(venv) and Path(sample).is_relative_to(venv) and Path(sample).is_file()
    fiche = venv / "bin" / "fiche"
    assert subprocess.run([str(fiche), "--help"], capture_output=True, text=True, cwd=tmp_path, env=env).returncode == 0
    valid = subprocess.run([str(fiche), "validate", sample], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert valid.returncode == 0 and "8 valid" in valid.stdout, valid.stdout + valid.stderr
