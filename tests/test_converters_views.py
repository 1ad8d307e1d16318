"""A folder of views → fiche JSONL skeleton: grouping by name, fitting, rejects, OCR on request."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image, ImageDraw

from converters.fiche import FICHE_INSTRUCTION
from converters.views import convert_views
from fiche_vlm.cli.convert import convert, validate
from fiche_vlm.sample_inputs import font


def view(path: Path, size: tuple[int, int] = (400, 300), colour: str = "steelblue") -> None:
    Image.new("RGB", size, colour).save(path)


def test_views_group_into_fiches_in_view_order(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    view(src / "pump_b.jpg")
    view(src / "pump_a.png", (1000, 700))
    view(src / "valve_10.png")
    view(src / "valve_2.png")
    view(src / "valve_1.png")
    view(src / "my_clamp_face.png")
    view(src / "my_clamp_coupe.png")
    (src / "notes.txt").write_text("hello")
    view(src / "lonely.png")
    view(src / "pump_A.png")  # same view as pump_a
    (src / "sub").mkdir()
    (src / ".DS_Store").write_bytes(b"\0")
    view(tmp_path / "outside.png")
    (src / "escape_a.png").symlink_to(tmp_path / "outside.png")
    report = convert_views(src, tmp_path / "out" / "fiches.jsonl")
    assert (report.read, report.written, report.rejected) == (12, 7, 5)
    # files are read in sorted order, so pump_A.png claims view "a" and pump_a.png is the duplicate
    assert {Path(reject.source).name for reject in report.rejects} == {"notes.txt", "lonely.png", "pump_a.png", "sub",
                                                                         "escape_a.png"}
    escape = next(reject for reject in report.rejects if reject.source.endswith("escape_a.png"))
    assert escape.message == f"{src / 'escape_a.png'}: file: a link to {tmp_path / 'outside.png'}, outside {src} (the data root)"
    lines = [json.loads(line) for line in (tmp_path / "out" / "fiches.jsonl").read_text().splitlines()]
    by_id = {line["id"]: line for line in lines}
    assert set(by_id) == {"pump", "valve", "my_clamp"}
    assert [Path(name).name for name in by_id["valve"]["images"]] == ["valve_1.png", "valve_2.png", "valve_10.png"]
    assert [Path(name).name for name in by_id["my_clamp"]["images"]] == ["my_clamp_face.png", "my_clamp_coupe.png"]
    for line in lines:
        assert line["instruction"] == FICHE_INSTRUCTION and line["output"] is None and line["context_text"] == ""
        for name in line["images"]:
            with Image.open(tmp_path / "out" / name) as image:
                assert 640 <= max(image.size) <= 768 and image.size[0] % 28 == 0 == image.size[1] % 28
    assert CliRunner().invoke(validate, [str(tmp_path / "out" / "fiches.jsonl")]).exit_code == 0


def test_ocr_fills_context_text(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    image = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(image).text((40, 100), "Roulement étanche 6204", font=font(48), fill="black")
    image.save(src / "bearing_a.png")
    result = CliRunner().invoke(convert, ["views", str(src), "--out", str(tmp_path / "f.jsonl"), "--ocr"])
    assert result.exit_code == 0, result.output
    assert "read 1 files = written 1 + rejected 0" in result.stdout
    text = json.loads((tmp_path / "f.jsonl").read_text())["context_text"]
    assert "Roulement" in text and "étanche" in text and "6204" in text


def test_a_fiche_with_an_unreadable_view_is_rejected_whole(tmp_path: Path) -> None:
    bad = Path(__file__).parent / "data" / "bad"
    src = tmp_path / "photos"
    src.mkdir()
    view(src / "pump_a.png")
    (src / "pump_b.png").write_bytes((bad / "conv_fiche_corrupt_image.png").read_bytes())
    view(src / "pump_c.png")
    view(src / "valve_a.png")
    report = convert_views(src, tmp_path / "out" / "fiches.jsonl", long_side=(224, 224))
    assert (report.read, report.written, report.rejected) == (4, 1, 3)
    lines = [json.loads(line) for line in (tmp_path / "out" / "fiches.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["valve"]
    assert sorted(path.name for path in (tmp_path / "out" / "fiches.images").iterdir()) == ["valve_a.png"]
    problems = {Path(reject.source).name: reject.problem for reject in report.rejects}
    assert problems["pump_b.png"].startswith("cannot read 'pump_b.png' as an image")
    assert problems["pump_a.png"] == problems["pump_c.png"] == \
        "fiche 'pump' rejected whole: its view(s) pump_b.png cannot be used"
