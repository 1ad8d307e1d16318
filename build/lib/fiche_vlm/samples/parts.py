"""The eight parametric sample parts: each part's dimensioned views and the gold fiche those views support."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fiche_vlm.samples.sheet import (
    ALUMINIUM_GREY,
    ANODISED_PURPLE,
    BLUED_STEEL,
    BRASS_YELLOW,
    BRONZE_ORANGE,
    CAST_IRON_RED,
    INK,
    OUTLINE,
    PVC_GREEN,
    STEEL_BLUE,
    THIN,
    Point,
    Sheet,
    dimension_text,
    shade,
)

# Shared by every gold: phrases the small model learns once.
ASSUMPTIONS = ["cotes en mm", "tolérances ISO 2768-m"]


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
        s.leader((W - inset + hole * 0.35, inset - hole * 0.35), 30, 70, f"4× Ø{dimension_text(hole)}")

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
            "global_shape": f"Plaque rectangulaire {dimension_text(W)} × {dimension_text(D)} × {dimension_text(H)} mm",
            "components": ["plaque pleine", f"4 trous Ø{dimension_text(hole)}"],
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
        s.leader((hole_x + hole * 0.35, hole_z[0] - hole * 0.35), 60, 40, f"2× Ø{dimension_text(hole)}")

    def side(s: Sheet) -> None:
        s.rect(0, 0, D, H)
        s.hidden((0, t), (D, t))  # the inner corner, behind the vertical leg's outer face
        for z in hole_z:
            s.hole(z, hole_y, hole)
        s.hdim(0, D, 0, 40, D)
        s.vdim(0, H, D, 36, H)
        s.leader((hole_z[0] - hole * 0.35, hole_y + hole * 0.35), -60, -70, f"2× Ø{dimension_text(hole)}")

    return Part(
        "bracket-02", "Équerre de fixation", ALUMINIUM_GREY, {"H": H, "W": W, "D": D},
        [View("face", "VUE DE FACE", (W, H), front), View("dessus", "VUE DE DESSUS", (W, D), top),
         View("gauche", "VUE DE GAUCHE", (D, H), side)],
        {
            "object": "Équerre de fixation",
            "function": "Relier deux pièces à angle droit",
            "global_shape": f"Cornière en L {dimension_text(W)} × {dimension_text(H)} × {dimension_text(D)} mm, "
                            f"épaisseur {dimension_text(t)} mm",
            "components": ["aile horizontale", "aile verticale", f"4 trous Ø{dimension_text(hole)}"],
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
        s.leader((outer / 2 + bore * 0.35, outer / 2 + bore * 0.35), 130, -120, f"Ø{dimension_text(bore)}")

    return Part(
        "spacer-03", "Entretoise tubulaire", BRASS_YELLOW, {"H": length, "W": outer, "D": outer},
        [View("coupe", "COUPE A-A", (outer, length), section), View("dessus", "VUE DE DESSUS", (outer, outer), top)],
        {
            "object": "Entretoise tubulaire",
            "function": "Maintenir un écart fixe entre deux pièces",
            "global_shape": f"Tube cylindrique Ø{dimension_text(outer)} × {dimension_text(length)} mm, alésage Ø{dimension_text(bore)}",
            "components": [f"tube Ø{dimension_text(outer)}", f"alésage traversant Ø{dimension_text(bore)}"],
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
        s.disc(r, r, hub, fill=shade(CAST_IRON_RED, 0.8))
        s.hole(r, r, bore)
        s.draw.ellipse(s.box(r, r, pitch), outline=THIN, width=2)
        for k in range(holes):
            angle = math.pi / 2 + 2 * math.pi * k / holes
            s.hole(r + pitch / 2 * math.cos(angle), r + pitch / 2 * math.sin(angle), hole)
        s.vdim(0, outer, r, -round(r * s.scale) - 36, outer, "Ø")
        tip = (r + pitch / 2 * math.cos(math.pi / 6) + hole * 0.35, r + pitch / 2 * math.sin(math.pi / 6) + hole * 0.35)
        s.leader(tip, 60, -60, f"{holes}× Ø{dimension_text(hole)}")
        s.leader((r + pitch / 2 * math.cos(-math.pi / 4), r + pitch / 2 * math.sin(-math.pi / 4)), 90, 60,
                 f"Ø{dimension_text(pitch)}")

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
            "global_shape": f"Disque Ø{dimension_text(outer)} à moyeu Ø{dimension_text(hub)}, alésage Ø{dimension_text(bore)}, "
                            f"longueur {dimension_text(length)} mm",
            "components": [f"disque Ø{dimension_text(outer)}", f"moyeu Ø{dimension_text(hub)}",
                           f"{holes} trous Ø{dimension_text(hole)} sur Ø{dimension_text(pitch)}"],
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
        s.disc(big / 2, big / 2, small, fill=shade(BLUED_STEEL, 1.6))
        s.centerline((-4, big / 2), (big + 4, big / 2))
        s.centerline((big / 2, -4), (big / 2, big + 4))
        s.hdim(0, big, 0, 40, big, "Ø")
        s.leader((big / 2 + small * 0.35, big / 2 + small * 0.35), 120, -110, f"Ø{dimension_text(small)}")

    return Part(
        "shaft-05", "Arbre épaulé", BLUED_STEEL, {"H": big, "W": length, "D": big},
        [View("face", "VUE DE FACE", (length, big), front), View("droite", "VUE DE DROITE", (big, big), right)],
        {
            "object": "Arbre épaulé",
            "function": "Transmettre un couple, positionner un roulement",
            "global_shape": f"Cylindre étagé Ø{dimension_text(big)}/Ø{dimension_text(small)}, longueur {dimension_text(length)} mm",
            "components": [f"portée Ø{dimension_text(big)}", f"portée Ø{dimension_text(small)}", "épaulement"],
            "interfaces": [f"roulement sur Ø{dimension_text(small)}", "appui sur l'épaulement"],
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
            "global_shape": f"Section en U {dimension_text(W)} × {dimension_text(H)} mm, épaisseur {dimension_text(t)} mm, "
                            f"longueur {dimension_text(D)} mm",
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
    knuckle_colour = shade(BRONZE_ORANGE, 0.75)

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
        s.leader((hole_x + hole * 0.35, hole_ys[-1] + hole * 0.35), 50, -44, f"{knuckles}× Ø{dimension_text(hole)}")

    def top(s: Sheet) -> None:
        s.rect(barrel / 2, 0, W, t)
        s.disc(barrel / 2, barrel / 2, barrel, fill=knuckle_colour)
        s.hdim(0, W, 0, 40, W)
        s.vdim(0, t, W, 36, t)
        s.leader((barrel / 2 - barrel * 0.35, barrel / 2 + barrel * 0.35), -40, -50, f"Ø{dimension_text(barrel)}")

    return Part(
        "hinge-07", "Paumelle de charnière", BRONZE_ORANGE, {"H": H, "W": W, "D": barrel},
        [View("face", "VUE DE FACE", (W, H), front), View("dessus", "VUE DE DESSUS", (W, barrel), top)],
        {
            "object": "Paumelle de charnière",
            "function": "Articuler une porte sur son cadre",
            "global_shape": f"Lame {dimension_text(W)} × {dimension_text(H)} × {dimension_text(t)} mm roulée sur un bord",
            "components": ["lame", f"{knuckles} charnons Ø{dimension_text(barrel)}",
                           f"{knuckles} trous fraisés Ø{dimension_text(hole)}"],
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
        s.leader((r + bore * 0.35, r + bore * 0.35), 150, -150, f"Ø{dimension_text(bore)}")

    return Part(
        "pulley-08", "Poulie à gorge", ANODISED_PURPLE, {"H": outer, "W": outer, "D": width},
        [View("coupe", "COUPE A-A", (width, outer), section), View("face", "VUE DE FACE", (outer, outer), face)],
        {
            "object": "Poulie à gorge",
            "function": "Transmettre un mouvement par courroie",
            "global_shape": f"Disque Ø{dimension_text(outer)} × {dimension_text(width)} mm avec une gorge en V",
            "components": ["jante à gorge en V", "moyeu", f"alésage Ø{dimension_text(bore)}"],
            "interfaces": ["courroie trapézoïdale", f"arbre Ø{dimension_text(bore)}"],
            "working_principle": "Entraînement par adhérence de la courroie dans la gorge",
            "materials_guess": ["aluminium 2017 anodisé"],
            "manufacturing": ["tournage"],
            "assembly_hypothesis": f"Montée sur un arbre Ø{dimension_text(bore)}",
            "uncertainties": ["arrêt en rotation non représenté"],
            "risks_limits": ["glissement de la courroie"],
        },
    )


def sample_parts() -> list[Part]:
    """The eight sample parts, in the order of data/fiches.jsonl."""
    return [mounting_plate(), l_bracket(), tube_spacer(), bolted_flange(), shouldered_shaft(), u_channel(),
            hinge_leaf(), v_pulley()]
