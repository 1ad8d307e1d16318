"""Writing sharegpt datasets atomically and registering them in a LLaMA-Factory `dataset_info.json`."""
from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_write_text
from fiche_io.jsonl import dumps_jsonl

SHAREGPT_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"}


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    """A `.jsonl` path gets one record per line; any other gets a JSON array, one record per line (both load
    in LLaMA-Factory). No `indent`: it would switch json to its pure-Python encoder, several times slower."""
    if path.suffix == ".jsonl":
        atomic_write_text(path, dumps_jsonl(records))
    else:
        body = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
        atomic_write_text(path, f"[\n{body}\n]\n" if records else "[]\n")


def relative_posix(path: Path, start: Path) -> str:
    """`path` relative to `start` with forward slashes (LLaMA-Factory joins it to `media_dir`/`dataset_dir`)."""
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def dataset_entry(file_name: str, *, images: bool) -> dict[str, Any]:
    columns = {"messages": "messages"}
    if images:
        columns["images"] = "images"
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": dict(SHAREGPT_TAGS)}


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the registry's folder (no lock file left behind), so converters run in parallel
    do not lose each other's entries in the read-modify-write below."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def register_dataset(dataset_dir: Path, name: str, data_file: Path, *, images: bool) -> dict[str, Any]:
    """Add or replace entry `name` in `<dataset_dir>/dataset_info.json`, keeping every other entry; returns it."""
    registry = dataset_dir / "dataset_info.json"
    entry = dataset_entry(relative_posix(data_file, dataset_dir), images=images)
    with _locked(dataset_dir):
        current: dict[str, Any] = {}
        if registry.exists():
            try:
                current = json.loads(registry.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise ValueError(f"{registry}:{error.lineno}: not valid JSON ({error.msg}); fix it before registering") from error
            if not isinstance(current, dict):
                raise ValueError(f"{registry}: expected a JSON object of dataset entries")
        current[name] = entry
        atomic_write_text(registry, json.dumps(current, ensure_ascii=False, indent=2) + "\n")
    return entry
