"""Image → CadQuery: the fixed prompt after the image, the code as the answer, images fitted once."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from converters.cadquery import PROMPT, convert_cadquery
from fiche_vlm import PROJECT_ROOT
from fiche_vlm.cli.convert import convert

SAMPLE = PROJECT_ROOT / "data" / "cadquery" / "cadquery.jsonl"


def test_sample_converts(tmp_path: Path) -> None:
    report = convert_cadquery(SAMPLE, tmp_path / "cq.json", dataset_dir=tmp_path, name="cq", strict=True)
    sources = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    records = json.loads((tmp_path / "cq.json").read_text())
    assert (report.read, report.written) == (len(sources), len(sources))
    for source, record in zip(sources, records, strict=True):
        assert record["id"] == source["deepcad_id"]
        assert record["messages"] == [{"role": "user", "content": "<image>" + PROMPT},
                                      {"role": "assistant", "content": source["cadquery"]}]
        with Image.open(tmp_path / record["images"][0]) as image:
            assert 640 <= max(image.size) <= 768 and image.size[0] % 28 == 0 == image.size[1] % 28


def test_keep_images_points_at_originals(tmp_path: Path) -> None:
    convert_cadquery(SAMPLE, tmp_path / "cq.json", dataset_dir=tmp_path, name="cq", long_side=None)
    for record in json.loads((tmp_path / "cq.json").read_text()):
        assert (tmp_path / record["images"][0]).resolve().parent == SAMPLE.parent / "images"
    assert not (tmp_path / "cq.images").exists()


def test_cli_convert_cadquery(tmp_path: Path) -> None:
    result = CliRunner().invoke(convert, ["cadquery", str(SAMPLE), "--out", str(tmp_path / "cq.json"),
                                          "--dataset-dir", str(tmp_path), "--name", "cq", "--long-side", "224", "224"])
    assert result.exit_code == 0, result.output
    assert "read 8 lines = written 8 + rejected 0" in result.stdout


def test_sample_is_in_the_gencad_code_and_cad_recode_styles() -> None:
    codes = {json.loads(line)["deepcad_id"]: json.loads(line)["cadquery"] for line in SAMPLE.read_text().splitlines()}
    gencad = [code for key, code in codes.items() if key.startswith("gc-")]
    recode = [code for key, code in codes.items() if key.startswith("cr-")]
    assert len(gencad) == 5 and len(recode) == 3
    for code in gencad:
        assert "cq.Workplane(cq.Plane(cq.Vector(" in code and "\nsolid=solid0\n" in code and "result" not in code
    assert any("6.123233995736766e-17" in code for code in gencad)
    assert any("solid=solid.cut(" in code for code in gencad) and any("solid=solid.union(" in code for code in gencad)
    for code in recode:
        assert code.startswith("import cadquery as cq\nw0=cq.Workplane('") and "\nr=w0.sketch()" in code
        assert ".finalize().extrude(" in code


def test_code_too_deeply_nested_is_refused_and_the_conversion_goes_on(tmp_path: Path) -> None:
    bad = Path(__file__).parent / "data" / "bad" / "conv_cadquery_code_nested_100000_unary_minus.jsonl"
    src = tmp_path / "cq.jsonl"  # the deep line, then a good one that must still be converted
    src.write_text(bad.read_text(encoding="utf-8") + json.dumps(
        {"deepcad_id": "fine", "image": str(bad.parent / "conv_view.png"),
         "cadquery": "import cadquery as cq\nresult = cq.Workplane('XY').box(1, 1, 1)\n"}) + "\n", encoding="utf-8")
    report = convert_cadquery(src, tmp_path / "cq.json", dataset_dir=tmp_path, name="cq", long_side=(224, 224),
                              data_root=bad.parent)
    assert (report.read, report.written, report.rejected) == (2, 1, 1)
    assert "nested too deeply" in report.rejects[0].problem
    assert [record["id"] for record in json.loads((tmp_path / "cq.json").read_text())] == ["fine"]
