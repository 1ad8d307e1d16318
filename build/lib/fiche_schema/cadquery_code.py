"""Generated CadQuery code before it runs: taken out of a model answer (fenced or not), size-bounded, compiled."""
from __future__ import annotations

import re

# Generated CadQuery programs are a few kB (CAD-Recode's longest are under 3 kB); a larger answer is refused
# before Python's parser sees it.
MAX_CODE_CHARS = 200_000

_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)",
                    re.DOTALL | re.MULTILINE)
_PYTHON = {"", "python", "python3", "py", "py3"}


def code_of(answer: str) -> str:
    """The code in a model answer: the first ``` (or ~~~) block tagged Python or untagged, else the first block,
    else the whole answer. A reply cut inside its fence keeps what it has; a leading BOM is dropped."""
    blocks = [(match.group(2).lower(), match.group(3)) for match in _FENCE.finditer(answer)]
    python = [code for language, code in blocks if language in _PYTHON]
    code = python[0] if python else blocks[0][1] if blocks else answer
    return code.removeprefix("\ufeff")


def syntax_error(code: str) -> str | None:
    """Why `code` cannot be compiled as Python (with the line), or None. Never executes anything."""
    if len(code) > MAX_CODE_CHARS:
        return f"the code is {len(code):,} characters, over the {MAX_CODE_CHARS:,} limit"
    try:
        compile(code, "generated.py", "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    except ValueError as error:  # a NUL byte
        return f"ValueError: {error}"
    except (MemoryError, RecursionError):  # the parser's own stack: deeply nested expressions
        return "the code is nested too deeply for Python's parser"
    return None
