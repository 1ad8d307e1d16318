"""String normalisation for comparing short model strings with gold strings."""
from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def strip_accents(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def normalise(text: str) -> str:
    """Compatibility-folded, accent-free, case-folded words joined by single spaces.

    «Acier  inoxydable.» and «acier inoxydable» compare equal; «4 trous Ø8» and «4 trous ø 8» do not (the
    digits stay glued to the diameter sign as written), which keeps numbers meaningful.
    """
    return " ".join(_WORD.findall(strip_accents(unicodedata.normalize("NFKC", text)).casefold()))
