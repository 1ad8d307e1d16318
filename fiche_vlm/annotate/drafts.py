"""The model's answer for a fiche, to start the form from: read from predictions.jsonl (what `fiche predict`
wrote), or asked live with the same constrained request as `fiche predict` (`predict_file` on a one-fiche file)."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiche_io.locations import location
from fiche_io.predictions import iter_predictions
from fiche_io.retry import RetryPolicy
from fiche_vlm.annotate.form import form_fields
from fiche_vlm.annotate.store import DRAFTED, TODO, FicheStore

# The page waits for the answer: two tries, short backoff, and the error is shown (the fiche stays editable).
LIVE_RETRY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=2.0)


@dataclass(frozen=True)
class Draft:
    """The model's answer (`answer` None when there is none to use) and what is wrong with it."""
    answer: dict[str, Any] | None
    problems: tuple[str, ...] = ()

    @property
    def model_fields(self) -> list[str]:
        return [spec.name for spec in form_fields() if self.answer is not None and spec.name in self.answer]


def _draft_of(json_value: Any, errors: list[str], raw: str) -> Draft:
    if isinstance(json_value, dict):
        return Draft(json_value, tuple(errors))
    shown = raw[:200] + ("…" if len(raw) > 200 else "")
    return Draft(None, tuple(errors) or (f"the answer is not a JSON object: {shown!r}",))


def read_predictions(path: Path) -> tuple[dict[str, Draft], list[str]]:
    """Each fiche id's draft from the last line for it, and the lines that could not be used (file:line: why)."""
    drafts: dict[str, Draft] = {}
    bad: list[str] = []
    for entry in iter_predictions(path):
        if entry.prediction is None:
            bad.append(f"{location(path, entry.line.number)}: {entry.error}")
            continue
        prediction = entry.prediction
        drafts[prediction.id] = _draft_of(prediction.json, prediction.errors, prediction.raw)
    return drafts, bad


def ask_endpoint(record: dict[str, Any], data_root: Path, *, base_url: str, model: str | None,
                 api_key_env: str, **request: Any) -> Draft:
    """The endpoint's answer for one fiche record; every failure (endpoint down, refused key, invalid JSON) is a
    Draft with no answer and the reason. `request`: predict_file's settings (long_side, max_tokens, timeout)."""
    from fiche_vlm.predict import predict_file

    with tempfile.TemporaryDirectory(prefix="fiche-annotate-") as folder:
        one = Path(folder) / "fiche.jsonl"
        one.write_text(json.dumps({**record, "output": None}, ensure_ascii=False) + "\n", encoding="utf-8")
        out = Path(folder) / "predictions.jsonl"
        try:
            predict_file(one, out, base_url=base_url, model=model, api_key_env=api_key_env, data_root=data_root,
                         concurrency=1, retry=LIVE_RETRY, show_progress=False, **request)
        except Exception as error:  # noqa: BLE001 - shown on the page; the fiche stays editable
            return Draft(None, (f"{base_url}: {error}",))
        answers, bad = read_predictions(out)
    draft = answers.get(record["id"])
    if draft is None:
        return Draft(None, (f"{base_url}: no answer ({'; '.join(bad) or 'nothing written'})",))
    return draft


def prefill(store: FicheStore, drafts: dict[str, Draft]) -> int:
    """Give every fiche still to do (and not edited) the model's draft, marked as the model's; how many got one."""
    filled = 0
    for fiche in store.fiches:
        draft = drafts.get(fiche.id) if fiche.annotatable and fiche.status == TODO and fiche.draft is None else None
        if draft is not None and draft.answer is not None:
            fiche.draft, fiche.model_fields, fiche.status = draft.answer, draft.model_fields, DRAFTED
            filled += 1
    if filled:
        store.keep_drafts()
    return filled
