"""What the page does, without the page: open a fiche, check the form, save a draft, confirm, skip, ask the
model. Each action returns (done, message); the page keeps the form as it is after a refused one. No Gradio here."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fiche_io.images import ImageRefused, read_view
from fiche_io.jsonl import RecordError
from fiche_io.paths import resolve_inside
from fiche_vlm.annotate.drafts import Draft, ask_endpoint
from fiche_vlm.annotate.form import answer_to_form, form_to_answer, problems_by_field
from fiche_vlm.annotate.store import CONFIRMED, DRAFTED, SKIPPED, TODO, ChangedOnDisk, Fiche, FicheStore


@dataclass(frozen=True)
class Endpoint:
    """Where `Ask the model` sends the fiche, and predict_file's settings for it (long_side, max_tokens…)."""
    base_url: str
    model: str | None
    api_key_env: str
    request: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checked:
    """The form's answer, its problems per field, and whether it may be confirmed."""
    answer: dict[str, Any]
    problems: dict[str, list[str]]

    @property
    def valid(self) -> bool:
        return not self.problems

    def raw_json(self) -> str:
        return json.dumps(self.answer, ensure_ascii=False, indent=2)


def check_form(values: dict[str, Any]) -> Checked:
    answer = form_to_answer(values)
    return Checked(answer, problems_by_field(answer))


@dataclass
class Views:
    images: list[tuple[Any, str]] = field(default_factory=list)  # (PIL image at full size, caption)
    missing: list[str] = field(default_factory=list)  # "images[1] (path): why"


def read_views(fiche: Fiche, data_root: Path) -> Views:
    views = Views()
    for index, name in enumerate(fiche.record.get("images") or []):
        label = f"images[{index}]"
        try:
            views.images.append((read_view(resolve_inside(data_root, name, label), None, name=name), name))
        except (RecordError, ImageRefused, OSError) as error:
            views.missing.append(f"{label} ({name}): {error}")
    return views


class Session:
    """The store, the model's drafts asked for on this page, and the messages to show."""

    def __init__(self, store: FicheStore, endpoint: Endpoint | None = None,
                 draft_problems: dict[str, tuple[str, ...]] | None = None) -> None:
        self.store = store
        self.endpoint = endpoint
        self.draft_problems = dict(draft_problems or {})  # what was wrong with the model's answer, per fiche id

    def fiche(self, index: int) -> Fiche:
        return self.store.fiches[max(0, min(index, len(self.store.fiches) - 1))]

    def first_to_do(self) -> int:
        return next((k for k, fiche in enumerate(self.store.fiches)
                     if fiche.annotatable and fiche.status in (TODO, DRAFTED)), 0)

    def progress(self) -> tuple[int, int]:
        fiches = [fiche for fiche in self.store.fiches if fiche.annotatable]
        return sum(fiche.status == CONFIRMED for fiche in fiches), len(fiches)

    def save_draft(self, index: int, values: dict[str, Any]) -> tuple[bool, str]:
        fiche = self.fiche(index)
        if not fiche.annotatable:
            return False, f"{fiche.where} is not annotatable; nothing saved."
        try:
            self.store.keep_draft(fiche, form_to_answer(values), status=TODO if fiche.status == SKIPPED else None)
        except ChangedOnDisk as error:
            return False, str(error)
        return True, f"Draft of {fiche.id} saved (not confirmed: `fiche convert fiche` does not use it yet)."

    def confirm(self, index: int, values: dict[str, Any]) -> tuple[bool, str]:
        fiche = self.fiche(index)
        if not fiche.annotatable:
            return False, f"{fiche.where} is not annotatable; nothing saved."
        checked = check_form(values)
        if not checked.valid:
            count = sum(len(problems) for problems in checked.problems.values())
            return False, f"Not confirmed: {count} problem(s) to fix first (shown at their fields)."
        try:
            self.store.confirm(fiche, checked.answer)
        except ChangedOnDisk as error:
            return False, str(error)
        self.draft_problems.pop(fiche.id, None)
        return True, f"{fiche.id} confirmed: written to {fiche.where}."

    def skip(self, index: int) -> tuple[bool, str]:
        fiche = self.fiche(index)
        if not fiche.annotatable:
            return False, f"{fiche.where} is not annotatable."
        try:
            self.store.keep_draft(fiche, fiche.draft, status=SKIPPED)
        except ChangedOnDisk as error:
            return False, str(error)
        return True, f"{fiche.id} skipped."

    def ask_model(self, index: int) -> tuple[bool, str]:
        fiche = self.fiche(index)
        if self.endpoint is None:
            return False, "No --base-url given: start `fiche annotate` with --base-url to ask a model."
        if not fiche.annotatable:
            return False, f"{fiche.where} is not annotatable."
        draft: Draft = ask_endpoint(fiche.record, self.store.data_root, base_url=self.endpoint.base_url,
                                    model=self.endpoint.model, api_key_env=self.endpoint.api_key_env,
                                    **self.endpoint.request)
        if draft.answer is None:
            return False, "The model gave no draft; the fiche stays as it was. " + " ".join(draft.problems)
        self.draft_problems[fiche.id] = draft.problems
        try:
            self.store.keep_draft(fiche, draft.answer, status=DRAFTED, model_fields=draft.model_fields)
        except ChangedOnDisk as error:
            return False, str(error)
        return True, f"Draft of {fiche.id} from the model: check every marked field, then confirm."

    def reload(self) -> str:
        self.store.reload()
        return f"Reloaded {self.store.path} as it is on disk now."

    def form_values(self, index: int) -> dict[str, Any]:
        fiche = self.fiche(index)
        return answer_to_form(fiche.answer() if fiche.annotatable else None)
