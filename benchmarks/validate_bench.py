"""Fiche validation speed on one core: prints one JSON line per measurement.

Fiches are varied (sample gold outputs with shuffled lists, changed texts and dimensions, seeded); the "mixed"
run makes one in ten invalid, so jsonschema's error path (the messages) is part of the figure. `validate_fiche` is
jsonschema-rs's yes/no, then jsonschema for the messages of an invalid fiche; the reference row is jsonschema alone.
Model answers arrive a few to a few hundred per second, so about 1,000 fiches/s is enough.

Usage: .venv/bin/python benchmarks/validate_bench.py [--n 20000]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import time
from pathlib import Path

from fiche_schema import load_schema
from fiche_schema.validate import json_schema_validator, validate_fiche

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "fiches.jsonl"
WORDS = ["corps", "roue", "moteur", "bride DN50", "joint torique", "vis M8", "palier", "arbre Ø20", "couvercle",
         "acier S235", "fonte GJL-250", "usinage", "moulage", "soudage", "pliage", "cavitation", "corrosion"]


def varied_fiches(n: int, invalid_every: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    golds = [json.loads(line)["output"] for line in SAMPLES.read_text(encoding="utf-8").splitlines()]
    golds = [gold for gold in golds if gold is not None]
    fiches = []
    for index in range(n):
        fiche = copy.deepcopy(rng.choice(golds))
        for key in ("components", "interfaces", "materials_guess", "manufacturing", "uncertainties"):
            fiche[key] = rng.sample(WORDS, rng.randint(0, 8))
        fiche["object"] = f"{fiche['object'][:60]} {index}"
        fiche["dimensions"] = {"H": rng.randint(1, 2000), "W": round(rng.uniform(1, 2000), 2),
                               "D": rng.randint(1, 2000), "unit": rng.choice(["mm", "cm", "m", "in"])}
        if invalid_every and index % invalid_every == 0:
            rng.choice([lambda f: f.pop("function"), lambda f: f["components"].append("x\ny"),
                        lambda f: f["dimensions"].update(unit="ft")])(fiche)
        fiches.append(fiche)
    return fiches


def measure(name: str, check, fiches: list[dict]) -> None:
    started = time.perf_counter()
    invalid = sum(bool(check(fiche)) for fiche in fiches)
    seconds = time.perf_counter() - started
    print(json.dumps({"benchmark": "validate_fiche", "case": name, "fiches": len(fiches), "invalid": invalid,
                      "seconds": round(seconds, 4), "fiches_per_s": round(len(fiches) / seconds),
                      "target_fiches_per_s": 1000, "cores": 1, "machine": platform.machine(),
                      "python": platform.python_version()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="fiches per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    validate_fiche({})  # build the validators outside the timing
    reference = json_schema_validator(load_schema("fiche"))
    measure("valid", validate_fiche, varied_fiches(args.n, 0))
    measure("mixed_10pct_invalid", validate_fiche, varied_fiches(args.n, 10))
    measure("jsonschema_only_reference", lambda f: list(reference.iter_errors(f)), varied_fiches(args.n // 10, 10))


if __name__ == "__main__":
    main()
