"""The fiche JSONL being annotated: each fiche's status and unconfirmed draft in a sidecar file beside it, and
saves that rewrite one line atomically, every other byte as it was.

A confirmed answer goes into the line's `output` (the gold that `fiche convert fiche` trains on); a draft (the
model's answer, or the user's unfinished edit) lives in the sidecar only, so unconfirmed answers never reach
training. The file is re-read before every save: if it changed since it was loaded (another editor, another
instance), the save is refused rather than overwriting the other change.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.files import atomic_path, atomic_write_text
from fiche_io.jsonl import StrictJSONError, iter_jsonl, loads_strict
from fiche_io.locations import location

TODO, DRAFTED, CONFIRMED, SKIPPED = "to do", "drafted by the model", "confirmed", "skipped"
STATUSES = (TODO, DRAFTED, CONFIRMED, SKIPPED)
SIDECAR_VERSION = 1


class ChangedOnDisk(RuntimeError):
    """The fiche file is not the one loaded: saving would overwrite someone else's change."""


@dataclass
class Fiche:
    """One non-blank line of the file: a fiche that can be annotated, or why it cannot (`problem`)."""
    line: int
    where: str  # file:line
    record: dict[str, Any] | None
    problem: str | None = None
    status: str = TODO
    draft: dict[str, Any] | None = None  # an answer not yet confirmed (the model's or a saved edit)
    model_fields: list[str] = field(default_factory=list)  # fields of the draft that came from the model

    @property
    def id(self) -> str:
        return self.record["id"] if self.record is not None else self.where

    @property
    def annotatable(self) -> bool:
        return self.problem is None

    def answer(self) -> Any:
        """What the form shows: the draft if there is one, else the line's output."""
        return self.draft if self.draft is not None else (self.record or {}).get("output")


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".annotate.json")


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _problem(record: dict[str, Any]) -> str | None:
    identifier = record.get("id")
    if not isinstance(identifier, str) or not identifier.strip():
        return f"id: expected a non-empty string, got {identifier!r}"
    images = record.get("images")
    if not isinstance(images, list) or not all(isinstance(name, str) for name in images):
        return "images: expected a list of paths"
    if not isinstance(record.get("context_text", ""), str):
        return "context_text: expected a string"
    return None


class FicheStore:
    """The fiches of `path` with their statuses; `data_root` is where their views are read from."""

    def __init__(self, path: Path, data_root: Path | None = None) -> None:
        self.path = Path(path)
        self.data_root = Path(data_root) if data_root is not None else self.path.parent
        self.sidecar = sidecar_path(self.path)
        self.reload()

    def reload(self) -> None:
        """Read the file and the sidecar again (after a refused save, to see the other change)."""
        data = self.path.read_bytes()
        self._fingerprint = _fingerprint(data)
        self._mtime_ns = self.path.stat().st_mtime_ns
        self.fiches: list[Fiche] = []
        seen: dict[str, str] = {}
        for line in iter_jsonl(self.path):
            where = location(self.path, line.number)
            if line.error is not None:
                self.fiches.append(Fiche(line.number, where, None, f"{line.error.field}: {line.error.problem}"))
                continue
            problem = _problem(line.value)
            if problem is None and line.value["id"] in seen:
                problem = f"id: {line.value['id']!r} is already the id of {seen[line.value['id']]}"
            if problem is None:
                seen[line.value["id"]] = where
            fiche = Fiche(line.number, where, line.value if problem is None else None, problem)
            if fiche.annotatable and line.value.get("output") is not None:
                fiche.status = CONFIRMED  # a gold answer already in the file
            self.fiches.append(fiche)
        self._apply_sidecar()

    def _sidecar_fingerprint(self) -> str | None:
        try:
            return _fingerprint(self.sidecar.read_bytes())
        except FileNotFoundError:
            return None

    def _apply_sidecar(self) -> None:
        self._sidecar_loaded = self._sidecar_fingerprint()
        try:
            saved = loads_strict(self.sidecar.read_text(encoding="utf-8")).get("fiches", {})
        except FileNotFoundError:
            return
        except (OSError, StrictJSONError, AttributeError) as error:
            raise ValueError(f"{self.sidecar}: cannot read the annotation statuses ({error}); move it away to "
                             "start from the file's answers") from error
        for fiche in self.fiches:
            entry = saved.get(fiche.id) if fiche.annotatable else None
            if isinstance(entry, dict) and entry.get("status") in STATUSES:
                fiche.status = entry["status"]
                fiche.draft = entry.get("draft") if isinstance(entry.get("draft"), dict) else None
                fiche.model_fields = [str(name) for name in entry.get("model_fields") or []]

    def _write_sidecar(self) -> None:
        entries = {fiche.id: {"status": fiche.status, "draft": fiche.draft, "model_fields": fiche.model_fields}
                   for fiche in self.fiches if fiche.annotatable}
        text = json.dumps({"version": SIDECAR_VERSION, "fiches": entries}, ensure_ascii=False, indent=1) + "\n"
        atomic_write_text(self.sidecar, text)
        self._sidecar_loaded = _fingerprint(text.encode("utf-8"))

    def counts(self) -> Counter:
        counts = Counter({status: 0 for status in STATUSES})
        counts.update(fiche.status for fiche in self.fiches if fiche.annotatable)
        counts["not annotatable"] = sum(not fiche.annotatable for fiche in self.fiches)
        return counts

    def status_report(self) -> str:
        counts = self.counts()
        total = sum(fiche.annotatable for fiche in self.fiches)
        lines = [f"{self.path}: {counts[CONFIRMED]}/{total} confirmed",
                 *(f"  {status}: {counts[status]}" for status in STATUSES),
                 f"  not annotatable: {counts['not annotatable']}"]
        lines += [f"    {fiche.where}: {fiche.problem}" for fiche in self.fiches if not fiche.annotatable]
        return "\n".join(lines)

    def changed_on_disk(self) -> bool:
        """True when the file is no longer the one loaded (its bytes differ; mtime alone only triggers the check)."""
        try:
            if self.path.stat().st_mtime_ns == self._mtime_ns:
                return False
            return _fingerprint(self.path.read_bytes()) != self._fingerprint
        except FileNotFoundError:
            return True

    def _refuse_if_changed(self) -> None:
        if self.changed_on_disk():
            changed = f"{self.path} changed on disk since it was loaded (another editor or another `fiche annotate`?)"
        elif self._sidecar_fingerprint() != self._sidecar_loaded:
            changed = f"{self.sidecar} (the statuses) changed on disk since it was loaded (another `fiche annotate`?)"
        else:
            return
        raise ChangedOnDisk(f"{changed}; nothing was saved. Reload the file (your edit stays on the page), "
                            "then save again.")

    def keep_draft(self, fiche: Fiche, draft: dict[str, Any] | None, status: str | None = None,
                   model_fields: list[str] | None = None) -> None:
        """Keep an unconfirmed answer (the JSONL is not touched)."""
        self._refuse_if_changed()
        fiche.draft = draft
        if model_fields is not None:
            fiche.model_fields = model_fields
        if status is not None:
            fiche.status = status
        self._write_sidecar()

    def keep_drafts(self) -> None:
        """Write the statuses and drafts as they are now (after a prefill)."""
        self._refuse_if_changed()
        self._write_sidecar()

    def confirm(self, fiche: Fiche, output: dict[str, Any]) -> None:
        """Write `output` into the fiche's line (the caller has validated it) and mark it confirmed."""
        self._refuse_if_changed()
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        old = lines[fiche.line - 1]
        bom = b"\xef\xbb\xbf" if fiche.line == 1 and old.startswith(b"\xef\xbb\xbf") else b""
        ending = b"\r" if old.endswith(b"\r") else b""
        record = {**fiche.record, "output": output}
        lines[fiche.line - 1] = bom + json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8") + ending
        new = b"\n".join(lines)
        with atomic_path(self.path) as temporary, open(temporary, "xb") as stream:  # bytes: other lines as they were
            stream.write(new)
            stream.flush()
            os.fsync(stream.fileno())
        self._fingerprint, self._mtime_ns = _fingerprint(new), self.path.stat().st_mtime_ns
        fiche.record, fiche.draft, fiche.model_fields, fiche.status = record, None, [], CONFIRMED
        self._write_sidecar()
