"""Could vLLM's xgrammar backend constrain image → CadQuery answers? Prints one JSON line per check.

Two candidate constraints: a fenced-block regex (vLLM `structured_outputs.regex`) and an EBNF grammar
(`structured_outputs.grammar`) of the straight-line code GenCAD-Code and CAD-Recode write. Each is checked for
accepting the sample programs (data/cadquery) and refusing code that does not compile or steps outside that
subset. Grammar acceptance only: no model is served, so nothing here says how a model's answers change.

Usage: .venv-serve/bin/python benchmarks/cadquery_grammar_probe.py
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import xgrammar
from xgrammar.testing import _is_grammar_accept_string as accepts

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cadquery" / "cadquery.jsonl"
FENCE_REGEX = r"```python\n[^`]*```"
STRAIGHT_LINE_EBNF = r'''
root ::= "```python\n" program "```"
program ::= "import cadquery as cq\n" line*
line ::= (comment | assign) "\n"
comment ::= "#" [^\n]*
assign ::= name ws "=" ws expr
expr ::= "-"? atom trailer*
atom ::= name | number | string | "(" ws args? ws ")" | "[" ws args? ws "]"
trailer ::= "." name | "(" ws args? ws ")"
args ::= arg (ws "," ws arg)* (ws ",")?
arg ::= (name "=")? expr
name ::= [a-zA-Z] [a-zA-Z0-9_]*
number ::= [0-9]+ ("." [0-9]*)? ([eE] [-+]? [0-9]+)?
string ::= "'" [^'\\\n]* "'" | "\"" [^"\\\n]* "\""
ws ::= [ ]*
'''
OUTSIDE = {
    "import os": "import os\nos.system('id')\n",
    "unclosed call": "import cadquery as cq\nr = cq.Workplane('XY').box(1, 2\n",
    "for loop": "import cadquery as cq\nfor i in range(3):\n    pass\n",
    "__import__": "import cadquery as cq\nr = __import__('os')\n",
}


def fenced(code: str) -> str:
    return "```python\n" + code + "```"


def main() -> None:
    samples = {record["deepcad_id"]: record["cadquery"]
               for record in map(json.loads, SAMPLE.read_text(encoding="utf-8").splitlines())}
    started = time.perf_counter()
    grammars = {"fence regex": xgrammar.Grammar.from_regex(FENCE_REGEX),
                "straight-line EBNF": xgrammar.Grammar.from_ebnf(STRAIGHT_LINE_EBNF)}
    print(json.dumps({"check": "parse both grammars", "ms": round(1e3 * (time.perf_counter() - started), 2)}))
    for label, grammar in grammars.items():
        accepted = sorted(key for key, code in samples.items() if accepts(grammar, fenced(code)))
        print(json.dumps({"grammar": label, "samples_accepted": f"{len(accepted)}/{len(samples)}",
                          "outside_code_accepted": [key for key, code in OUTSIDE.items()
                                                    if accepts(grammar, fenced(code))]}))


if __name__ == "__main__":
    main()
