"""`fiche check-dataset`: each sample's token count, before training, against the recipe that trains it.

The count is checked against LLaMA-Factory's own tokenised length of the same sample (its `get_dataset`, the
`qwen2_vl` template and the processor, with a cutoff that cuts nothing), including views it resizes.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from converters.fiche import convert_fiches
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.budget import check_dataset
from fiche_vlm.cli import main

RECIPES = PROJECT_ROOT / "recipes"
BAD = PROJECT_ROOT / "tests" / "data" / "bad"


def converted(tmp_path: Path, sample_fiches: Path, long_side: tuple[int, int]) -> Path:
    dataset_dir = tmp_path / "dataset_info"
    report = convert_fiches(sample_fiches, dataset_dir / "fiches.json", dataset_dir=dataset_dir, name="fiches",
                            long_side=long_side, strict=True)
    assert report.written == report.read > 0
    return dataset_dir / "fiches.json"


def llamafactory_lengths(recipe: Path, model_dir: Path, dataset: Path, tmp_path: Path) -> list[int]:
    """input_ids lengths of LLaMA-Factory's own preprocessing of `dataset` under `recipe`, nothing cut."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    args = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    args.update(model_name_or_path=str(model_dir), dataset_dir=str(dataset.parent), dataset="fiches",
                output_dir=str(tmp_path / "out"), cutoff_len=100_000, use_cpu=True, overwrite_cache=True,
                preprocessing_num_workers=1, report_to="none")
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **tokenizer_module)
    return [len(ids) for ids in module["train_dataset"]["input_ids"]]


@pytest.mark.parametrize("long_side, resized", [((224, 224), False), ((308, 308), True)])
def test_counts_equal_llamafactory_tokenised_lengths(long_side, resized, tiny_model_dir, sample_fiches, tmp_path):
    """At 224 px the views fit smoke.yaml's 50176-pixel budget; at 308 px LLaMA-Factory shrinks them, and the
    count still follows it while the view is refused for being resized twice."""
    recipe = RECIPES / "smoke.yaml"
    dataset = converted(tmp_path, sample_fiches, long_side)
    report = check_dataset(dataset, recipe, model_dir=tiny_model_dir)
    assert [sample.total for sample in report.samples] == llamafactory_lengths(recipe, tiny_model_dir, dataset, tmp_path)
    assert all(sample.image_tokens > 0 and sample.text_tokens > 200 for sample in report.samples)
    assert bool(report.refused) == resized
    if resized:
        assert all(any("LLaMA-Factory resizes it" in problem for problem in sample.problems) for sample in report.refused)


def test_a_sample_over_cutoff_len_is_refused_with_its_id_count_and_limit(tiny_model_dir, sample_fiches, tmp_path):
    dataset = converted(tmp_path, sample_fiches, (224, 224))
    recipe = BAD / "budget_cutoff_below_samples.yaml"
    report = check_dataset(dataset, recipe, model_dir=tiny_model_dir)
    assert len(report.refused) == len(report.samples) == 8
    first = report.samples[0]
    assert first.id == "plate-01" and first.image_tokens == 2 * (224 // 28) * (168 // 28)
    assert report.messages()[0].startswith(f"{dataset}: plate-01: {first.total} tokens ")
    assert f"> cutoff_len 300 of {recipe}" in report.messages()[0]


def test_a_view_off_the_28_px_grid_is_refused(tiny_model_dir, tmp_path):
    for name in ("budget_view_off_grid.json", "budget_view_off_grid.png"):
        shutil.copy(BAD / name, tmp_path / name)
    report = check_dataset(tmp_path / "budget_view_off_grid.json", RECIPES / "smoke.yaml", model_dir=tiny_model_dir)
    (sample,) = report.refused
    assert sample.id == "off-grid-01"
    assert sample.problems == [("budget_view_off_grid.png: the processor resizes 230×170 px to 224×168 (its 28-px grid, "
                                "pixels 3136–50176); convert with `fiche convert`, which fits views to that grid")]
    assert sample.image_tokens == (224 // 28) * (168 // 28)


def test_cli_exit_status_and_messages(tiny_model_dir, sample_fiches, tmp_path):
    dataset = converted(tmp_path, sample_fiches, (224, 224))
    runner = CliRunner()
    fits = runner.invoke(main, ["check-dataset", str(dataset), "--recipe", str(RECIPES / "smoke.yaml"),
                                "--model", str(tiny_model_dir)])
    assert fits.exit_code == 0, fits.output
    assert "checked 8 samples against" in fits.output and "refused 0" in fits.output
    refused = runner.invoke(main, ["check-dataset", str(dataset), "--recipe", str(BAD / "budget_cutoff_below_samples.yaml"),
                                   "--model", str(tiny_model_dir)])
    assert refused.exit_code == 1
    assert "plate-01:" in refused.output and "> cutoff_len 300" in refused.output and "refused 8" in refused.output
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "x", "messages": [}]', encoding="utf-8")
    error = runner.invoke(main, ["check-dataset", str(broken), "--recipe", str(RECIPES / "smoke.yaml"),
                                 "--model", str(tiny_model_dir)])
    assert error.exit_code == 1 and f"{broken}:1: record: malformed JSON" in error.output


def test_the_gpu_recipes_take_views_fitted_with_the_default_band_as_they_are(tiny_model_dir, tmp_path):
    """Every GPU recipe's pixel budget holds any view `fiche convert` fits with its default band (640–768), with
    the image processor budget the published Qwen2-VL checkpoints ship (the tiny model's is 224×224)."""
    from PIL import Image

    from fiche_io.images import DEFAULT_LONG_SIDE, grid_size
    from fiche_vlm.pixels import pin_pixel_budget

    qwen_like = shutil.copytree(tiny_model_dir, tmp_path / "model")
    pin_pixel_budget(qwen_like, 3136, 12845056)

    samples = []
    for index, source in enumerate([(768, 768), (4032, 3024), (3024, 4032), (1700, 600)]):
        name = f"view{index}.png"
        Image.new("RGB", grid_size(*source, DEFAULT_LONG_SIDE), (255, 255, 255)).save(tmp_path / name)
        samples.append({"id": f"v{index}", "images": [name],
                        "messages": [{"role": "user", "content": "<image>x"}, {"role": "assistant", "content": "{}"}]})
    (tmp_path / "views.json").write_text(json.dumps(samples), encoding="utf-8")
    for name in ("t4.yaml", "a100.yaml", "qlora.yaml", "multi-gpu.yaml"):
        report = check_dataset(tmp_path / "views.json", RECIPES / name, model_dir=qwen_like)
        assert report.refused == [], (name, report.messages())
        assert report.samples[0].image_tokens == (grid_size(768, 768, DEFAULT_LONG_SIDE)[0] // 28) ** 2


def test_a_turn_that_is_neither_user_nor_assistant_is_refused(tiny_model_dir):
    dataset = BAD / "budget_unknown_role.json"
    report = check_dataset(dataset, RECIPES / "smoke.yaml", model_dir=tiny_model_dir)
    assert report.messages() == [(f"{dataset}: robot-01: messages[1]: {{'role': 'robot', 'content': '{{}}'}} "
                                  "is no user or assistant turn")]


def test_a_jsonl_dataset_counts_the_same_and_a_bad_line_is_named(tiny_model_dir, sample_fiches, tmp_path):
    dataset_dir = tmp_path / "dataset_info"
    convert_fiches(sample_fiches, dataset_dir / "fiches.jsonl", dataset_dir=dataset_dir, name="fiches",
                   long_side=(224, 224), strict=True)
    as_json = check_dataset(converted(tmp_path / "json", sample_fiches, (224, 224)), RECIPES / "smoke.yaml",
                            model_dir=tiny_model_dir)
    as_jsonl = check_dataset(dataset_dir / "fiches.jsonl", RECIPES / "smoke.yaml", model_dir=tiny_model_dir)
    assert [(s.id, s.total) for s in as_jsonl.samples] == [(s.id, s.total) for s in as_json.samples]
    with (dataset_dir / "fiches.jsonl").open("a", encoding="utf-8") as stream:
        stream.write('{"id": "cut", "messages": [\n')
    with pytest.raises(ValueError, match=r"fiches\.jsonl:9: line: malformed JSON"):
        check_dataset(dataset_dir / "fiches.jsonl", RECIPES / "smoke.yaml", model_dir=tiny_model_dir)
