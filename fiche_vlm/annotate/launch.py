"""Open the store, pre-fill it from predictions, start the page: what `fiche annotate` runs."""
from __future__ import annotations

from pathlib import Path

from fiche_vlm.annotate.drafts import prefill, read_predictions
from fiche_vlm.annotate.session import Endpoint, Session
from fiche_vlm.annotate.store import FicheStore


def open_store(fiches: Path, data_root: Path | None) -> FicheStore:
    return FicheStore(fiches, data_root)


def prepare(fiches: Path, *, data_root: Path | None = None, predictions: Path | None = None,
            endpoint: Endpoint | None = None) -> tuple[Session, list[str]]:
    """The session to serve and the notes to print (pre-filled count, unusable prediction lines)."""
    store = open_store(fiches, data_root)
    notes: list[str] = []
    problems: dict[str, tuple[str, ...]] = {}
    if predictions is not None:
        drafts, bad = read_predictions(predictions)
        filled = prefill(store, drafts)
        problems = {identifier: draft.problems for identifier, draft in drafts.items() if draft.problems}
        notes.append(f"{filled} fiche(s) drafted from {predictions}")
        notes += [f"  unusable: {line}" for line in bad]
    return Session(store, endpoint, problems), notes


def serve(session: Session, *, host: str, port: int, auth: tuple[str, str] | None) -> None:
    from fiche_vlm.annotate.app import build

    build(session).queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, auth=auth, share=False, inbrowser=False, show_api=False,
        max_file_size="1mb")
