"""OpenSCAD: every emitted file renders headless, its STL is exactly the envelope, hostile text adds nothing."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from postprocess.openscad import ScadError, build_scaffold, comment_text, fiche_to_scad, predictions_to_scad
from postprocess.render import png_available, render_png, render_stl

# Skipped only outside CI: CI installs openscad (make system), so there a missing one fails every test.
pytestmark = pytest.mark.skipif(shutil.which("openscad") is None and not os.environ.get("CI"),
                                reason="openscad is not installed (make system)")

HOSTILE = ["x\ncube(1000);", "*/ cube(1000); /*", '"); cube(1000); echo("', "a\u2028cube(1000);",
           "b\u2029cube(1000);", "c\rcube(1000);", "d\\\ncube(1000);", "e\x85cube(1000);", "f\u202e\ncube(1000);",
           "g\x00\ncube(1000);", "// \n translate([5000,0,0]) cube(1);", "include </etc/passwd>\ncube(1000);"]


def stl_bounds(path: Path) -> np.ndarray:
    import trimesh

    return trimesh.load(path, file_type="stl", force="mesh").bounds


def sample_outputs(sample_fiches: Path) -> list[tuple[str, dict]]:
    lines = [json.loads(line) for line in sample_fiches.read_text(encoding="utf-8").splitlines()]
    return [(line["id"], line["output"]) for line in lines if line["output"] is not None]


def test_every_sample_fiche_renders_to_its_envelope_and_each_kind_to_a_png(sample_fiches, tmp_path):
    outputs = sample_outputs(sample_fiches)
    assert outputs
    previewed = set()
    for name, fiche in outputs:
        text, shape = build_scaffold(fiche, name)
        scad = tmp_path / f"{name}.scad"
        scad.write_text(text, encoding="utf-8")
        result = render_stl(scad, tmp_path / f"{name}.stl", timeout_s=60)
        assert result.ok, result.error
        d = fiche["dimensions"]
        assert d["unit"] == "mm"
        np.testing.assert_allclose(stl_bounds(result.path), [[0, 0, 0], [d["W"], d["D"], d["H"]]], atol=1e-6)
        if shape.kind not in previewed:  # one PNG per kind: each costs about 0.6 s
            previewed.add(shape.kind)
            png = render_png(scad, tmp_path / f"{name}.png", size=(160, 120), timeout_s=60)
            assert png.ok, png.error
    assert previewed == {"cube", "cylinder", "tube"}


SAMPLE_SHAPES = {"plate": "cube", "bracket": "cube", "spacer": "tube", "flange": "tube", "shaft": "cylinder",
                 "channel": "cube", "hinge": "cube", "pulley": "tube"}


def stl_volume(path: Path) -> float:
    import trimesh

    return float(trimesh.load(path, file_type="stl", force="mesh").volume)


def polygon_area(diameter: float, sides: int = 96) -> float:
    """Area of OpenSCAD's circle: a regular polygon with its vertices on the circle."""
    return sides / 2 * (diameter / 2) ** 2 * math.sin(2 * math.pi / sides)


def render_text(tmp_path: Path, text: str, name: str) -> Path:
    scad = tmp_path / f"{name}.scad"
    scad.write_text(text, encoding="utf-8")
    result = render_stl(scad, tmp_path / f"{name}.stl", timeout_s=60)
    assert result.ok, result.error
    return result.path


def test_the_shape_table_family_by_family_on_the_sample(sample_fiches):
    shapes = {name.split("-")[0]: build_scaffold(fiche, name)[1] for name, fiche in sample_outputs(sample_fiches)}
    assert {family: shape.kind for family, shape in shapes.items()} == SAMPLE_SHAPES
    assert not any(shape.unsure for shape in shapes.values())
    assert (shapes["spacer"].axis, shapes["spacer"].bore_mm) == ("z", 22)  # Tube cylindrique Ø40 × 60, alésage Ø22
    assert (shapes["shaft"].axis, shapes["shaft"].outer_mm, shapes["shaft"].length_mm) == ("x", 40, 160)
    assert (shapes["flange"].axis, shapes["pulley"].axis, shapes["pulley"].bore_mm) == ("y", "y", 20)


def test_the_readme_lists_every_word_of_the_shape_table():
    from postprocess.scad_shape import SHAPE_RULES, fold

    readme = Path(__file__).parents[1] / "README.md"
    table = readme.read_text(encoding="utf-8").split("### The OpenSCAD scaffold")[1].split("Then:")[0]
    rows = {fold(line.split("|")[1]): line.split("|")[3] for line in table.splitlines() if line.startswith("| ")}
    for rule, _, words, _ in SHAPE_RULES:
        assert set(words) == {fold(word) for word in rows[rule].replace(";", ",").split(",")}, rule


@pytest.mark.parametrize("fields, dimensions, kind, unsure", [
    ({"object": "Steel shaft", "global_shape": "Stepped cylinder"}, (20, 100, 20), "cylinder", False),
    ({"object": "Round flange", "components": ["hub", "bore 12 mm"]}, (80, 80, 15), "tube", False),
    ({"object": "Bague", "global_shape": "⌀30 x 10, diamètre intérieur 2 cm"}, (30, 30, 10), "tube", False),
    ({"object": "Mounting plate", "components": ["4 holes Ø9 mm"]}, (120, 80, 8), "cube", False),
    ({"object": "Support", "global_shape": "Pièce de forme libre"}, (40, 40, 40), "cube", True),  # no table word
    ({"object": "Rondelle plate"}, (20, 20, 2), "cube", True),  # revolved and prismatic words at once
    ({"object": "Disque", "global_shape": "Ø40"}, (40, 30, 10), "cube", True),  # revolved, no two sides equal
    ({"object": "Tube", "components": ["alésage Ø50"]}, (40, 40, 60), "cylinder", False),  # bore ≥ outer: not drawn
])
def test_the_shape_table_reads_french_and_english_and_falls_back_to_the_cube(fields, dimensions, kind, unsure):
    width, depth, height = dimensions
    text, shape = build_scaffold({**fields, "dimensions": {"W": width, "D": depth, "H": height, "unit": "mm"}}, "t")
    assert (shape.kind, shape.unsure) == (kind, unsure)
    assert ("// The shape table was unsure, so this is the envelope cube" in text) == unsure
    assert text.count("cube([W, D, H])") == (kind == "cube")
    if fields.get("object") == "Bague":
        assert shape.bore_mm == 20  # "2 cm" carries its own unit
    if fields.get("object") == "Tube":
        assert "// the stated bore is not smaller than the outer diameter, so it is not drawn." in text


@pytest.mark.parametrize("dimensions, fields, kind, solid_area", [
    ((30, 20, 10), {"object": "Bloc"}, "cube", None),
    ((25, 25, 70), {"object": "Axe"}, "cylinder", polygon_area(25)),  # along z
    ((70, 25, 25), {"object": "Axe"}, "cylinder", polygon_area(25)),  # along x
    ((25, 70, 25), {"object": "Axe"}, "cylinder", polygon_area(25)),  # along y
    ((40, 40, 60), {"object": "Tube", "global_shape": "Tube Ø40, alésage Ø22"}, "tube",
     polygon_area(40) - polygon_area(22)),
])
def test_each_shape_kind_renders_to_the_stated_bounding_box_and_its_own_volume(tmp_path, dimensions, fields, kind,
                                                                                solid_area):
    width, depth, height = dimensions
    text, shape = build_scaffold({**fields, "dimensions": {"W": width, "D": depth, "H": height, "unit": "mm"}}, "k")
    assert shape.kind == kind
    stl = render_text(tmp_path, text, kind)
    np.testing.assert_allclose(stl_bounds(stl), [[0, 0, 0], [width, depth, height]], atol=1e-6)
    volume = width * depth * height if solid_area is None else solid_area * shape.length_mm
    assert stl_volume(stl) == pytest.approx(volume, rel=1e-6)


def test_customizer_parameters_come_first_and_drive_the_geometry(sample_fiches, tmp_path):
    fiches = dict(sample_outputs(sample_fiches))
    for name, parameter, new_value, expected_top in (("plate-01", "W", 50, [50, 80, 8]),
                                                    ("shaft-05", "outer_d", 30, [160, 30, 30])):
        text = fiche_to_scad(fiches[name], name)
        lines = text.splitlines()
        first_module = next(i for i, line in enumerate(lines) if line.startswith("module "))
        assignments = [i for i, line in enumerate(lines) if ASSIGNMENT.match(line)]
        assert assignments and max(assignments) < first_module  # the Customizer lists only what precedes modules
        assert all(lines[i - 1].startswith("// ") and not ASSIGNMENT.match(lines[i - 1]) for i in assignments)
        edited = re.sub(rf"^{parameter} = [0-9.]+;", f"{parameter} = {new_value};", text, flags=re.MULTILINE)
        assert edited != text
        np.testing.assert_allclose(stl_bounds(render_text(tmp_path, edited, name))[1], expected_top, atol=1e-6)


def test_the_hole_block_is_off_until_enabled_and_never_changes_the_envelope(sample_fiches, tmp_path):
    plate = dict(sample_outputs(sample_fiches))["plate-01"]  # "4 trous Ø9", 120 × 80 × 8 mm
    text = fiche_to_scad(plate, "plate-01")
    assert "//holes_count = 4; // [1:1:64]" in text and "//holes_d = 9;" in text
    assert "// Hole pattern read from component 2: 4 trous Ø9" in text
    assert stl_volume(render_text(tmp_path, text, "off")) == pytest.approx(120 * 80 * 8, rel=1e-9)
    enabled = render_text(tmp_path, enable_holes(text), "on")
    np.testing.assert_allclose(stl_bounds(enabled), [[0, 0, 0], [120, 80, 8]], atol=1e-6)
    assert stl_volume(enabled) == pytest.approx(120 * 80 * 8 - 4 * polygon_area(9) * 8, rel=1e-6)
    english = fiche_to_scad({"object": "Round flange", "components": ["6 holes Ø11 mm on Ø90"],
                             "dimensions": {"W": 120, "D": 120, "H": 40, "unit": "mm"}}, "e")
    assert "//holes_count = 6;" in english and "//holes_pcd = 90;" in english


@pytest.mark.parametrize("unit, factor", [("mm", 1), ("cm", 10), ("m", 1000), ("in", 25.4)])
def test_units_are_normalised_to_mm(tmp_path, unit, factor):
    fiche = {"dimensions": {"H": 3.5, "W": 2, "D": 1.25, "unit": unit}, "components": ["a"]}
    scad = tmp_path / "u.scad"
    scad.write_text(fiche_to_scad(fiche, "u"), encoding="utf-8")
    result = render_stl(scad, tmp_path / "u.stl")
    assert result.ok, result.error
    np.testing.assert_allclose(stl_bounds(result.path), [[0, 0, 0], [2 * factor, 1.25 * factor, 3.5 * factor]],
                               rtol=1e-9, atol=1e-6)


# Hostile text that also carries the words the shape table and the hole reader act on, so that it reaches every
# place model text lands: header comments, the shape reason, the hole block's comment and its parameters.
TRIGGERS = ["tube Ø40\ncube(1000);", "4 trous Ø9 */ cube(1000); /*", "alésage Ø22\u2028cube(1000);",
            "4 holes Ø9 mm; include </etc/passwd>", "disque Ø40\u2029{ cube(1000); }", "6 trous Ø5\x85cube(1000);",
            "use <evil.scad>\n// holes_count = 1;\ncube(1000);", "W = 1000; // [0:1:2000]", "/* [Evil] */ W = 5;"]
PARAMETER_NAMES = {"W", "D", "H", "outer_d", "length", "inner_d", "holes_count", "holes_d", "holes_inset",
                   "holes_pcd", "$fn"}
ASSIGNMENT = re.compile(r"^(//)?([A-Za-z_$][A-Za-z0-9_]*) = ([0-9.]+); // \[[0-9.]+:[0-9.]+:[0-9.]+\]$")


def fiche_with(text: list[str], dimensions: dict) -> dict:
    return {"object": text[0], "global_shape": " ".join(text[:3]), "components": text, "interfaces": text,
            "materials_guess": text, "manufacturing": text, "dimensions": dimensions}


def code_lines(scad: str) -> list[str]:
    """What OpenSCAD executes or shows in the Customizer: every line but plain `//` comments."""
    return [line for line in scad.splitlines() if line.strip() and
            (not line.startswith("//") or ASSIGNMENT.match(line))]


def enable_holes(scad: str) -> str:
    return re.sub(r"^//(holes_\w+ = )", r"\1", scad, flags=re.MULTILINE)


@pytest.mark.parametrize("dimensions, kind", [
    ({"H": 30, "W": 20, "D": 10, "unit": "mm"}, "cube"),  # no two sides equal: never a cylinder
    ({"H": 60, "W": 80, "D": 80, "unit": "mm"}, "tube"),  # the hostile text states a bore
])
def test_hostile_text_cannot_add_geometry_parameters_or_annotations(tmp_path, dimensions, kind):
    hostile = TRIGGERS + HOSTILE
    benign = ["tube Ø40", "4 trous Ø9", "alésage Ø22", "4 holes Ø9 mm", "disque Ø40", "6 trous Ø5"]
    text, shape = build_scaffold(fiche_with(hostile, dimensions), HOSTILE[0])
    clean, _ = build_scaffold(fiche_with(benign, dimensions), "clean")
    assert shape.kind == kind
    assert code_lines(text) == code_lines(clean)  # the hostile parts changed nothing but comments
    names = {match.group(2) for line in text.splitlines() if (match := ASSIGNMENT.match(line))}
    assert names <= PARAMETER_NAMES and "holes_count" in names
    comments = "\n".join(line for line in text.splitlines() if line.startswith("//") and not ASSIGNMENT.match(line))
    for bad in ("*/", "\\", '"', "<", "{", "[", "]"):  # include <...>, braces and Customizer ranges need these
        assert bad not in comments
    for line_break in ("\r", "\x00", "\u2028", "\u2029", "\x85", "\u202e"):
        assert line_break not in text
    # Rendered with the holes enabled: every line of the file then runs (without them, it is the clean file's code).
    stl = render_text(tmp_path, enable_holes(text), "hostile")
    np.testing.assert_allclose(stl_bounds(stl), [[0, 0, 0], [dimensions["W"], dimensions["D"], dimensions["H"]]],
                               atol=1e-6)


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
    shapes = {entry["id"]: (entry["shape"], entry["shape_reason"]) for entry in index["entries"] if entry["scad"]}
    assert shapes[names[0]][0] == "cube" and shapes[names[0]][1].startswith("prismatic ('platine' in object")
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
