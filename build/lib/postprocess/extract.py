"""Pull the JSON object out of a model reply, repairing only what can be repaired without guessing.

Repairs made (each one reported): a code fence or prose around the object is removed; trailing commas are
removed; single-quoted strings and Python literals (True/False/None) become JSON; raw control characters inside
strings are accepted as the characters they are; a reply cut off before its end is closed, and the member or
item that was being written when the text ended is DROPPED (a number or string cut short is never kept, so no
value is made up). Anything else (unquoted keys, NaN, duplicate keys, a missing comma) is an `ExtractError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fiche_io.jsonl import MAX_DEPTH, StrictJSONError, raw_decode_strict, unencodable_text


class ErrorKind(str, Enum):
    EMPTY = "empty"  # nothing but whitespace
    NO_OBJECT = "no_object"  # no "{" anywhere
    SYNTAX = "syntax"  # malformed in a way no listed repair fixes
    DUPLICATE_KEY = "duplicate_key"  # ambiguous: which value did the model mean?
    NOT_TEXT = "not_text"  # a lone surrogate escape such as \ud800: no UTF-8 text can hold it
    NON_FINITE = "non_finite"  # NaN, Infinity or a number too large for a float
    TOO_DEEP = "too_deep"  # nested deeper than MAX_DEPTH


class RepairKind(str, Enum):
    CODE_FENCE = "code_fence"
    TEXT_BEFORE = "text_before"
    TEXT_AFTER = "text_after"
    TRAILING_COMMA = "trailing_comma"
    SINGLE_QUOTES = "single_quotes"
    PYTHON_LITERAL = "python_literal"
    CONTROL_CHARACTER = "control_character"
    DROPPED_INCOMPLETE = "dropped_incomplete"
    CLOSED_TRUNCATED = "closed_truncated"


@dataclass(frozen=True)
class ExtractError:
    kind: ErrorKind
    message: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.kind.value} at line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True)
class Repair:
    kind: RepairKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Extracted:
    """Either `value` (a dict) or `error`; `repairs` lists every change made to get `value`."""

    value: dict | None
    error: ExtractError | None
    repairs: tuple[Repair, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None


class _Fail(Exception):
    def __init__(self, kind: ErrorKind, message: str, pos: int) -> None:
        super().__init__(message)
        self.kind, self.message, self.pos = kind, message, pos


class _Truncated(Exception):
    """The text ended inside a value; `partial` is what could be kept of it (None: drop it)."""

    def __init__(self, partial: Any = None) -> None:
        super().__init__("truncated")
        self.partial = partial


_FENCE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_]+")
_PARTIAL_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WHITESPACE = " \t\n\r"


def _line_column(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


class _LenientParser:
    """Recursive descent over `text` from a "{", collecting repairs; positions are offsets into `text`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)
        self.repairs: list[tuple[RepairKind, int, str]] = []

    def note(self, kind: RepairKind, pos: int, detail: str = "") -> None:
        self.repairs.append((kind, pos, detail))

    def skip_ws(self, i: int) -> int:
        while i < self.end and self.text[i] in _WHITESPACE:
            i += 1
        return i

    def value(self, i: int, depth: int) -> tuple[Any, int]:
        i = self.skip_ws(i)
        if i >= self.end:
            raise _Truncated(None)
        char = self.text[i]
        if char == "{":
            return self.object(i, depth + 1)
        if char == "[":
            return self.array(i, depth + 1)
        if char in "\"'":
            return self.string(i)
        if char == "-" or char.isdigit():
            return self.number(i)
        word = _WORD.match(self.text, i)
        if word:
            return self.literal(word.group(), i)
        raise _Fail(ErrorKind.SYNTAX, f"unexpected character {char!r} where a value should start", i)

    def literal(self, word: str, i: int) -> tuple[Any, int]:
        after = i + len(word)
        json_literals = {"true": True, "false": False, "null": None}
        python_literals = {"True": True, "False": False, "None": None}
        if word in json_literals:
            return json_literals[word], after
        if word in python_literals:
            self.note(RepairKind.PYTHON_LITERAL, i, word)
            return python_literals[word], after
        if after >= self.end and any(name.startswith(word) for name in (*json_literals, *python_literals)):
            raise _Truncated(None)
        if word in ("NaN", "Infinity"):
            raise _Fail(ErrorKind.NON_FINITE, f"{word} is not a JSON number", i)
        raise _Fail(ErrorKind.SYNTAX, f"unexpected word {word!r} where a value should start", i)

    def number(self, i: int) -> tuple[Any, int]:
        match = _NUMBER.match(self.text, i)
        if match is None:
            if self.text.startswith("-Infinity", i):
                raise _Fail(ErrorKind.NON_FINITE, "-Infinity is not a JSON number", i)
            if i + 1 >= self.end:
                raise _Truncated(None)
            raise _Fail(ErrorKind.SYNTAX, "malformed number", i)
        if _PARTIAL_NUMBER_TAIL.fullmatch(self.text, match.end(), self.end):
            raise _Truncated(None)  # the digits may have gone on: never keep a number cut short
        token = match.group()
        try:
            number: Any = float(token) if any(c in token for c in ".eE") else int(token)
        except ValueError:
            raise _Fail(ErrorKind.SYNTAX, "number has too many digits", i) from None
        if isinstance(number, float) and number in (float("inf"), float("-inf")):
            raise _Fail(ErrorKind.NON_FINITE, f"{token[:20]} is too large for a float", i)
        return number, match.end()

    def string(self, i: int) -> tuple[str, int]:
        quote = self.text[i]
        if quote == "'":
            self.note(RepairKind.SINGLE_QUOTES, i)
        chars: list[str] = []
        j = i + 1
        while j < self.end:
            char = self.text[j]
            if char == quote:
                return "".join(chars), j + 1
            if char == "\\":
                if j + 1 >= self.end:
                    break
                escape = self.text[j + 1]
                if escape == "u":
                    digits = self.text[j + 2:j + 6]
                    if len(digits) < 4 and j + 2 + len(digits) >= self.end:
                        break
                    if len(digits) < 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                        raise _Fail(ErrorKind.SYNTAX, "malformed \\u escape in a string", j)
                    chars.append(chr(int(digits, 16)))
                    j += 6
                    continue
                if escape in _ESCAPES:
                    chars.append(_ESCAPES[escape])
                elif escape == "'" and quote == "'":
                    chars.append("'")
                else:
                    raise _Fail(ErrorKind.SYNTAX, f"invalid escape \\{escape} in a string", j)
                j += 2
                continue
            if char < " ":
                self.note(RepairKind.CONTROL_CHARACTER, j, f"U+{ord(char):04X}")
            chars.append(char)
            j += 1
        raise _Truncated(None)

    def next_member(self, j: int, partial: dict | list, closer: str, what: str) -> tuple[bool, int]:
        """From `j` inside a container holding `partial`: (True, after the closer) when it ends here, else
        (False, where its next member starts), past the separating comma. A comma before the closer is repaired."""
        j = self.skip_ws(j)
        if j < self.end and self.text[j] == closer:
            return True, j + 1
        if partial and j < self.end:
            if self.text[j] != ",":
                raise _Fail(ErrorKind.SYNTAX, f"expected ',' or '{closer}' after {what}", j)
            comma = j
            j = self.skip_ws(j + 1)
            if j < self.end and self.text[j] == closer:
                self.note(RepairKind.TRAILING_COMMA, comma)
                return True, j + 1
        if j >= self.end:
            self.note(RepairKind.CLOSED_TRUNCATED, j)
            raise _Truncated(partial)
        return False, j

    def object(self, i: int, depth: int) -> tuple[dict, int]:
        if depth > MAX_DEPTH:
            raise _Fail(ErrorKind.TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels", i)
        result: dict[str, Any] = {}
        j = i + 1
        while True:
            closed, j = self.next_member(j, result, "}", "an object member")
            if closed:
                return result, j
            if self.text[j] not in "\"'":
                raise _Fail(ErrorKind.SYNTAX, "expected a quoted key", j)
            key_pos = j
            try:
                key, j = self.string(j)
            except _Truncated:
                self.note(RepairKind.DROPPED_INCOMPLETE, key_pos, "a key cut off by the end of the text")
                self.note(RepairKind.CLOSED_TRUNCATED, self.end)
                raise _Truncated(result) from None
            j = self.skip_ws(j)
            if j >= self.end:
                self.note(RepairKind.DROPPED_INCOMPLETE, key_pos, f"member {key!r}: the text ends after its key")
                self.note(RepairKind.CLOSED_TRUNCATED, self.end)
                raise _Truncated(result)
            if self.text[j] != ":":
                raise _Fail(ErrorKind.SYNTAX, f"expected ':' after key {key!r}", j)
            if key in result:
                raise _Fail(ErrorKind.DUPLICATE_KEY, f"key {key!r} appears twice", key_pos)
            try:
                result[key], j = self.value(j + 1, depth)
            except _Truncated as cut:
                if cut.partial is None:
                    self.note(RepairKind.DROPPED_INCOMPLETE, key_pos, f"member {key!r}: its value is cut off")
                    self.note(RepairKind.CLOSED_TRUNCATED, self.end)
                else:
                    result[key] = cut.partial
                    self.note(RepairKind.CLOSED_TRUNCATED, self.end)
                raise _Truncated(result) from None

    def array(self, i: int, depth: int) -> tuple[list, int]:
        if depth > MAX_DEPTH:
            raise _Fail(ErrorKind.TOO_DEEP, f"nested deeper than {MAX_DEPTH} levels", i)
        result: list[Any] = []
        j = i + 1
        while True:
            closed, j = self.next_member(j, result, "]", "an array item")
            if closed:
                return result, j
            item_pos = j
            try:
                item, j = self.value(j, depth)
            except _Truncated as cut:
                if cut.partial is None:
                    self.note(RepairKind.DROPPED_INCOMPLETE, item_pos, f"item {len(result)} of an array: cut off")
                else:
                    result.append(cut.partial)
                self.note(RepairKind.CLOSED_TRUNCATED, self.end)
                raise _Truncated(result) from None
            result.append(item)


def _describe(text: str, raw: list[tuple[RepairKind, int, str]]) -> tuple[Repair, ...]:
    """One Repair per kind (counted, first position given), except dropped parts, which are each named."""
    repairs: list[Repair] = []
    by_kind: dict[RepairKind, list[tuple[int, str]]] = {}
    for kind, pos, detail in raw:
        by_kind.setdefault(kind, []).append((pos, detail))
    labels = {
        RepairKind.TRAILING_COMMA: "removed {n} trailing comma(s)",
        RepairKind.SINGLE_QUOTES: "converted {n} single-quoted string(s) to double quotes",
        RepairKind.PYTHON_LITERAL: "converted {n} Python literal(s) ({details}) to JSON",
        RepairKind.CONTROL_CHARACTER: "kept {n} raw control character(s) ({details}) found inside strings",
    }
    for kind, items in by_kind.items():
        first_line, first_column = _line_column(text, items[0][0])
        if kind is RepairKind.DROPPED_INCOMPLETE:
            for pos, detail in items:
                line, column = _line_column(text, pos)
                repairs.append(Repair(kind, f"dropped {detail} (line {line}, column {column})"))
        elif kind is RepairKind.CLOSED_TRUNCATED:
            repairs.append(Repair(kind, f"text ends early: closed {len(items)} open object(s)/array(s)"))
        elif kind in labels:
            details = ", ".join(sorted({detail for _, detail in items}))
            message = labels[kind].format(n=len(items), details=details)
            repairs.append(Repair(kind, f"{message}, first at line {first_line}, column {first_column}"))
    return tuple(repairs)


def _error(text: str, kind: ErrorKind, message: str, pos: int) -> Extracted:
    line, column = _line_column(text, min(pos, len(text)))
    return Extracted(None, ExtractError(kind, message, line, column))


def _parse_object(region: str, start: int) -> tuple[dict, int, list[tuple[RepairKind, int, str]]]:
    """Strict json first (fast, no repairs); the lenient parser only when that fails."""
    try:
        value, end = raw_decode_strict(region, start)
        return value, end, []
    except StrictJSONError:
        pass
    parser = _LenientParser(region)
    try:
        value, end = parser.object(start, 1)
    except _Truncated as cut:
        value, end = cut.partial, len(region)
    return value, end, parser.repairs


def extract_json(text: str) -> Extracted:
    """The JSON object in a model reply, the repairs made to read it, or a typed error; never raises."""
    if not text.strip():
        return _error(text, ErrorKind.EMPTY, "the reply is empty", 0)
    repairs: list[Repair] = []
    fence = next((m for m in _FENCE.finditer(text) if "{" in m.group(1)), None)
    # The object is read to its own end even inside a fence: a string in it may hold ``` itself.
    start = text.find("{", fence.start(1) if fence else 0)
    if start < 0:
        return _error(text, ErrorKind.NO_OBJECT, "no '{' in the reply: it holds no JSON object", 0)
    try:
        value, end, raw_repairs = _parse_object(text, start)
    except _Fail as failure:
        return _error(text, failure.kind, failure.message, failure.pos)
    except RecursionError:
        return _error(text, ErrorKind.TOO_DEEP, "nested too deeply to read", start)
    problem = unencodable_text(value)
    if problem is not None:
        return _error(text, ErrorKind.NOT_TEXT, problem, start)
    before, after = text[:start], text[end:]
    if fence is not None:
        line, _ = _line_column(text, fence.start())
        closing = after.lstrip().startswith("```")
        repairs.append(Repair(RepairKind.CODE_FENCE, f"took the object from the code fence on line {line}"
                              + ("" if closing else " (never closed)")))
        before = text[:fence.start()] + text[fence.start(1):start]
        after = after.lstrip()[3:] if closing else after
    if before.strip():
        line, column = _line_column(text, start)
        repairs.append(Repair(RepairKind.TEXT_BEFORE, f"removed {len(before.strip())} character(s) of text before "
                              f"the object, which starts at line {line}, column {column}"))
    repairs.extend(_describe(text, raw_repairs))
    if after.strip():
        repairs.append(Repair(RepairKind.TEXT_AFTER, f"removed {len(after.strip())} character(s) of text after "
                              "the object"))
    return Extracted(value, None, tuple(repairs))
