"""`file:line` in messages, with the file name made printable: one name must read as one line on the terminal.

A file name may hold a newline or another control character (or, decoded from bytes that are not UTF-8, a
lone surrogate that cannot even be printed); each is shown as a backslash escape, and so is a backslash, so
that the shown name is unambiguous. Letters of any script stay as they are.
"""
from __future__ import annotations

import unicodedata
from os import PathLike

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, format (bidi overrides), surrogates, line separators


def printable(text: str) -> str:
    """`text` with every control, format or surrogate character and every backslash escaped."""
    return "".join(_SHORT_ESCAPES.get(char) or (_escape(char) if unicodedata.category(char) in _UNPRINTABLE else char)
                   for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def location(path: str | PathLike[str], line: int | None = None) -> str:
    """`path:line` (or `path` alone) for a message, the path made printable."""
    shown = printable(str(path))
    return shown if line is None else f"{shown}:{line}"
