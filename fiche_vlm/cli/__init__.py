"""The `fiche` command: a click group over the command modules, which only parse options and call the library.

Each listed module exposes `COMMANDS`, a list of click commands, and imports heavy libraries (torch,
transformers) inside the commands, so `fiche --help` stays fast.
"""
from __future__ import annotations

import importlib

import click

COMMAND_MODULES = (
    "fiche_vlm.cli.demo",
    "fiche_vlm.cli.samples",
    "fiche_vlm.cli.convert",
    "fiche_vlm.cli.serve",
    "fiche_vlm.cli.predict",
    "fiche_vlm.cli.pixels",
    "fiche_vlm.cli.check_dataset",
    "fiche_vlm.cli.evaluate",
    "fiche_vlm.cli.postprocess",
    "fiche_vlm.cli.annotate",
)


class FicheGroup(click.Group):
    """The library's usage errors (an --out that names an input file) reported as click reports its own: exit 2."""

    def invoke(self, ctx: click.Context) -> object:
        from fiche_io.files import OutputIsInput

        try:
            return super().invoke(ctx)
        except OutputIsInput as error:
            raise click.BadParameter(str(error), param_hint="'--out'") from None


@click.group(cls=FicheGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fiche-vlm")
def main() -> None:
    """fiche-vlm: product fiches → fine-tuned Qwen2-VL → strict CAD-ready JSON and OpenSCAD."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        main.add_command(_command)
