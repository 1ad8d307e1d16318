"""The layers of the README's Architecture section, held: what each top-level package may import, no cycle between
packages, no click below the CLI, and every module importable on its own."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from fiche_vlm import PROJECT_ROOT

# package → the project packages it may import. fiche_vlm (CLI, serve, predict, demo) sits on top of them all.
ALLOWED = {
    "fiche_io": set(),
    "fiche_schema": {"fiche_io"},
    "converters": {"fiche_io", "fiche_schema"},
    "postprocess": {"fiche_io", "fiche_schema"},
    "eval": {"fiche_io", "fiche_schema", "postprocess"},
    "fiche_vlm": {"fiche_io", "fiche_schema", "converters", "postprocess", "eval"},
}
LIBRARIES = ("fiche_io", "fiche_schema", "converters", "postprocess", "eval")
# Modules that run in another environment than the .venv, by its python (DeepEval clashes with the .venv).
OTHER_ENVIRONMENT = {"eval.deepeval_judge": PROJECT_ROOT / ".venv-judge" / "bin" / "python"}


def modules(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level project package, line) for every import in the file, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in ALLOWED}
    return found


def test_each_package_imports_only_the_layers_below_it():
    breaches = [f"{path.relative_to(PROJECT_ROOT)}:{line}: {package} imports {other}"
                for package, allowed in ALLOWED.items() for path in modules(package)
                for other, line in imported_packages(path) if other != package and other not in allowed]
    assert breaches == []


def test_no_cycle_between_packages():
    edges = {package: {other for path in modules(package) for other, _ in imported_packages(path) if other != package}
             for package in ALLOWED}
    for start in edges:
        seen, frontier = set(), set(edges[start])
        while frontier:
            node = frontier.pop()
            assert node != start, f"{start} reaches itself through {sorted(seen)}"
            if node not in seen:
                seen.add(node)
                frontier |= edges[node]


def test_library_code_has_no_click():
    """Only fiche_vlm.cli parses the command line; the libraries raise the project's own errors."""
    users = [f"{path.relative_to(PROJECT_ROOT)}" for package in LIBRARIES for path in modules(package)
             if any(isinstance(node, (ast.Import, ast.ImportFrom)) and "click" in ast.unparse(node).split()
                    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert users == []


@pytest.mark.parametrize("package", list(ALLOWED))
def test_every_module_imports_first_in_a_fresh_interpreter(package):
    """A cycle that the static check misses (a partly initialised module) fails here."""
    names = [".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
             for path in modules(package)]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    for name in names:  # each module first, in its own interpreter, as `python -c "import name"` would
        python = OTHER_ENVIRONMENT.get(name, sys.executable)
        result = subprocess.run([python, "-c", script, name], capture_output=True, text=True, cwd=PROJECT_ROOT)
        assert result.returncode == 0, f"python -c 'import {name}':\n{result.stderr[-2000:]}"
