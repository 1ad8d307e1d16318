"""`"` and `\\` in fiche text: written ″ (U+2033) and ⧵ (U+29F5), and restored on demand.

Under xgrammar 0.2.8 a pattern-bounded JSON string can hold neither `"` nor `\\`, raw or escaped (measured: the
grammar accepts none of `x"y`, `x\\"y`, `x\\\\y`, `x\\u0022y`; README "String rule"). Engineers write them
(a 1/2" thread, a C:\\ path), so the fiche converter and `fiche validate` replace them before the schema check
instead of refusing the fiche, and count the replacements. `restore_quotes` maps the substitutes back for people
who read the answers; a ″ or ⧵ the user wrote comes back as `"` or `\\` too (for ″, the same inch mark).
"""
from __future__ import annotations

from typing import Any

SUBSTITUTES = {'"': "\u2033", "\\": "\u29f5"}
_SUBSTITUTE = str.maketrans(SUBSTITUTES)
_RESTORE = str.maketrans({sub: char for char, sub in SUBSTITUTES.items()})


def substitute_quotes(value: Any) -> tuple[Any, int]:
    """`value` with `"` and `\\` replaced in every string value, and how many characters were replaced."""
    if isinstance(value, str):
        return value.translate(_SUBSTITUTE), sum(value.count(char) for char in SUBSTITUTES)
    if isinstance(value, list):
        items = [substitute_quotes(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if isinstance(value, dict):
        items = {key: substitute_quotes(item) for key, item in value.items()}
        return {key: item for key, (item, _) in items.items()}, sum(count for _, count in items.values())
    return value, 0


def restore_quotes(value: Any) -> Any:
    """`value` with ″ and ⧵ turned back into `"` and `\\` in every string value."""
    if isinstance(value, str):
        return value.translate(_RESTORE)
    if isinstance(value, list):
        return [restore_quotes(item) for item in value]
    if isinstance(value, dict):
        return {key: restore_quotes(item) for key, item in value.items()}
    return value
