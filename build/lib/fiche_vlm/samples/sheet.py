"""Drawing one view of a sample part on a sheet: outline, fill or hatching, dimension lines, hole callouts and the
title block, in DejaVu Sans (matplotlib's bundled copy when present) so the pixels do not depend on the machine."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

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
    raise FileNotFoundError("no DejaVuSans.ttf found (install matplotlib or fonts-dejavu-core): "
                               + ", ".join(map(str, candidates)))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_file()), size)


def shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
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
            pen.line([(start, height), (start + height, 0)], fill=shade(self.colour, 0.55), width=3)
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
        label = prefix + dimension_text(value)
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
        label = prefix + dimension_text(value)
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


def dimension_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
