"""`fiche eval`'s first half: ask the endpoint for every item of a valset, as each task needs; eval scores it."""
from __future__ import annotations

from pathlib import Path

from eval.loading import TASKS, InputError
from fiche_io.files import refuse_output_over_input
from fiche_io.images import DEFAULT_LONG_SIDE
from fiche_io.retry import RetryPolicy
from fiche_vlm import DEFAULT_API_KEY_ENV
from fiche_vlm.predict import predict_file
from fiche_vlm.predict.run import DEFAULT_CONCURRENCY, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT_S

# What each task asks the endpoint for: (schema the answer is checked against, whether the server constrains it).
# The CAD schema is Text2CAD's layout with arrays, which vLLM accepts for xgrammar and guidance; its answers are
# also checked after the fact (fiche_schema.cad_json.validate_cad: depths, numbers, units).
TASK_REQUESTS = {"fiche": ("fiche", True), "cad_json": ("cad", True), "cadquery": ("text", False),
                 "qa": ("text", False)}


def predict_valset(valset: Path, predictions_path: Path, *, base_url: str, model: str | None, task: str = "fiche",
                   api_key_env: str = DEFAULT_API_KEY_ENV, concurrency: int = DEFAULT_CONCURRENCY, data_root: Path | None = None,
                   long_side: tuple[int, int] = DEFAULT_LONG_SIDE, max_tokens: int = DEFAULT_MAX_TOKENS,
                   timeout: float = DEFAULT_TIMEOUT_S, retry: RetryPolicy = RetryPolicy()) -> Path:
    """Query the endpoint for every item of `valset` not yet answered in `predictions_path` (appended, resumed).

    The requests are fiche_vlm.predict's: the same prompts and image resize as training. Fiche and CAD JSON
    answers are constrained by their schema on the server and checked again after (see TASK_REQUESTS); code and
    Q&A answers are free text, scored from `raw`.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    refuse_output_over_input([predictions_path], [valset])
    schema, constrain = TASK_REQUESTS[task]
    predict_file(valset, predictions_path, base_url=base_url, model=model, api_key_env=api_key_env,
                 schema=schema, constrain=constrain, concurrency=concurrency,
                 data_root=data_root, long_side=long_side, max_tokens=max_tokens,
                 timeout=timeout, retry=retry)
    return Path(predictions_path)
