"""`fiche pin-pixels`: an exported model's processor gets training's pixel budget, which the server then reads."""
from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli import main

T4 = PROJECT_ROOT / "recipes" / "t4.yaml"


def test_pin_pixels_writes_the_recipe_budget_that_transformers_reads(tmp_path, tiny_model_dir):
    model = tmp_path / "merged"
    shutil.copytree(tiny_model_dir, model)
    result = CliRunner().invoke(main, ["pin-pixels", str(model), "--recipe", str(T4)])
    assert result.exit_code == 0, result.output

    from transformers import AutoProcessor

    from fiche_vlm.pixels import recipe_pixel_budget

    min_pixels, max_pixels = recipe_pixel_budget(T4)
    assert max_pixels == 768 * 768  # t4.yaml keeps 768-px views
    size = json.loads((model / "processor_config.json").read_text())["image_processor"]["size"]
    assert size == {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    processor = AutoProcessor.from_pretrained(model)
    assert processor.image_processor.size["longest_edge"] == max_pixels


def test_pin_pixels_keeps_both_spellings_of_older_configs_in_agreement(tmp_path):
    from fiche_vlm.pixels import pin_pixel_budget

    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12845056}))
    pin_pixel_budget(tmp_path, 3136, 50176)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert config["max_pixels"] == 50176 and config["size"]["longest_edge"] == 50176


def test_pin_pixels_refuses_a_folder_without_processor_config(tmp_path):
    result = CliRunner().invoke(main, ["pin-pixels", str(tmp_path), "--recipe", str(T4)])
    assert result.exit_code != 0
    assert "no processor_config.json or preprocessor_config.json" in result.output
