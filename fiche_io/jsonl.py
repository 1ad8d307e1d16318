"""Reading JSON and JSONL under one policy, for every reader in the project.

- UTF-8, with or without a byte-order mark (editors on Windows write one); a line that is not UTF-8 is reported.
- JSON as the standard has it: NaN and Infinity are refused, and so is a key given twice in one object (json
  would silently keep the last one: an `id` given twice became the second).
- Nesting deeper than MAX_DEPTH is refused before any consumer recurses into it.
- Every problem is a RecordError naming the field; callers add the file and line. Nothing raises past a line.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fiche_io.locations import location

# Fiches nest 3 deep, sharegpt 4, Text2CAD about 10; consumers recurse a few frames per level, so 64 levels
# stay far from Python's recursion limit (depth 900 already crashed the CAD checks).
MAX_DEPTH = 64

T = TypeVar("T")


class RecordError(ValueError):
    """One record cannot be used: `field` names the part that is wrong (dotted, e.g. `images[1]`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class StrictJSONError(ValueError):
    """The text is not JSON under the project's policy; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise StrictJSONError(f"non-standard JSON constant {name} (JSON has no NaN or Infinity)")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise StrictJSONError(f"key {twice!r} appears twice in one object")
    return result


# Built once: json.loads(…, hooks) builds a decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant)


def nesting_depth(value: Any) -> int:
    """Depth of nested arrays/objects (a scalar is 0), walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def unencodable_text(value: Any) -> str | None:
    """Why `value` cannot be written as UTF-8 (a lone surrogate from an escape such as \\ud800), or None.
    JSON lets such escapes through; every later write of the text would fail."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                lone = item[error.start]
                return f"a string holds a lone surrogate \\u{ord(lone):04x}, which no UTF-8 text can hold"
    return None


def _decoding(decode: Callable[[], T]) -> T:
    """`decode()`, its errors said as StrictJSONError."""
    try:
        return decode()
    except json.JSONDecodeError as error:
        raise StrictJSONError(f"malformed JSON ({error.msg}: line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise StrictJSONError(f"nested deeper than {MAX_DEPTH} levels") from None


def _check_decoded(value: Any) -> None:
    if nesting_depth(value) > MAX_DEPTH:
        raise StrictJSONError(f"nested deeper than {MAX_DEPTH} levels")
    problem = unencodable_text(value)
    if problem is not None:
        raise StrictJSONError(problem)


def loads_strict(text: str) -> Any:
    """`text` as JSON under the policy above; StrictJSONError says why not."""
    value = _decoding(lambda: _DECODER.decode(text))
    _check_decoded(value)
    return value


def raw_decode_strict(text: str, start: int = 0) -> tuple[Any, int]:
    """(value, end) of the JSON value at `start`, text after it allowed; StrictJSONError as loads_strict."""
    value, end = _decoding(lambda: _DECODER.raw_decode(text, start))
    _check_decoded(value)
    return value, end


@dataclass(frozen=True)
class Line:
    """One non-blank line (or array element) of an input file: its parsed object, or why it has none."""
    number: int  # 1-based line number; for a JSON array file, the element's position
    raw: str  # the text as read (undecodable bytes replaced by U+FFFD)
    value: dict[str, Any] | None
    error: RecordError | None

    def where(self, source: Path | str) -> str:
        return location(source, self.number)


def parse_line(number: int, raw: str) -> Line:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return Line(number, text, None, RecordError("line", "not valid UTF-8"))
    try:
        value = loads_strict(raw)
    except StrictJSONError as error:
        return Line(number, raw, None, RecordError("line", str(error)))
    if not isinstance(value, dict):
        return Line(number, raw, None, RecordError("line", f"expected a JSON object, got {type(value).__name__}"))
    return Line(number, raw, value, None)


def iter_jsonl(path: Path | str) -> Iterator[Line]:
    """Every non-blank line of a JSONL file, parsed or with its RecordError; an OSError if it cannot be opened."""
    with Path(path).open(encoding="utf-8-sig", errors="surrogateescape", newline="\n") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip("\r\n")
            if raw.strip():
                yield parse_line(number, raw)


def looks_like_json_array(path: Path | str) -> bool:
    with Path(path).open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf")
    return head.lstrip().startswith(b"[")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _array_lines(text: str) -> Iterator[Line]:
    """The elements of a JSON array text, each numbered by the line it starts on; a break in the array ends it
    with one error line where json stopped."""
    position, line, counted = _skip_space(text, text.index("[") + 1), 1, 0

    def line_at(offset: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, offset)
        counted = offset
        return line

    while position < len(text) and text[position] != "]":
        start = position
        try:
            value, position = raw_decode_strict(text, start)
        except StrictJSONError as error:
            yield Line(line_at(start), text[start:start + 200], None, RecordError("record", str(error)))
            return
        raw = text[start:position]
        if isinstance(value, dict):
            yield Line(line_at(start), raw, value, None)
        else:
            yield Line(line_at(start), raw, None,
                       RecordError("record", f"expected a JSON object, got {type(value).__name__}"))
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
        elif position >= len(text) or text[position] != "]":
            yield Line(line_at(min(position, len(text))), text[position:position + 200], None,
                       RecordError("record", "malformed JSON array (expected ',' or ']')"))
            return


def read_records(path: Path | str) -> list[Line]:
    """The records of a JSONL file, or of a JSON array file (LLaMA-Factory's usual sharegpt file), each with
    the line it starts on and the same checks as a JSONL line."""
    path = Path(path)
    if not looks_like_json_array(path):
        return list(iter_jsonl(path))
    return list(_array_lines(path.read_bytes().decode("utf-8-sig", errors="replace")))


# Characters that many line readers (Python's str.splitlines, editors) take for line breaks although JSON lets them
# stand raw in a string: written escaped, so one record is always one line.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def dumps_line(record: dict[str, Any]) -> str:
    """One JSON object as one line (no newline at the end): UTF-8 text kept as is, except the characters other
    readers take for line breaks, which are escaped; NaN refused (the output must be JSON)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False).translate(_LINE_BREAKS)


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    """One JSON object per line (see dumps_line)."""
    return "".join(dumps_line(record) + "\n" for record in records)
