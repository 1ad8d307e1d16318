"""The embedded sample: eight parametric mechanical parts drawn as dimensioned orthographic views, with gold JSON.

Everything is computed from each part's parameters (no randomness), so `fiche samples` rebuilds the committed
`data/` pixel for pixel. The tiny demo model sees these views at 224 px on the long side, where thin black line
drawings were only 5/8 learnable and coloured views 8/8: hence a strong material colour per part, filled
silhouettes and sections, and 4-px outlines. Text is DejaVu Sans, preferably matplotlib's bundled copy, so the
pixels do not depend on the fonts a machine has installed.
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
from PIL import Image, ImageDraw, ImageFont

from fiche_io.files import atomic_path, atomic_write_text
from fiche_io.jsonl import dumps_jsonl

INSTRUCTION = (
    "Tu es ingénieur produit. Analyse ensemble les IMAGES (vues/diagrammes) ET le TEXTE fourni. Rends un JSON "
    "STRICT et SEUL selon le schéma : object, function, global_shape, components[], interfaces[], "
    "working_principle, dimensions{H,W,D,unit}, materials_guess[], manufacturing[], assembly_hypothesis, "
    "assumptions[], uncertainties[], risks_limits[]. Ne renvoie que le JSON valide."
)
# Identical for every fiche on purpose: the demo model must tell the fiches apart by their images alone.
CONTEXT_TEXT = "Plan de définition. Cotes en mm. Tolérances générales ISO 2768-m."
# Shared by every gold: phrases the small model learns once.
ASSUMPTIONS = ["cotes en mm", "tolérances ISO 2768-m"]

SHEET_SIZE = (672, 504)  # 4:3 on the 28-px grid, long side inside the 640–768 band: fit_to_grid keeps it as is
TITLE_HEIGHT = 56
MARGIN = (100, 64)  # px kept free around the part (x, y) for the dimension lines
OUTLINE = 4
INK = (0, 0, 0)
PAPER = (255, 255, 255)
THIN = (90, 90, 90)
# One strong material colour per part family: the cue that made the fiches learnable at 224 px.
STEEL_BLUE = (52, 88, 150)
ALUMINIUM_GREY = (150, 156, 166)
BRASS_YELLOW = (222, 178, 36)
CAST_IRON_RED = (172, 36, 36)
BLUED_STEEL = (58, 62, 72)
PVC_GREEN = (46, 140, 70)
BRONZE_ORANGE = (206, 112, 42)
ANODISED_PURPLE = (118, 64, 168)

Point = tuple[float, float]


@cache
def font_file() -> Path:
    """DejaVu Sans (it has Ø, ×, É, Ô): matplotlib's bundled copy first, so the pixels follow the pinned
    matplotlib rather than whatever fonts the machine has; then the usual system location."""
    spec = importlib.util.find_spec("matplotlib")
    candidates = []
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    candidates.append(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise click.ClickException("no DejaVuSans.ttf found (install matplotlib or fonts-dejavu-core): "
                               + ", ".join(map(str, candidates)))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file()), size)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(channel * factor) for channel in colour)  # type: ignore[return-value]


class Sheet:
    """One view on one drawing sheet: part coordinates in mm (x right, y up, origin at the view's lower-left
    corner of the envelope) mapped onto pixels, the part centred and as large as the margins allow.

    `labels` records every dimension text drawn and `holes` the diameter of every hole seen along its axis,
    so tests can check that the gold's numbers and hole counts are on the drawing.
    """

    def __init__(self, extent: Point, colour: tuple[int, int, int]) -> None:
        self.colour = colour
        self.image = Image.new("RGB", SHEET_SIZE, PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.labels: list[str] = []
        self.holes: list[float] = []
        area_w = SHEET_SIZE[0] - 2 * MARGIN[0]
        area_h = SHEET_SIZE[1] - TITLE_HEIGHT - 2 * MARGIN[1]
        self.scale = min(area_w / extent[0], area_h / extent[1])
        self.left = (SHEET_SIZE[0] - extent[0] * self.scale) / 2
        self.bottom = (SHEET_SIZE[1] - TITLE_HEIGHT + extent[1] * self.scale) / 2

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round(self.left + x * self.scale), round(self.bottom - y * self.scale)

    # --- solid shapes -------------------------------------------------------------------------------------
    def polygon(self, points: list[Point], fill: tuple[int, int, int] | None = None, hatch: bool = False) -> None:
        pixels = [self.px(*p) for p in points]
        self.draw.polygon(pixels, fill=fill or self.colour)
        if hatch:
            self._hatch(lambda d: d.polygon(pixels, fill=255))
        self.draw.line(pixels + [pixels[0]], fill=INK, width=OUTLINE, joint="curve")

    def rect(self, x0: float, y0: float, x1: float, y1: float, hatch: bool = False) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], hatch=hatch)

    def disc(self, cx: float, cy: float, d: float, fill: tuple[int, int, int] | None = None) -> None:
        box = self.box(cx, cy, d)
        self.draw.ellipse(box, fill=fill or self.colour, outline=INK, width=OUTLINE)

    def hole(self, cx: float, cy: float, d: float) -> None:
        """A through hole seen along its axis: paper inside, outline, centre cross."""
        self.holes.append(d)
        self.draw.ellipse(self.box(cx, cy, d), fill=PAPER, outline=INK, width=3)
        reach = d / 2 + 3 / self.scale * 2
        self.centerline((cx - reach, cy), (cx + reach, cy))
        self.centerline((cx, cy - reach), (cx, cy + reach))

    def box(self, cx: float, cy: float, d: float) -> tuple[int, int, int, int]:
        x0, y0 = self.px(cx - d / 2, cy + d / 2)
        x1, y1 = self.px(cx + d / 2, cy - d / 2)
        return x0, y0, x1, y1

    def _hatch(self, paint_mask: Callable[[ImageDraw.ImageDraw], None]) -> None:
        """45° section hatching, in a darker shade of the material, clipped to the painted mask."""
        mask = Image.new("L", SHEET_SIZE, 0)
        paint_mask(ImageDraw.Draw(mask))
        lines = Image.new("RGB", SHEET_SIZE, self.colour)
        pen = ImageDraw.Draw(lines)
        width, height = SHEET_SIZE
        for start in range(-height, width, 14):
            pen.line([(start, height), (start + height, 0)], fill=_shade(self.colour, 0.55), width=3)
        self.image.paste(lines, (0, 0), mask)

    # --- drafting marks ------------------------------------------------------------------------------------
    def _dashed(self, a: Point, b: Point, pattern: tuple[int, ...], colour: tuple[int, int, int], width: int) -> None:
        (x0, y0), (x1, y1) = self.px(*a), self.px(*b)
        length = max(abs(x1 - x0), abs(y1 - y0), 1)
        position, index = 0, 0
        while position < length:
            step = pattern[index % len(pattern)]
            if index % 2 == 0:
                end = min(position + step, length)
                self.draw.line([(x0 + (x1 - x0) * position / length, y0 + (y1 - y0) * position / length),
                                (x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length)],
                               fill=colour, width=width)
            position += step
            index += 1

    def centerline(self, a: Point, b: Point) -> None:
        self._dashed(a, b, (18, 4, 4, 4), THIN, 2)

    def hidden(self, a: Point, b: Point) -> None:
        self._dashed(a, b, (10, 6), INK, 3)

    def _arrow(self, tip: tuple[int, int], direction: tuple[int, int]) -> None:
        dx, dy = direction
        x, y = tip
        back = (x - 14 * dx, y - 14 * dy)
        side = (5 * -dy, 5 * dx)
        self.draw.polygon([tip, (back[0] + side[0], back[1] + side[1]), (back[0] - side[0], back[1] - side[1])],
                          fill=INK)

    def _text(self, centre: tuple[float, float], text: str, size: int = 20) -> None:
        font = _font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        x, y = centre[0] - (right - left) / 2 - left, centre[1] - (bottom - top) / 2 - top
        self.draw.rectangle((x + left - 3, y + top - 2, x + right + 3, y + bottom + 2), fill=PAPER)
        self.draw.text((x, y), text, fill=INK, font=font)

    def _vertical_text(self, centre: tuple[float, float], text: str, size: int = 20) -> None:
        font = _font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        mask = Image.new("L", (right - left + 6, bottom - top + 4), 0)
        ImageDraw.Draw(mask).text((3 - left, 2 - top), text, fill=255, font=font)
        mask = mask.transpose(Image.Transpose.ROTATE_90)
        corner = (round(centre[0] - mask.width / 2), round(centre[1] - mask.height / 2))
        self.image.paste(PAPER, (*corner, corner[0] + mask.width, corner[1] + mask.height))
        self.image.paste(INK, corner, mask)

    def hdim(self, x0: float, x1: float, y: float, offset: int, value: float, prefix: str = "") -> None:
        """A horizontal dimension of |x1 - x0| drawn `offset` px below (+) or above (-) the edge at height y."""
        (a, edge), (b, _) = self.px(x0, y), self.px(x1, y)
        line_y = edge + offset
        beyond = 8 if offset > 0 else -8
        for x in (a, b):
            self.draw.line([(x, edge + (4 if offset > 0 else -4)), (x, line_y + beyond)], fill=INK, width=2)
        self.draw.line([(a, line_y), (b, line_y)], fill=INK, width=2)
        self._arrow((a, line_y), (-1, 0))
        self._arrow((b, line_y), (1, 0))
        label = prefix + _number(value)
        self._text(((a + b) / 2, line_y - 14), label)  # above the line, as ISO 129 places it
        self.labels.append(label)

    def vdim(self, y0: float, y1: float, x: float, offset: int, value: float, prefix: str = "") -> None:
        """A vertical dimension of |y1 - y0| drawn `offset` px right (+) or left (-) of the edge at abscissa x;
        its text is aligned with the line, read from the right (ISO 129)."""
        (edge, a), (_, b) = self.px(x, y0), self.px(x, y1)
        line_x = edge + offset
        beyond = 8 if offset > 0 else -8
        for y in (a, b):
            self.draw.line([(edge + (4 if offset > 0 else -4), y), (line_x + beyond, y)], fill=INK, width=2)
        self.draw.line([(line_x, a), (line_x, b)], fill=INK, width=2)
        self._arrow((line_x, max(a, b)), (0, 1))
        self._arrow((line_x, min(a, b)), (0, -1))
        label = prefix + _number(value)
        self._vertical_text((line_x - 15, (a + b) / 2), label)
        self.labels.append(label)

    def leader(self, target: Point, dx: int, dy: int, label: str) -> None:
        """A leader from a point of the part to a text placed (dx, dy) px away: for diameters and hole callouts."""
        tip = self.px(*target)
        elbow = (tip[0] + dx, tip[1] + dy)
        self.draw.line([tip, elbow], fill=INK, width=2)
        length = max((dx * dx + dy * dy) ** 0.5, 1)
        ux, uy = -dx / length, -dy / length
        back = (tip[0] - 14 * ux, tip[1] - 14 * uy)
        side = (5 * -uy, 5 * ux)
        self.draw.polygon([tip, (back[0] + side[0], back[1] + side[1]), (back[0] - side[0], back[1] - side[1])],
                          fill=INK)
        font_w = self.draw.textlength(label, font=_font(20))
        self._text((elbow[0] + (font_w / 2 + 4 if dx >= 0 else -(font_w / 2 + 4)), elbow[1]), label)
        self.labels.append(label)

    # --- sheet ---------------------------------------------------------------------------------------------
    def finish(self, view_title: str, part_name: str, fiche_id: str) -> Image.Image:
        width, height = SHEET_SIZE
        self.draw.rectangle((3, 3, width - 4, height - 4), outline=INK, width=3)
        top = height - TITLE_HEIGHT
        self.draw.rectangle((3, top, width - 4, height - 4), fill=PAPER, outline=INK, width=3)
        cells = (3, 232, 490, width - 4)
        for x in cells[1:-1]:
            self.draw.line([(x, top), (x, height - 4)], fill=INK, width=3)
        self.draw.rectangle((cells[2] + 10, top + 12, cells[2] + 34, height - 16), fill=self.colour, outline=INK,
                            width=2)
        middle = top + (TITLE_HEIGHT - 3) / 2
        self._text(((cells[0] + cells[1]) / 2, middle), view_title, size=22)
        self._text(((cells[1] + cells[2]) / 2, middle - 10), part_name, size=18)
        self._text(((cells[1] + cells[2]) / 2, middle + 11), fiche_id, size=16)
        self._text(((cells[2] + 40 + cells[3]) / 2, middle), "Cotes en mm", size=18)
        return self.image


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class View:
    key: str  # file name part: images/<id>_<key>.png
    title: str  # written in the title block
    extent: Point  # envelope of the view in mm (width, height)
    paint: Callable[[Sheet], None]



@dataclass(frozen=True)
class Part:
    """A sample part: its id, material colour, dimensioned views and the gold JSON those views support."""
    fiche_id: str
    name: str
    colour: tuple[int, int, int]
    envelope: dict[str, float]  # H, W, D in mm: the overall sizes, each drawn as a dimension on some view
    views: list[View]
    gold_fields: dict[str, object]

    def gold(self) -> dict[str, object]:
        """The gold fiche JSON in schema key order; `dimensions` comes from the envelope, so it matches the drawing."""
        from fiche_schema import load_schema
        from fiche_schema.canonical import order_like_schema

        schema = load_schema("fiche")
        gold = {**self.gold_fields, "dimensions": {**self.envelope, "unit": "mm"}, "assumptions": ASSUMPTIONS}
        return order_like_schema(gold, schema, schema)


def mounting_plate(W: float = 120, D: float = 80, H: float = 8, hole: float = 9, inset: float = 14) -> Part:
    def top(s: Sheet) -> None:
        s.rect(0, 0, W, D)
        for x in (inset, W - inset):
            for y in (inset, D - inset):
                s.hole(x, y, hole)
        s.hdim(0, W, D, -34, W)
        s.vdim(0, D, W, 36, D)
        s.leader((W - inset + hole * 0.35, inset - hole * 0.35), 30, 70, f"4× Ø{_number(hole)}")

    def section(s: Sheet) -> None:
        edges = [0.0, inset - hole / 2, inset + hole / 2, W - inset - hole / 2, W - inset + hole / 2, W]
        for x0, x1 in zip(edges[::2], edges[1::2]):
            s.rect(x0, 0, x1, H, hatch=True)
        for x in (inset, W - inset):
            s.centerline((x, -4), (x, H + 4))
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, H, W, 36, H)
        s.hdim(inset - hole / 2, inset + hole / 2, H, -40, hole, "Ø")

    return Part(
        "plate-01", "Platine de fixation", STEEL_BLUE, {"H": H, "W": W, "D": D},
        [View("dessus", "VUE DE DESSUS", (W, D), top), View("coupe", "COUPE A-A", (W, H), section)],
        {
            "object": "Platine de fixation",
            "function": "Fixer un équipement sur un bâti",
            "global_shape": f"Plaque rectangulaire {_number(W)} × {_number(D)} × {_number(H)} mm",
            "components": ["plaque pleine", f"4 trous Ø{_number(hole)}"],
            "interfaces": ["4 vis M8 vers le bâti"],
            "working_principle": "Serrage par vis traversantes",
            "materials_guess": ["acier S235"],
            "manufacturing": ["découpe laser", "perçage"],
            "assembly_hypothesis": "Vissée à plat sur le bâti",
            "uncertainties": ["état de surface non précisé"],
            "risks_limits": ["flexion si charge excentrée"],
        },
    )


def l_bracket(W: float = 80, H: float = 60, D: float = 40, t: float = 6, hole: float = 7) -> Part:
    hole_x, hole_y, hole_z = t + (W - t) / 2, t + (H - t) / 2, (D * 0.3, D * 0.7)

    def front(s: Sheet) -> None:
        s.polygon([(0, 0), (W, 0), (W, t), (t, t), (t, H), (0, H)])
        for x in (hole_x - hole / 2, hole_x + hole / 2):
            s.hidden((x, 0), (x, t))
        for y in (hole_y - hole / 2, hole_y + hole / 2):
            s.hidden((0, y), (t, y))
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, H, 0, -40, H)
        s.hdim(0, t, H, -30, t)

    def top(s: Sheet) -> None:
        s.rect(0, 0, W, D)
        s.draw.line([s.px(t, 0), s.px(t, D)], fill=INK, width=OUTLINE)
        for z in hole_z:
            s.hole(hole_x, z, hole)
        s.hdim(0, W, D, -34, W)
        s.vdim(0, D, W, 36, D)
        s.leader((hole_x + hole * 0.35, hole_z[0] - hole * 0.35), 60, 40, f"2× Ø{_number(hole)}")

    def side(s: Sheet) -> None:
        s.rect(0, 0, D, H)
        s.hidden((0, t), (D, t))  # the inner corner, behind the vertical leg's outer face
        for z in hole_z:
            s.hole(z, hole_y, hole)
        s.hdim(0, D, 0, 40, D)
        s.vdim(0, H, D, 36, H)
        s.leader((hole_z[0] - hole * 0.35, hole_y + hole * 0.35), -60, -70, f"2× Ø{_number(hole)}")

    return Part(
        "bracket-02", "Équerre de fixation", ALUMINIUM_GREY, {"H": H, "W": W, "D": D},
        [View("face", "VUE DE FACE", (W, H), front), View("dessus", "VUE DE DESSUS", (W, D), top),
         View("gauche", "VUE DE GAUCHE", (D, H), side)],
        {
            "object": "Équerre de fixation",
            "function": "Relier deux pièces à angle droit",
            "global_shape": f"Cornière en L {_number(W)} × {_number(H)} × {_number(D)} mm, "
                            f"épaisseur {_number(t)} mm",
            "components": ["aile horizontale", "aile verticale", f"4 trous Ø{_number(hole)}"],
            "interfaces": ["2 vis M6 par aile"],
            "working_principle": "Efforts transmis par les ailes vissées",
            "materials_guess": ["aluminium 6060"],
            "manufacturing": ["profilé extrudé", "perçage"],
            "assembly_hypothesis": "Vissée sur deux faces perpendiculaires",
            "uncertainties": ["rayon intérieur non coté"],
            "risks_limits": ["ouverture de l'angle sous charge"],
        },
    )


def tube_spacer(outer: float = 40, bore: float = 22, length: float = 60) -> Part:
    wall = (outer - bore) / 2

    def section(s: Sheet) -> None:
        s.rect(0, 0, wall, length, hatch=True)
        s.rect(outer - wall, 0, outer, length, hatch=True)
        s.centerline((outer / 2, -5), (outer / 2, length + 5))
        s.hdim(0, outer, length, -34, outer, "Ø")
        s.hdim(wall, outer - wall, 0, 40, bore, "Ø")
        s.vdim(0, length, outer, 40, length)

    def top(s: Sheet) -> None:
        s.disc(outer / 2, outer / 2, outer)
        s.hole(outer / 2, outer / 2, bore)
        s.hdim(0, outer, 0, 40, outer, "Ø")
        s.leader((outer / 2 + bore * 0.35, outer / 2 + bore * 0.35), 130, -120, f"Ø{_number(bore)}")

    return Part(
        "spacer-03", "Entretoise tubulaire", BRASS_YELLOW, {"H": length, "W": outer, "D": outer},
        [View("coupe", "COUPE A-A", (outer, length), section), View("dessus", "VUE DE DESSUS", (outer, outer), top)],
        {
            "object": "Entretoise tubulaire",
            "function": "Maintenir un écart fixe entre deux pièces",
            "global_shape": f"Tube cylindrique Ø{_number(outer)} × {_number(length)} mm, alésage Ø{_number(bore)}",
            "components": [f"tube Ø{_number(outer)}", f"alésage traversant Ø{_number(bore)}"],
            "interfaces": ["2 faces d'appui planes"],
            "working_principle": "Reprise de l'effort de serrage en compression",
            "materials_guess": ["laiton CuZn39Pb3"],
            "manufacturing": ["décolletage"],
            "assembly_hypothesis": "Serrée entre deux pièces sur une tige",
            "uncertainties": ["parallélisme des faces non coté"],
            "risks_limits": ["écrasement si serrage excessif"],
        },
    )


def bolted_flange(outer: float = 120, plate: float = 16, hub: float = 60, length: float = 40, bore: float = 30,
                  holes: int = 6, hole: float = 11, pitch: float = 90) -> Part:
    r = outer / 2

    def face(s: Sheet) -> None:
        s.disc(r, r, outer)
        s.disc(r, r, hub, fill=_shade(CAST_IRON_RED, 0.8))
        s.hole(r, r, bore)
        s.draw.ellipse(s.box(r, r, pitch), outline=THIN, width=2)
        for k in range(holes):
            angle = math.pi / 2 + 2 * math.pi * k / holes
            s.hole(r + pitch / 2 * math.cos(angle), r + pitch / 2 * math.sin(angle), hole)
        s.vdim(0, outer, r, -round(r * s.scale) - 36, outer, "Ø")
        tip = (r + pitch / 2 * math.cos(math.pi / 6) + hole * 0.35, r + pitch / 2 * math.sin(math.pi / 6) + hole * 0.35)
        s.leader(tip, 60, -60, f"{holes}× Ø{_number(hole)}")
        s.leader((r + pitch / 2 * math.cos(-math.pi / 4), r + pitch / 2 * math.sin(-math.pi / 4)), 90, 60,
                 f"Ø{_number(pitch)}")

    def section(s: Sheet) -> None:
        for sign in (1, -1):
            def y(v: float, sign: int = sign) -> float:
                return r + sign * v
            s.polygon([(0, y(bore / 2)), (length, y(bore / 2)), (length, y(hub / 2)), (plate, y(hub / 2)),
                       (plate, y(pitch / 2 - hole / 2)), (0, y(pitch / 2 - hole / 2))], hatch=True)
            s.polygon([(0, y(pitch / 2 + hole / 2)), (plate, y(pitch / 2 + hole / 2)), (plate, y(r)), (0, y(r))],
                      hatch=True)
            s.centerline((-4, y(pitch / 2)), (plate + 4, y(pitch / 2)))
        s.centerline((-6, r), (length + 6, r))
        s.hdim(0, length, 0, 40, length)
        s.hdim(0, plate, outer, -34, plate)
        s.vdim(0, outer, 0, -40, outer, "Ø")
        s.vdim(r - hub / 2, r + hub / 2, length, 40, hub, "Ø")
        s.vdim(r - bore / 2, r + bore / 2, length, 90, bore, "Ø")

    return Part(
        "flange-04", "Bride de raccordement", CAST_IRON_RED, {"H": outer, "W": outer, "D": length},
        [View("face", "VUE DE FACE", (outer, outer), face), View("coupe", "COUPE A-A", (length, outer), section)],
        {
            "object": "Bride de raccordement",
            "function": "Raccorder un tube à un bâti",
            "global_shape": f"Disque Ø{_number(outer)} à moyeu Ø{_number(hub)}, alésage Ø{_number(bore)}, "
                            f"longueur {_number(length)} mm",
            "components": [f"disque Ø{_number(outer)}", f"moyeu Ø{_number(hub)}",
                           f"{holes} trous Ø{_number(hole)} sur Ø{_number(pitch)}"],
            "interfaces": [f"{holes} boulons M10"],
            "working_principle": "Serrage axial par boulons répartis",
            "materials_guess": ["fonte EN-GJL-250"],
            "manufacturing": ["moulage au sable", "usinage"],
            "assembly_hypothesis": "Boulonnée face à face sur une contre-bride",
            "uncertainties": ["joint d'étanchéité non représenté"],
            "risks_limits": ["fonte fragile aux chocs"],
        },
    )


def shouldered_shaft(big: float = 40, big_length: float = 60, small: float = 25, small_length: float = 100) -> Part:
    length, step = big_length + small_length, (big - small) / 2

    def front(s: Sheet) -> None:
        s.polygon([(0, 0), (big_length, 0), (big_length, step), (length, step), (length, big - step),
                   (big_length, big - step), (big_length, big), (0, big)])
        s.centerline((-6, big / 2), (length + 6, big / 2))
        s.hdim(0, length, 0, 44, length)
        s.hdim(0, big_length, big, -34, big_length)
        s.hdim(big_length, length, big - step, -34 - round(step * s.scale), small_length)
        s.vdim(0, big, 0, -40, big, "Ø")
        s.vdim(step, big - step, length, 36, small, "Ø")

    def right(s: Sheet) -> None:
        s.disc(big / 2, big / 2, big)
        s.disc(big / 2, big / 2, small, fill=_shade(BLUED_STEEL, 1.6))
        s.centerline((-4, big / 2), (big + 4, big / 2))
        s.centerline((big / 2, -4), (big / 2, big + 4))
        s.hdim(0, big, 0, 40, big, "Ø")
        s.leader((big / 2 + small * 0.35, big / 2 + small * 0.35), 120, -110, f"Ø{_number(small)}")

    return Part(
        "shaft-05", "Arbre épaulé", BLUED_STEEL, {"H": big, "W": length, "D": big},
        [View("face", "VUE DE FACE", (length, big), front), View("droite", "VUE DE DROITE", (big, big), right)],
        {
            "object": "Arbre épaulé",
            "function": "Transmettre un couple, positionner un roulement",
            "global_shape": f"Cylindre étagé Ø{_number(big)}/Ø{_number(small)}, longueur {_number(length)} mm",
            "components": [f"portée Ø{_number(big)}", f"portée Ø{_number(small)}", "épaulement"],
            "interfaces": [f"roulement sur Ø{_number(small)}", "appui sur l'épaulement"],
            "working_principle": "Rotation autour de l'axe, arrêt axial",
            "materials_guess": ["acier C45"],
            "manufacturing": ["tournage", "rectification"],
            "assembly_hypothesis": "Monté dans deux paliers à roulement",
            "uncertainties": ["congé non coté"],
            "risks_limits": ["contrainte concentrée à l'épaulement"],
        },
    )


def u_channel(W: float = 50, H: float = 40, t: float = 5, D: float = 150) -> Part:
    def front(s: Sheet) -> None:
        s.polygon([(0, 0), (W, 0), (W, H), (W - t, H), (W - t, t), (t, t), (t, H), (0, H)])
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, H, W, 36, H)
        s.hdim(0, t, H, -30, t)

    def side(s: Sheet) -> None:
        s.rect(0, 0, D, H)
        s.hidden((0, t), (D, t))
        s.hdim(0, D, 0, 40, D)
        s.vdim(0, H, 0, -40, H)

    return Part(
        "channel-06", "Profilé en U", PVC_GREEN, {"H": H, "W": W, "D": D},
        [View("face", "VUE DE FACE", (W, H), front), View("cote", "VUE DE CÔTÉ", (D, H), side)],
        {
            "object": "Profilé en U",
            "function": "Guider ou renforcer une structure",
            "global_shape": f"Section en U {_number(W)} × {_number(H)} mm, épaisseur {_number(t)} mm, "
                            f"longueur {_number(D)} mm",
            "components": ["âme", "2 ailes"],
            "interfaces": ["fond plan d'appui"],
            "working_principle": "Rigidité en flexion apportée par les ailes",
            "materials_guess": ["PVC rigide"],
            "manufacturing": ["extrusion", "sciage"],
            "assembly_hypothesis": "Collé ou vissé par son fond",
            "uncertainties": ["mode de fixation non représenté"],
            "risks_limits": ["fluage du polymère sous charge"],
        },
    )


def hinge_leaf(H: float = 80, W: float = 60, barrel: float = 10, t: float = 3, hole: float = 5,
               knuckles: int = 3) -> Part:
    segment = H / (2 * knuckles - 1)
    hole_x = barrel + (W - barrel) / 2
    hole_ys = [H * (k + 1) / (knuckles + 1) for k in range(knuckles)]
    knuckle_colour = _shade(BRONZE_ORANGE, 0.75)

    def front(s: Sheet) -> None:
        s.rect(barrel, 0, W, H)
        for k in range(knuckles):
            s.polygon([(0, 2 * k * segment), (barrel, 2 * k * segment), (barrel, (2 * k + 1) * segment),
                       (0, (2 * k + 1) * segment)], fill=knuckle_colour)
        for y in hole_ys:
            s.draw.ellipse(s.box(hole_x, y, hole * 2), outline=INK, width=2)
            s.hole(hole_x, y, hole)
        s.centerline((barrel / 2, -5), (barrel / 2, H + 5))
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, H, W, 36, H)
        s.leader((hole_x + hole * 0.35, hole_ys[-1] + hole * 0.35), 50, -44, f"{knuckles}× Ø{_number(hole)}")

    def top(s: Sheet) -> None:
        s.rect(barrel / 2, 0, W, t)
        s.disc(barrel / 2, barrel / 2, barrel, fill=knuckle_colour)
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, t, W, 36, t)
        s.leader((barrel / 2 - barrel * 0.35, barrel / 2 + barrel * 0.35), -40, -50, f"Ø{_number(barrel)}")

    return Part(
        "hinge-07", "Paumelle de charnière", BRONZE_ORANGE, {"H": H, "W": W, "D": barrel},
        [View("face", "VUE DE FACE", (W, H), front), View("dessus", "VUE DE DESSUS", (W, barrel), top)],
        {
            "object": "Paumelle de charnière",
            "function": "Articuler une porte sur son cadre",
            "global_shape": f"Lame {_number(W)} × {_number(H)} × {_number(t)} mm roulée sur un bord",
            "components": ["lame", f"{knuckles} charnons Ø{_number(barrel)}",
                           f"{knuckles} trous fraisés Ø{_number(hole)}"],
            "interfaces": [f"{knuckles} vis M4 fraisées", "axe dans les charnons"],
            "working_principle": "Rotation autour de l'axe des charnons",
            "materials_guess": ["bronze CuSn8"],
            "manufacturing": ["découpe", "roulage", "perçage"],
            "assembly_hypothesis": "Vissée sur le cadre de la porte",
            "uncertainties": ["diamètre de l'axe non coté"],
            "risks_limits": ["usure des charnons"],
        },
    )


def v_pulley(outer: float = 100, width: float = 30, bore: float = 20, groove_depth: float = 12,
             groove_top: float = 22, groove_bottom: float = 6) -> Part:
    r = outer / 2
    root = r - groove_depth
    flank = (width - groove_top) / 2

    def section(s: Sheet) -> None:
        for sign in (1, -1):
            def y(v: float, sign: int = sign) -> float:
                return r + sign * v
            mid0, mid1 = (width - groove_bottom) / 2, (width + groove_bottom) / 2
            s.polygon([(0, y(bore / 2)), (width, y(bore / 2)), (width, y(r)), (width - flank, y(r)),
                       (mid1, y(root)), (mid0, y(root)), (flank, y(r)), (0, y(r))], hatch=True)
        s.centerline((-6, r), (width + 6, r))
        s.hdim(0, width, 0, 40, width)
        s.vdim(0, outer, 0, -40, outer, "Ø")
        s.vdim(r - bore / 2, r + bore / 2, width, 40, bore, "Ø")
        s.vdim(r - root, r + root, width, 110, 2 * root, "Ø")

    def face(s: Sheet) -> None:
        s.disc(r, r, outer)
        steps = 36
        for k in range(0, steps, 2):
            s.draw.arc(s.box(r, r, 2 * root), 360 * k / steps, 360 * (k + 1) / steps, fill=INK, width=3)
        s.hole(r, r, bore)
        s.vdim(0, outer, r, -round(r * s.scale) - 36, outer, "Ø")
        s.leader((r + bore * 0.35, r + bore * 0.35), 150, -150, f"Ø{_number(bore)}")

    return Part(
        "pulley-08", "Poulie à gorge", ANODISED_PURPLE, {"H": outer, "W": outer, "D": width},
        [View("coupe", "COUPE A-A", (width, outer), section), View("face", "VUE DE FACE", (outer, outer), face)],
        {
            "object": "Poulie à gorge",
            "function": "Transmettre un mouvement par courroie",
            "global_shape": f"Disque Ø{_number(outer)} × {_number(width)} mm avec une gorge en V",
            "components": ["jante à gorge en V", "moyeu", f"alésage Ø{_number(bore)}"],
            "interfaces": ["courroie trapézoïdale", f"arbre Ø{_number(bore)}"],
            "working_principle": "Entraînement par adhérence de la courroie dans la gorge",
            "materials_guess": ["aluminium 2017 anodisé"],
            "manufacturing": ["tournage"],
            "assembly_hypothesis": f"Montée sur un arbre Ø{_number(bore)}",
            "uncertainties": ["arrêt en rotation non représenté"],
            "risks_limits": ["glissement de la courroie"],
        },
    )


def sample_parts() -> list[Part]:
    """The eight sample parts, in the order of data/fiches.jsonl."""
    return [mounting_plate(), l_bracket(), tube_spacer(), bolted_flange(), shouldered_shaft(), u_channel(),
            hinge_leaf(), v_pulley()]


def render_view(part: Part, view: View) -> Sheet:
    """One view drawn on its finished sheet (`.image`, with the `.labels` and `.holes` drawn)."""
    sheet = Sheet(view.extent, part.colour)
    view.paint(sheet)
    sheet.finish(view.title, part.name, part.fiche_id)
    return sheet


def image_path(part: Part, view: View) -> str:
    """The view's path relative to the JSONL's folder."""
    return f"images/{part.fiche_id}_{view.key}.png"


def fiche_record(part: Part) -> dict[str, object]:
    return {"id": part.fiche_id, "images": [image_path(part, view) for view in part.views],
            "context_text": CONTEXT_TEXT, "instruction": INSTRUCTION, "output": part.gold()}


def write_sample(out_dir: Path) -> list[dict[str, object]]:
    """Write OUT_DIR/fiches.jsonl and OUT_DIR/images/*.png; each file is replaced atomically. Returns the records."""
    records = []
    for part in sample_parts():
        for view in part.views:
            with atomic_path(out_dir / image_path(part, view), suffix=".png") as temporary:
                render_view(part, view).image.save(temporary, format="PNG")
        records.append(fiche_record(part))
    atomic_write_text(out_dir / "fiches.jsonl", dumps_jsonl(records))
    return records


@click.command("samples")
@click.argument("out_dir", required=False, default="data", type=click.Path(file_okay=False, path_type=Path))
def samples(out_dir: Path) -> None:
    """Regenerate the sample: 8 fiches of drawn mechanical parts in OUT_DIR/fiches.jsonl + OUT_DIR/images/.

    Deterministic: the same pixels and JSONL bytes every run. OUT_DIR defaults to ./data.

    Example: fiche samples data/
    """
    records = write_sample(out_dir)
    views = sum(len(record["images"]) for record in records)  # type: ignore[arg-type]
    click.echo(f"{len(records)} fiches, {views} views written to {out_dir / 'fiches.jsonl'}")


COMMANDS = [samples]
