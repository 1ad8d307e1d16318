"""OpenSCAD: every emitted file renders headless, its STL is exactly the envelope, hostile text adds nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from postprocess.openscad import ScadError, comment_text, fiche_to_scad, predictions_to_scad
from postprocess.render import png_available, render_png, render_stl

pytestmark = pytest.mark.skipif(shutil.which("openscad") is None, reason="openscad is not installed (make setup)")

HOSTILE = ["x\ncube(1000);", "*/ cube(1000); /*", '"); cube(1000); echo("', "a\u2028cube(1000);",
           "b\u2029cube(1000);", "c\rcube(1000);", "d\\\ncube(1000);", "e\x85cube(1000);", "f\u202e\ncube(1000);",
           "g\x00\ncube(1000);", "// \n translate([5000,0,0]) cube(1);", "include </etc/passwd>\ncube(1000);"]


def stl_bounds(path: Path) -> np.ndarray:
    import trimesh

    return trimesh.load(path, file_type="stl", force="mesh").bounds


def sample_outputs(sample_fiches: Path) -> list[tuple[str, dict]]:
    lines = [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines()]
    return [(line["id"], line["output"]) for line in lines if line["output"] is not None]


def test_every_sample_fiche_renders_to_its_envelope(sample_fiches, tmp_path):
    outputs = sample_outputs(sample_fiches)
    assert outputs
    for name, fiche in outputs:
        scad = tmp_path / f"{name}.scad"
        scad.write_text(fiche_to_scad(fiche, name), encoding="utf-8")
        result = render_stl(scad, tmp_path / f"{name}.stl", timeout_s=60)
        assert result.ok, result.error
        d = fiche["dimensions"]
        assert d["unit"] == "mm"
        np.testing.assert_allclose(stl_bounds(result.path), [[0, 0, 0], [d["W"], d["D"], d["H"]]], atol=1e-6)


@pytest.mark.parametrize("unit, factor", [("mm", 1), ("cm", 10), ("m", 1000), ("in", 25.4)])
def test_units_are_normalised_to_mm(tmp_path, unit, factor):
    fiche = {"dimensions": {"H": 3.5, "W": 2, "D": 1.25, "unit": unit}, "components": ["a"]}
    scad = tmp_path / "u.scad"
    scad.write_text(fiche_to_scad(fiche, "u"), encoding="utf-8")
    result = render_stl(scad, tmp_path / "u.stl")
    assert result.ok, result.error
    np.testing.assert_allclose(stl_bounds(result.path), [[0, 0, 0], [2 * factor, 1.25 * factor, 3.5 * factor]],
                               rtol=1e-9, atol=1e-6)


def test_hostile_names_cannot_add_geometry(tmp_path):
    fiche = {"object": HOSTILE[0], "global_shape": HOSTILE[1], "components": HOSTILE, "interfaces": HOSTILE,
             "materials_guess": HOSTILE, "manufacturing": HOSTILE,
             "dimensions": {"H": 30, "W": 20, "D": 10, "unit": "mm"}}
    text = fiche_to_scad(fiche, HOSTILE[0])
    code_lines = [line for line in text.splitlines() if line.strip() and not line.startswith("//")]
    assert code_lines == ["envelope_mm = [20, 10, 30];  // [W, D, H]", "cube(envelope_mm);"]
    for bad in ("*", "\\", '"', "\r", "\x00", "\u2028", "\u2029", "\x85", "\u202e", "<"):
        assert bad not in text
    scad = tmp_path / "hostile.scad"
    scad.write_text(text, encoding="utf-8")
    result = render_stl(scad, tmp_path / "hostile.stl")
    assert result.ok, result.error
    np.testing.assert_allclose(stl_bounds(result.path), [[0, 0, 0], [20, 10, 30]], atol=1e-6)


def test_the_bounding_box_check_catches_injected_geometry(tmp_path):
    """Control: the same name written raw into a comment does add a cube, so the check above can fail."""
    scad = tmp_path / "naive.scad"
    scad.write_text(f"// component: {HOSTILE[0]}\ncube([20, 10, 30]);\n", encoding="utf-8")
    result = render_stl(scad, tmp_path / "naive.stl")
    assert result.ok, result.error
    assert stl_bounds(result.path)[1].tolist() == [1000, 1000, 1000]


def test_comment_text_keeps_readable_french_text():
    assert comment_text("Ø 12 mm ; 4 trous M8 (acier S235, 3/4'')") == "Ø 12 mm ; 4 trous M8 (acier S235, 3/4'')"
    assert comment_text("a*/b\\c\"d`e{f}") == "a/bcdef"
    assert comment_text("Pompe à eau: débit ±10 %") == "Pompe à eau: débit ±10 %"
    assert comment_text("") == "(none)" and len(comment_text("x" * 500)) == 160


@pytest.mark.parametrize("dimensions, message", [
    ({"H": 0, "W": 1, "D": 1, "unit": "mm"}, "$.dimensions.H: 0 mm gives no volume"),
    ({"H": 1, "W": 1, "D": 1, "unit": "ft"}, "$.dimensions.unit: 'ft' is not one of"),
    ({"H": 1, "W": "2", "D": 1, "unit": "mm"}, "$.dimensions.W: '2' is not a number"),
    ({"H": 1, "W": 1, "D": 1e12, "unit": "m"}, "$.dimensions.D: 1000000000000.0 m is larger than"),
    (None, "$.dimensions: missing"),
])
def test_fiches_without_a_usable_envelope_are_refused(dimensions, message):
    with pytest.raises(ScadError, match=message.replace("$", r"\$").replace("(", r"\(").replace(".", r"\.")):
        fiche_to_scad({"dimensions": dimensions}, "x")


def write_predictions(path: Path, sample_fiches: Path) -> list[str]:
    outputs = sample_outputs(sample_fiches)
    lines = [{"id": name, "raw": json.dumps(fiche), "json": fiche, "valid": True, "errors": []}
             for name, fiche in outputs[:2]]
    invalid = dict(outputs[0][1], dimensions={"H": 1, "W": 1, "D": 1, "unit": "ft"})
    lines += [
        {"id": "no-json", "raw": "sorry", "json": None, "valid": False, "errors": ["no_object"]},
        {"id": "lies-valid", "raw": "", "json": invalid, "valid": True, "errors": []},
        {"id": "../../escape\nname", "raw": "", "json": outputs[1][1], "valid": True, "errors": []},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n", encoding="utf-8")
    return [name for name, _ in outputs[:2]]


def test_predictions_become_scad_files_with_reasons_for_the_rest(sample_fiches, tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    names = write_predictions(predictions, sample_fiches)
    out = tmp_path / "scad"
    report = predictions_to_scad(predictions, out, render="stl")
    written = sorted(path.name for path in out.glob("*.scad"))
    assert written == sorted([f"{names[0]}.scad", f"{names[1]}.scad", "_.._escape_name.scad"])
    assert all(result["ok"] for entry in report.written for result in entry.renders.values())
    assert len(list(out.glob("*.stl"))) == 3
    reasons = {entry.id: entry.skipped for entry in report.skipped}
    assert "json is null (no_object)" in reasons["no-json"]
    assert "not a valid fiche ($.dimensions.unit: 'ft'" in reasons["lies-valid"]
    assert any("predictions.jsonl:6: not a JSON line" in (entry.skipped or "") for entry in report.entries)
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert (index["written"], index["skipped"]) == (3, 3)
    assert not list(tmp_path.glob("escape*")) and not list(Path(tmp_path.parent).glob("escape*"))


@pytest.mark.skipif(png_available() is not None, reason=str(png_available()))
def test_png_preview_renders_headless(tmp_path):
    from PIL import Image

    scad = tmp_path / "p.scad"
    scad.write_text(fiche_to_scad({"dimensions": {"H": 3, "W": 2, "D": 1, "unit": "cm"}}, "p"), encoding="utf-8")
    result = render_png(scad, tmp_path / "p.png", size=(320, 240))
    assert result.ok, result.error
    with Image.open(result.path) as image:
        assert image.size == (320, 240)
        assert len(set(image.convert("RGB").getdata())) > 2  # the cube is drawn, not a blank frame


def test_render_reports_openscad_errors(tmp_path):
    scad = tmp_path / "broken.scad"
    scad.write_text("cube([1, 2, 3]\n", encoding="utf-8")
    result = render_stl(scad, tmp_path / "broken.stl")
    assert not result.ok and "openscad exited" in result.error and not (tmp_path / "broken.stl").exists()


def test_render_times_out(tmp_path):
    scad = tmp_path / "slow.scad"
    scad.write_text("for (i = [0:299]) for (j = [0:299]) translate([i * 1.5, j * 1.5, 0]) sphere(1, $fn = 24);\n",
                    encoding="utf-8")
    result = render_stl(scad, tmp_path / "slow.stl", timeout_s=2)
    assert not result.ok and "timed out after 2 s" in result.error
