"""What to send: fiche JSONL or sharegpt records → chat messages whose views are fitted as training fitted them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiche_io.images import MAX_IMAGE_PIXELS, png_data_url
from fiche_io.jsonl import RecordError, read_records
from fiche_io.locations import location
from fiche_io.paths import resolve_inside
from fiche_schema import IMAGE_TOKEN

DEFAULT_MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # the converters' limit; beyond it a view is refused before it is decoded


class InputError(ValueError):
    """The input file cannot be read as fiches or sharegpt records; the message lists every problem."""


@dataclass(frozen=True)
class PredictInput:
    """One request to make: the chat messages before the answer, with images as local paths to fit and send."""
    id: str
    where: str  # "file:line" for messages
    index: int  # position in the input; with --seed, the request's seed is seed + index
    messages: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (role, ((kind, text-or-path), …))


def split_image_markers(text: str, images: list[Path]) -> list[tuple[str, str]]:
    """"<image><image>TEXT" → [("image", p0), ("image", p1), ("text", TEXT)]: the order LLaMA-Factory trained on."""
    parts: list[tuple[str, str]] = []
    for position, piece in enumerate(text.split(IMAGE_TOKEN)):
        if position > 0:
            parts.append(("image", str(images.pop(0))))
        if piece:
            parts.append(("text", piece))
    return parts


def fiche_input(record: dict[str, Any], where: str, index: int, root: Path) -> PredictInput:
    from converters.fiche import check_text_fields, image_list, user_prompt

    fiche_id, instruction, context_text = check_text_fields(record)
    paths = [resolve_inside(root, name, f"images[{k}]") for k, name in enumerate(image_list(record))]
    parts = tuple([("image", str(path)) for path in paths] + [("text", user_prompt(instruction, context_text))])
    return PredictInput(fiche_id, where, index, (("user", parts),))


def sharegpt_input(record: dict[str, Any], where: str, index: int, root: Path) -> PredictInput:
    """Messages up to the last assistant turn (the gold, not sent); `<image>` markers take the images in order."""
    fiche_id = record.get("id")
    if not isinstance(fiche_id, str) or not fiche_id.strip():
        raise RecordError("id", f"expected a non-empty string, got {fiche_id!r} (sharegpt records need an id to predict)")
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RecordError("messages", "expected a non-empty list")
    for number, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {"system", "user", "assistant"} \
                or not isinstance(message.get("content"), str):
            raise RecordError(f"messages[{number}]", "expected {\"role\": system|user|assistant, \"content\": str}")
    if messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    if not messages or messages[-1]["role"] != "user":
        raise RecordError("messages", "the last turn to send must be a user turn")
    names = record.get("images") or []
    if not isinstance(names, list):
        raise RecordError("images", f"expected a list of paths, got {names!r}")
    markers = sum(message["content"].count(IMAGE_TOKEN) for message in messages)
    if markers != len(names):
        raise RecordError("images", f"{len(names)} images for {markers} {IMAGE_TOKEN} markers in the turns to send")
    paths = [resolve_inside(root, name, f"images[{k}]") for k, name in enumerate(names)]
    turns = []
    for message in messages:
        if message["role"] == "user":
            turns.append(("user", tuple(split_image_markers(message["content"], paths))))
        else:
            if IMAGE_TOKEN in message["content"]:
                raise RecordError("messages", f"{IMAGE_TOKEN} outside a user turn")
            turns.append((message["role"], (("text", message["content"]),)))
    return PredictInput(fiche_id, where, index, tuple(turns))


def read_inputs(path: Path, data_root: Path | None = None) -> list[PredictInput]:
    """Every request in `path` (fiche JSONL, or sharegpt as JSONL or a JSON array), or an InputError naming each
    bad file:line: field. Images are only located here; they are read when their request is built, so a bad
    view fails its fiche only."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{location(path)}: no such file")
    root = Path(data_root) if data_root is not None else path.parent
    inputs: list[PredictInput] = []
    problems: list[str] = []
    first: dict[str, str] = {}
    try:
        lines = read_records(path)
    except OSError as error:
        raise InputError(f"{location(path)}: cannot read ({error.strerror or error})") from error
    for index, line in enumerate(lines):
        where = line.where(path)
        try:
            if line.error is not None:
                raise line.error
            build = sharegpt_input if "messages" in line.value else fiche_input
            item = build(line.value, where, index, root)
            if item.id in first:
                raise RecordError("id", f"duplicate id {item.id!r} (first at {first[item.id]})")
            first[item.id] = where
            inputs.append(item)
        except RecordError as error:
            problems.append(f"{where}: {error.field}: {error.problem}")
    if problems:
        raise InputError(f"{len(problems)} bad record(s) in {location(path)}; nothing was sent:\n"
                         + "\n".join(problems))
    if not inputs:
        raise InputError(f"{location(path)}: no records")
    return inputs


class ImageProblem(ValueError):
    """A view of one fiche cannot be sent (missing, corrupt, too large); only that fiche fails."""


def image_url(path: str, long_side: tuple[int, int], max_pixels: int) -> str:
    """The view as a PNG data URL, read and fitted by the converters' own read_view(): training's pixels."""
    from fiche_io.images import ImageRefused, read_view

    try:
        return png_data_url(read_view(Path(path), long_side, max_pixels=max_pixels))
    except ImageRefused as error:
        raise ImageProblem(str(error)) from error


def chat_messages(item: PredictInput, long_side: tuple[int, int], max_pixels: int) -> list[dict[str, Any]]:
    messages = []
    for role, parts in item.messages:
        if role != "user":
            messages.append({"role": role, "content": parts[0][1]})
            continue
        content = []
        for kind, value in parts:
            if kind == "image":
                try:
                    content.append({"type": "image_url", "image_url": {"url": image_url(value, long_side, max_pixels)}})
                except ImageProblem as error:
                    raise ImageProblem(f"{item.where}: images: {error}") from error
            else:
                content.append({"type": "text", "text": value})
        messages.append({"role": "user", "content": content})
    return messages
