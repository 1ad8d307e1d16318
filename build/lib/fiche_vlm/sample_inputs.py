"""Generates the committed sample inputs of the converters (data/qa, data/text2cad, data/cadquery, data/pdf)
and the synthetic Q&A set of the benchmark. Deterministic: running it again rewrites the same bytes.

    python -m fiche_vlm.sample_inputs            # rewrites the samples under data/
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from fiche_io.files import atomic_write_text
from fiche_io.jsonl import dumps_jsonl
from fiche_vlm import PROJECT_ROOT

FIXED_PDF_DATE = time.struct_time((2026, 1, 5, 9, 0, 0, 0, 5, 0))  # PIL would stamp the current time


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans when the system has it (accents, Ø), else Pillow's own scalable default font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def draw_lines(draw: ImageDraw.ImageDraw, origin: tuple[int, int], lines: list[str], size: int,
               fill: str = "black") -> None:
    x, y = origin
    face = font(size)
    for line in lines:
        draw.text((x, y), line, font=face, fill=fill)
        y += int(size * 1.5)


# ---------------------------------------------------------------- service-manual Q&A

MANUAL_PAGES: list[dict[str, Any]] = [
    {"page_id": "21-01", "section": "21 Circuit hydraulique", "title": "21-01 Schéma du circuit",
     "colour": "#2f6db5", "content_type": "diagram"},
    {"page_id": "21-02", "section": "21 Circuit hydraulique", "title": "21-02 Pompe à engrenages",
     "colour": "#c0392b", "content_type": "exploded_view"},
    {"page_id": "21-03", "section": "21 Circuit hydraulique", "title": "21-03 Remplacement du filtre",
     "colour": "#27ae60", "content_type": "procedure"},
    {"page_id": "22-01", "section": "22 Transmission", "title": "22-01 Couples de serrage",
     "colour": "#8e44ad", "content_type": "table"},
    {"page_id": "22-02", "section": "22 Transmission", "title": "22-02 Tension de courroie",
     "colour": "#d68910", "content_type": "procedure"},
    {"page_id": "23-01", "section": "23 Électricité", "title": "23-01 Fusibles",
     "colour": "#7f8c8d", "content_type": "table"},
]

MANUAL_QA: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("21-01", "factual", [("Quelle est la pression de service du circuit ?", "La pression de service est de 180 bar.")]),
    ("21-01", "visual", [("Où se trouve le clapet de décharge sur le schéma ?",
                          "Il est placé entre la pompe et le distributeur, repère 4.")]),
    ("21-02", "factual", [("Combien de vis fixent le corps de pompe ?", "Quatre vis M8 fixent le corps de pompe."),
                          ("Quel couple appliquer ?", "Serrer à 25 N·m en croix.")]),
    ("21-02", "visual", [("Quel repère désigne le joint torique ?", "Le joint torique porte le repère 7.")]),
    ("21-03", "procedural", [("Comment remplacer la cartouche filtrante ?",
                              "Dévisser le bol, retirer la cartouche, huiler le joint neuf puis revisser à la main."),
                             ("Faut-il purger le circuit ensuite ?", "Oui, faire tourner 2 minutes au ralenti pour purger l'air.")]),
    ("21-03", "factual", [("Quelle est la périodicité de remplacement du filtre ?", "Toutes les 500 heures de fonctionnement.")]),
    ("22-01", "factual", [("Quel est le couple de serrage des vis de poulie ?", "Les vis de poulie se serrent à 45 N·m.")]),
    ("22-01", "factual", [("What torque applies to the gearbox drain plug?", "The drain plug is tightened to 30 N·m.")]),
    ("22-02", "procedural", [("Comment contrôler la tension de la courroie ?",
                              "Appuyer au milieu du brin : la flèche doit être de 10 mm sous 50 N.")]),
    ("22-02", "visual", [("Quel sens de rotation indique la flèche ?", "La flèche indique le sens horaire.")]),
    ("23-01", "factual", [("Quel fusible protège le démarreur ?", "Le fusible F3 de 30 A protège le démarreur.")]),
    ("23-01", "factual", [("Quelle couleur a le fusible de 15 A ?", "Le fusible de 15 A est bleu."),
                          ("Et celui de 10 A ?", "Le fusible de 10 A est rouge.")]),
]


def manual_page_image(page: dict[str, Any], size: tuple[int, int] = (448, 336)) -> Image.Image:
    """A small manual page: a coloured title band and a figure in the section's colour."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((0, 0, width, 40), fill=page["colour"])
    draw.text((12, 10), page["title"], font=font(18), fill="white")
    rng = random.Random(page["page_id"])
    for _ in range(4):
        x, y = rng.randint(20, width - 140), rng.randint(60, height - 100)
        draw.rectangle((x, y, x + rng.randint(50, 120), y + rng.randint(30, 80)), outline=page["colour"], width=5)
    draw.line((20, height - 30, width - 20, height - 30), fill="black", width=2)
    return image


def write_qa_sample(folder: Path) -> Path:
    """`folder/manual_qa.jsonl` and its page images under `folder/images/`."""
    pages = {page["page_id"]: page for page in MANUAL_PAGES}
    for page in MANUAL_PAGES:
        (folder / "images").mkdir(parents=True, exist_ok=True)
        manual_page_image(page).save(folder / "images" / f"{page['page_id']}.png")
    lines = []
    for index, (page_id, question_type, turns) in enumerate(MANUAL_QA, start=1):
        page = pages[page_id]
        conversations = []
        for question, answer in turns:
            conversations += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        lines.append({"id": f"qa-{index:03d}", "image": f"images/{page_id}.png", "conversations": conversations,
                      "metadata": {"page_id": page_id, "section_name": page["section"],
                                   "content_type": page["content_type"], "question_type": question_type}})
    atomic_write_text(folder / "manual_qa.jsonl", dumps_jsonl(lines))
    return folder / "manual_qa.jsonl"


def synthetic_qa_lines(records: int, pages: int, seed: int = 0) -> list[dict[str, Any]]:
    """`records` Q&A lines spread over `pages` page images `images/page-XXXXX.png` (1 to 3 exchanges each)."""
    rng = random.Random(seed)
    kinds = ["factual", "procedural", "visual"]
    lines = []
    for index in range(records):
        page = index % pages
        conversations = []
        for turn in range(rng.randint(1, 3)):
            screw = rng.randint(1, 40)
            conversations += [
                {"role": "user", "content": f"Question {turn + 1} sur la page {page} : quel est le couple de la vis {screw} ?"},
                {"role": "assistant", "content": f"Serrer à {rng.randint(5, 120)} N·m, puis contrôler l'étanchéité."},
            ]
        lines.append({"image": f"images/page-{page:05d}.png", "conversations": conversations,
                      "metadata": {"page_id": f"{page // 100:02d}-{page % 100:02d}-{page}",
                                   "section_name": f"Section {page // 100}", "content_type": "procedure",
                                   "question_type": kinds[index % 3]}})
    return lines


def write_synthetic_qa(folder: Path, records: int = 12_410, pages: int = 1_241) -> Path:
    """The benchmark's Q&A set: tiny fitted page images (56×56) and `records` lines."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for page in range(pages):
        Image.new("RGB", (56, 56), (page % 256, 80, 160)).save(folder / "images" / f"page-{page:05d}.png")
    atomic_write_text(folder / "qa.jsonl", dumps_jsonl(synthetic_qa_lines(records, pages)))
    return folder / "qa.jsonl"


# ---------------------------------------------------------------- text → CAD JSON

def _rectangle_loop(width: float, height: float) -> dict[str, Any]:
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    return {f"line_{index + 1}": {"Start Point": list(corners[index]), "End Point": list(corners[(index + 1) % 4])}
            for index in range(4)}


def _part(loops: dict[str, Any], depth: float, scale: float, translation: list[float],
          operation: str = "NewBodyFeatureOperation") -> dict[str, Any]:
    return {"coordinate_system": {"Euler Angles": [0.0, 0.0, -90.0], "Translation Vector": translation},
            "sketch": {"face_1": loops},
            "extrusion": {"extrude_depth_towards_normal": depth, "extrude_depth_opposite_normal": 0.0,
                          "sketch_scale": scale, "operation": operation}}


def text2cad_lines() -> list[dict[str, Any]]:
    """Text2CAD-style records; some numbers carry float noise (0.1 + 0.2, 1e-07) for the canonicaliser."""
    plate = _part({"loop_1": _rectangle_loop(0.75, 0.5)}, 0.0375, 0.75, [0.0, 0.0375, 0.0])
    holed = _part({"loop_1": _rectangle_loop(0.75, 0.75),
                   "loop_2": {"circle_1": {"Center": [0.375, 0.375], "Radius": 0.1 + 0.2 - 0.15}}},
                  0.1, 0.75, [0.0, 1e-07, 0.0])
    disc = _part({"loop_1": {"circle_1": {"Center": [0.375, 0.375], "Radius": 0.375}}}, 0.05, 0.75,
                 [0.0, 0.05000000000000001, 0.0])
    tube = _part({"loop_1": {"circle_1": {"Center": [0.125, 0.125], "Radius": 0.125}},
                  "loop_2": {"circle_1": {"Center": [0.125, 0.125], "Radius": 0.0875}}}, 0.75, 0.25,
                 [0.0, 0.75, 0.0])
    step_base = _part({"loop_1": _rectangle_loop(0.75, 0.25)}, 0.5, 0.75, [0.0, 0.5, 0.0])
    step_top = _part({"loop_1": _rectangle_loop(0.375, 0.25)}, 0.25, 0.375, [0.375, 0.75, 0.0],
                     "JoinFeatureOperation")
    return [
        {"id": "t2c-plate", "instruction": "Create a rectangular plate 75 mm long, 50 mm wide and 3.75 mm thick.",
         "cad": {"parts": {"part_1": plate}}},
        {"id": "t2c-holed-square", "instruction": "Make a 75 mm square block, 10 mm thick, with a central "
                                                   "through hole of 15 mm radius.",
         "cad": {"parts": {"part_1": holed}}},
        {"id": "t2c-disc", "instruction": "Draw a flat disc of 75 mm diameter and extrude it 5 mm.",
         "cad": {"parts": {"part_1": disc}}},
        {"id": "t2c-tube", "instruction": "Model a tube 75 mm long with an outer diameter of 25 mm and a "
                                          "wall thickness of 3.75 mm.",
         "cad": {"parts": {"part_1": tube}}},
        {"id": "t2c-step", "instruction": "Build a stepped block: a 75 × 25 × 50 mm base joined with a "
                                          "37.5 × 25 × 25 mm block on its right half.",
         "cad": {"parts": {"part_1": step_base, "part_2": step_top}}},
    ]


def write_text2cad_sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "text2cad.jsonl", dumps_jsonl(text2cad_lines()))
    return folder / "text2cad.jsonl"


# ---------------------------------------------------------------- image → CadQuery

# Five programs as GenCAD-Code writes them (DeepCAD's normalised scale, planes given by vectors, one loop per
# sketch, `solid` accumulated by union and cut) and three as CAD-Recode writes them (integer coordinates,
# `w0=cq.Workplane(…, origin=…)`, `r=w0.sketch()…finalize().extrude(…)`). Their volumes are in the tests.
CADQUERY_PARTS: list[dict[str, Any]] = [
    {"id": "gc-block", "shape": "box", "size": (1.5, 1.0, 0.25), "colour": "#4a78a8",
     "code": (
        'import cadquery as cq\n'
        '# Generating a workplane for sketch 0\n'
        'wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, -0.5, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n'
        'loop0=wp_sketch0.moveTo(1.5, 0.0).lineTo(1.5, 1.0).lineTo(0.0, 1.0).lineTo(0.0, 0.0).close()\n'
        'solid0=wp_sketch0.add(loop0).extrude(0.25)\n'
        'solid=solid0\n')},
    {"id": "gc-holed-block", "shape": "box", "size": (1.5, 1.5, 0.375), "colour": "#c8a23c", "hole": 0.5,
     "code": (
        'import cadquery as cq\n'
        '# Generating a workplane for sketch 0\n'
        'wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, -0.75, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n'
        'loop0=wp_sketch0.moveTo(1.5, 0.0).lineTo(1.5, 1.5).lineTo(0.0, 1.5).lineTo(0.0, 0.0).close()\n'
        'loop1=wp_sketch0.moveTo(0.75, 0.75).circle(0.25)\n'
        'solid0=wp_sketch0.add(loop0).add(loop1).extrude(0.375)\n'
        'solid=solid0\n')},
    {"id": "gc-cylinder", "shape": "cylinder", "size": (0.9, 0.9, 1.5), "colour": "#b85c38",
     "code": (
        'import cadquery as cq\n'
        '# Generating a workplane for sketch 0\n'
        'wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.45, 0.75, 0.0), cq.Vector(1.0, 6.123233995736766e-17, -6.123233995736766e-17), cq.Vector(6.123233995736766e-17, -1.0, 6.123233995736766e-17)))\n'
        'loop0=wp_sketch0.moveTo(0.45, 0.0).circle(0.45)\n'
        'solid0=wp_sketch0.add(loop0).extrude(1.5)\n'
        'solid=solid0\n')},
    {"id": "gc-tube", "shape": "cylinder", "size": (1.5, 1.5, 0.5), "colour": "#5c9e5c", "hole": 0.9,
     "code": (
        'import cadquery as cq\n'
        '# Generating a workplane for sketch 0\n'
        'wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.0, -0.25), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n'
        'loop0=wp_sketch0.moveTo(0.75, 0.0).circle(0.75)\n'
        'solid0=wp_sketch0.add(loop0).extrude(0.5)\n'
        'solid=solid0\n'
        '# Generating a workplane for sketch 1\n'
        'wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.0, -0.25), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n'
        'loop1=wp_sketch1.moveTo(0.75, 0.0).circle(0.45)\n'
        'solid1=wp_sketch1.add(loop1).extrude(0.5)\n'
        'solid=solid.cut(solid1)\n')},
    {"id": "gc-bracket", "shape": "angle", "size": (1.5, 0.75, 1.125), "thickness": 0.1875, "colour": "#7a5ca8",
     "code": (
        'import cadquery as cq\n'
        '# Generating a workplane for sketch 0\n'
        'wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.375, 0.0), cq.Vector(1.0, 6.123233995736766e-17, -6.123233995736766e-17), cq.Vector(6.123233995736766e-17, -1.0, 6.123233995736766e-17)))\n'
        'loop0=wp_sketch0.moveTo(1.5, 0.0).lineTo(1.5, 0.1875).lineTo(0.1875, 0.1875).lineTo(0.1875, 1.125).lineTo(0.0, 1.125).lineTo(0.0, 0.0).close()\n'
        'solid0=wp_sketch0.add(loop0).extrude(0.75)\n'
        'solid=solid0\n'
        '# Generating a workplane for sketch 1\n'
        'wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(0.375, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n'
        'loop1=wp_sketch1.moveTo(0.0, 0.0).circle(0.125)\n'
        'solid1=wp_sketch1.add(loop1).extrude(0.1875)\n'
        'solid=solid.cut(solid1)\n'
        '# Generating a workplane for sketch 2\n'
        'wp_sketch2 = cq.Workplane(cq.Plane(cq.Vector(-0.75, 0.0, 0.5625), cq.Vector(0.0, 1.0, 0.0), cq.Vector(-1.0, 0.0, 0.0)))\n'
        'loop2=wp_sketch2.moveTo(0.0, 0.0).circle(0.1875)\n'
        'solid2=wp_sketch2.add(loop2).extrude(0.125)\n'
        'solid=solid.union(solid2)\n')},
    {"id": "cr-plate-4-holes", "shape": "box", "size": (160, 100, 10), "colour": "#8a8f96", "holes4": True,
     "code": (
        'import cadquery as cq\n'
        "w0=cq.Workplane('XY',origin=(0,0,-5))\n"
        "r=w0.sketch().rect(160,100).push([(-64,-34),(64,-34),(-64,34),(64,34)]).circle(8,mode='s').finalize().extrude(10)\n")},
    {"id": "cr-stepped-shaft", "shape": "cylinder", "size": (80, 80, 104), "colour": "#a86a4a", "boss": (40, 30),
     "code": (
        'import cadquery as cq\n'
        "w0=cq.Workplane('XY',origin=(0,0,52))\n"
        'r=w0.sketch().circle(40).finalize().extrude(-104).union(w0.sketch().circle(20).finalize().extrude(30))\n')},
    {"id": "cr-angle", "shape": "angle", "size": (120, 100, 120), "thickness": 20, "colour": "#4a8aa8",
     "code": (
        'import cadquery as cq\n'
        "w0=cq.Workplane('ZX',origin=(0,50,0))\n"
        'r=w0.sketch().segment((-60,-60),(60,-60)).segment((60,-40)).segment((-40,-40)).segment((-40,60)).segment((-60,60)).close().assemble().finalize().extrude(-100)\n')},
]


def _shade(colour: str, factor: float) -> tuple[int, int, int]:
    red, green, blue = (int(colour[index:index + 2], 16) for index in (1, 3, 5))
    return tuple(max(0, min(255, int(channel * factor))) for channel in (red, green, blue))  # type: ignore[return-value]


def cadquery_image(part: dict[str, Any], size: int = 256) -> Image.Image:
    """A cabinet projection of the part: three shaded faces (box) or a shaded cylinder, holes in white."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    width, depth, height = part["size"]
    scale = (size * 0.55) / max(width, depth, height)
    w, d, h = width * scale, depth * scale * 0.5, height * scale
    x0, y0 = size * 0.18, size * 0.82
    colour = part["colour"]
    if part["shape"] == "box":
        front = [(x0, y0), (x0 + w, y0), (x0 + w, y0 - h), (x0, y0 - h)]
        top = [(x0, y0 - h), (x0 + w, y0 - h), (x0 + w + d, y0 - h - d), (x0 + d, y0 - h - d)]
        side = [(x0 + w, y0), (x0 + w + d, y0 - d), (x0 + w + d, y0 - h - d), (x0 + w, y0 - h)]
        for face, factor in ((front, 1.0), (top, 1.3), (side, 0.7)):
            draw.polygon(face, fill=_shade(colour, factor), outline="black")
        centre = (x0 + w / 2 + d / 2, y0 - h - d / 2)
        if part.get("hole"):
            r = part["hole"] * scale / 2
            draw.ellipse((centre[0] - r, centre[1] - r / 2, centre[0] + r, centre[1] + r / 2), fill="white", outline="black")
        if part.get("holes4"):
            for dx in (-0.4, 0.4):
                for dy in (-0.34, 0.34):
                    cx, cy = centre[0] + dx * w + dy * d, centre[1] - dy * d
                    draw.ellipse((cx - 5, cy - 3, cx + 5, cy + 3), fill="white", outline="black")
    elif part["shape"] == "angle":  # an L profile (foot and upright of `thickness`) extruded in depth
        t = part["thickness"] * scale
        front = [(x0, y0), (x0 + w, y0), (x0 + w, y0 - t), (x0 + t, y0 - t), (x0 + t, y0 - h), (x0, y0 - h)]
        back = [(x + d, y - d) for x, y in front]
        draw.polygon(back, fill=_shade(colour, 0.6), outline="black")
        for index in range(len(front)):
            following = (index + 1) % len(front)
            draw.polygon([front[index], front[following], back[following], back[index]],
                         fill=_shade(colour, 1.2 if index in (2, 4) else 0.8), outline="black")
        draw.polygon(front, fill=_shade(colour, 1.0), outline="black")
    else:
        r = w / 2
        draw.rectangle((x0, y0 - h, x0 + w, y0), fill=_shade(colour, 0.9))
        draw.ellipse((x0, y0 - r / 2, x0 + w, y0 + r / 2), fill=_shade(colour, 0.9), outline="black")
        draw.ellipse((x0, y0 - h - r / 2, x0 + w, y0 - h + r / 2), fill=_shade(colour, 1.3), outline="black")
        if part.get("hole"):
            ri = part["hole"] * scale / 2
            cx, cy = x0 + r, y0 - h
            draw.ellipse((cx - ri, cy - ri / 2, cx + ri, cy + ri / 2), fill="white", outline="black")
        if part.get("boss"):  # a smaller cylinder standing on the top face
            diameter, tall = (value * scale for value in part["boss"])
            cx, top = x0 + r, y0 - h - tall
            draw.rectangle((cx - diameter / 2, top, cx + diameter / 2, y0 - h), fill=_shade(colour, 0.9))
            draw.ellipse((cx - diameter / 2, top - diameter / 4, cx + diameter / 2, top + diameter / 4),
                         fill=_shade(colour, 1.3), outline="black")
    return image


def write_cadquery_sample(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for part in CADQUERY_PARTS:
        cadquery_image(part).save(folder / "images" / f"{part['id']}.png")
        lines.append({"deepcad_id": part["id"], "image": f"images/{part['id']}.png", "cadquery": part["code"]})
    atomic_write_text(folder / "cadquery.jsonl", dumps_jsonl(lines))
    return folder / "cadquery.jsonl"


# ---------------------------------------------------------------- PDF fiche with French and English text

PDF_PAGE_TEXT = [
    "FICHE PRODUIT - Support moteur SM-40",
    "Matière : acier S235, épaisseur 5 mm",
    "Fixation par quatre vis M8 sur le bâti",
    "Product sheet - Motor bracket",
    "Material: S235 steel, painted finish",
]
PDF_LEFT_TEXT = ["Vue de face", "Hauteur 120 mm", "Largeur 80 mm"]
PDF_RIGHT_TEXT = ["Side view", "Depth 60 mm", "Four mounting holes"]


def text_page(lines: list[str], size: tuple[int, int], text_size: int = 40,
              drawing: bool = True) -> Image.Image:
    """A greyscale page at 150 dpi: text lines at the top, a filled bracket outline below."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    draw_lines(draw, (90, 90), lines, text_size, fill="black")  # type: ignore[arg-type]
    if drawing:
        width, height = size
        top = 90 + int(text_size * 1.5) * len(lines) + 60
        draw.rectangle((90, top, width - 90, min(height - 90, top + 500)), fill=170, outline=0, width=8)
        for dx in (0.25, 0.75):
            cx = 90 + dx * (width - 180)
            draw.ellipse((cx - 30, top + 60, cx + 30, top + 120), fill=255, outline=0, width=6)
    return page


def double_page(left: list[str], right: list[str], size: tuple[int, int] = (1754, 1240)) -> Image.Image:
    """A landscape scan of two facing pages (left and right halves)."""
    width, height = size
    page = Image.new("L", size, 255)
    page.paste(text_page(left, (width // 2, height)), (0, 0))
    page.paste(text_page(right, (width - width // 2, height)), (width // 2, 0))
    ImageDraw.Draw(page).line((width // 2, 0, width // 2, height), fill=120, width=3)
    return page


def write_pdf(path: Path, pages: list[Image.Image], dpi: int = 150) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    pages[0].save(temp, format="PDF", save_all=True, append_images=pages[1:], resolution=dpi,
                  creationDate=FIXED_PDF_DATE, modDate=FIXED_PDF_DATE)
    temp.replace(path)
    return path


def write_pdf_sample(folder: Path) -> Path:
    """`folder/support_moteur.pdf`: page 1 a portrait fiche (FR + EN text), page 2 a double page of views."""
    return write_pdf(folder / "support_moteur.pdf",
                     [text_page(PDF_PAGE_TEXT, (1240, 1754)), double_page(PDF_LEFT_TEXT, PDF_RIGHT_TEXT)])


def write_all(data: Path) -> list[Path]:
    return [write_qa_sample(data / "qa"), write_text2cad_sample(data / "text2cad"),
            write_cadquery_sample(data / "cadquery"), write_pdf_sample(data / "pdf")]


if __name__ == "__main__":
    for written in write_all(PROJECT_ROOT / "data"):
        print(written)
