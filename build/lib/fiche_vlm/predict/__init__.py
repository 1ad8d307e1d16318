"""`fiche predict`: fiches → an OpenAI-compatible endpoint (vLLM) → validated JSON in predictions.jsonl.

Each fiche becomes one chat request whose user content renders to exactly the training text: the views as
base64 PNG data URLs, fitted by the converter's own resize, then the converter's prompt text (`inputs`). The
answer is constrained by the JSON schema on the server (`response_format` json_schema, strict) and always
re-validated here (`answers`): an answer that is cut, is not JSON or breaks the schema is an error with its
reason, never a result. Requests have a deadline and are retried when a retry can help (`requests`); lines are
appended as requests finish, and a rerun skips the fiches already answered (`run`).
"""
from fiche_io.retry import RetryPolicy
from fiche_vlm.predict.answers import FREE_TEXT, judge_answer, load_answer_schema
from fiche_vlm.predict.inputs import InputError, PredictInput, chat_messages, read_inputs
from fiche_vlm.predict.requests import AuthRejected, PredictSettings, make_client, predict_one
from fiche_vlm.predict.run import PredictSummary, finished_answers, predict_file

__all__ = ["FREE_TEXT", "AuthRejected", "InputError", "PredictInput", "PredictSettings", "PredictSummary",
           "RetryPolicy", "chat_messages", "finished_answers", "judge_answer", "load_answer_schema", "make_client",
           "predict_file", "predict_one", "read_inputs"]
