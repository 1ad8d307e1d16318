"""The scripts of benchmarks/ (not a package) imported as modules, once each, by the tests that check them."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from fiche_vlm import PROJECT_ROOT


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py as the module NAME (registered in sys.modules, so a second call gets the same one)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
