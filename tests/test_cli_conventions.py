"""The CLI's conventions: one option name with one meaning in every command, every command documented with an
example, old spellings still working for one release with a deprecation message."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fiche_vlm.cli import main

WRITERS = ["convert fiche", "convert views", "convert pdf", "convert qa", "convert text2cad", "convert cadquery",
           "predict", "repair", "cad-check", "scad", "cadquery-run", "score", "eval", "demo", "samples", "tiny-model"]


def commands(group: click.Group = main, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= commands(command, f"{prefix}{name} ")
        else:
            found[f"{prefix}{name}"] = command
    return found


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_is_documented_with_an_example(name):
    assert re.search(r"Example: .*\bfiche ", commands()[name].help or ""), f"fiche {name} --help has no example"


@pytest.mark.parametrize("name", WRITERS)
def test_every_command_that_writes_takes_o_out(name):
    options = {opt for param in commands()[name].params if isinstance(param, click.Option) for opt in param.opts}
    assert {"-o", "--out"} <= options


def test_image_root_is_data_root_everywhere():
    for name, command in commands().items():
        visible = {opt for param in command.params if isinstance(param, click.Option) and not param.hidden
                   for opt in param.opts}
        assert "--media-dir" not in visible and "--image-root" not in visible, name


def test_shared_options_have_one_default_in_predict_and_eval():
    def defaults(name):
        return {param.name: param.default for param in commands()[name].params if isinstance(param, click.Option)}
    predict, evaluate = defaults("predict"), defaults("eval")
    for option in ("base_url", "model", "api_key_env", "concurrency", "max_tokens", "timeout", "retries", "long_side"):
        assert predict[option] == evaluate[option], option


def test_old_spellings_still_work_with_a_deprecation_message(tmp_path: Path, sample_fiches: Path):
    result = CliRunner().invoke(main, ["samples", str(tmp_path / "sample")])
    assert result.exit_code == 0 and "deprecated" in result.output and (tmp_path / "sample" / "fiches.jsonl").is_file()
    result = CliRunner().invoke(main, ["predict", str(sample_fiches), "-o", str(tmp_path / "p.jsonl"),
                                       "--media-dir", str(tmp_path / "nowhere"), "--base-url", "http://127.0.0.1:9/v1",
                                       "--retries", "1", "--timeout", "1"])
    assert "--media-dir is deprecated" in result.output and "use --data-root" in result.output


def test_schema_takes_the_same_values_in_predict_extract_and_repair(tmp_path: Path):
    reply = tmp_path / "reply.txt"
    reply.write_text('Voici : {"a": 1}', encoding="utf-8")
    result = CliRunner().invoke(main, ["extract", str(reply), "--schema", "none"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"a": 1}
    schema = tmp_path / "a.schema.json"
    schema.write_text('{"type": "object", "required": ["b"]}', encoding="utf-8")
    result = CliRunner().invoke(main, ["extract", str(reply), "--schema", str(schema)])
    assert result.exit_code == 1 and "'b' is a required property" in result.output
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"id": "x", "raw": "{}", "finish_reason": "stop"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["repair", str(predictions), "-o", str(tmp_path / "r.jsonl"), "--schema", "text"])
    assert result.exit_code == 2 and "free text holds no JSON object" in result.output
