"""The `fiche` command: a thin click group over the packages' own command modules.

Each listed module exposes `COMMANDS`, a list of click commands, and imports heavy libraries (torch,
transformers) inside the commands, so `fiche --help` stays fast.
"""
from __future__ import annotations

import importlib

import click

COMMAND_MODULES = (
    "fiche_vlm.commands",
    "fiche_vlm.samples",
    "converters.cli",
    "fiche_vlm.serve",
    "fiche_vlm.predict",
    "fiche_vlm.pixels",
    "fiche_vlm.budget",
    "eval.cli",
    "postprocess.cli",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fiche-vlm")
def main() -> None:
    """fiche-vlm: product fiches → fine-tuned Qwen2-VL → strict CAD-ready JSON and OpenSCAD."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        main.add_command(_command)
