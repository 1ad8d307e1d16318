"""`fiche score` and `fiche eval`: thin wrappers over eval.runner."""
from __future__ import annotations

from pathlib import Path

import click

from converters.images import DEFAULT_LONG_SIDE
from eval.loading import TASKS
from fiche_vlm import DEFAULT_API_KEY_ENV

_TASK = click.option("--task", type=click.Choice(TASKS), default="fiche", show_default=True,
                     help="What the predictions answer: fiches, text→CAD JSON, image→CadQuery, or manual Q&A.")
_TRAIN_LOG = click.option("--train-log", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                          help="LLaMA-Factory trainer_log.jsonl: adds the training loss curve to the report.")


def _headline(metrics: dict) -> list[str]:
    """The few numbers worth printing on the terminal; the report has the rest."""
    from eval.report import number, rate_of

    task = metrics["task"]
    if task == "fiche":
        slots = metrics["slot_f1"]
        return [f"JSON validity {rate_of(metrics['validity'])}", f"exact match {rate_of(metrics['exact_match'])}",
                f"slot F1 micro {number(slots['micro']['f1'])}, macro {number(slots['macro_f1'])}",
                (f"envelope IoU {number(metrics['geometry']['envelope_iou_scored']['mean'])}, "
                 f"unit match {rate_of(metrics['geometry']['unit_match'])}")]
    if task == "cad_json":
        return [f"schema-valid {rate_of(metrics['validity'])}", f"exact match {rate_of(metrics['exact_match'])}",
                f"structural F1 micro {number(metrics['structural_f1']['micro']['f1'])}"]
    if task == "cadquery":
        iou = metrics["iou"]["aligned"]
        return [f"valid syntax rate {rate_of(metrics['valid_syntax_rate'])}",
                (f"normalised IoU {number(iou['invalid_as_0']['mean'])} (invalid as 0), "
                 f"{number(iou['invalid_excluded']['mean'])} (invalid excluded)")]
    overall = metrics["overall"]
    return [f"numeric exact match {rate_of(overall['numeric_exact_match'])}",
            f"keyword presence {number(overall['keyword_presence_mean'])}"]


def _run_score(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None, **options) -> None:
    from eval.loading import InputError
    from eval.runner import score

    try:
        metrics = score(predictions, gold, out, task=task, train_log=train_log, **options)
    except InputError as error:
        raise click.ClickException(str(error)) from None
    for line in _headline(metrics):
        click.echo(line)
    click.echo(f"report: {out / 'report.md'}, {out / 'report.html'}; metrics: {out / 'metrics.json'}")


@click.command("score")
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--gold", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gold set: fiche JSONL (id, output) or sharegpt (id, last assistant turn), JSON array or JSONL.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.md, report.html, metrics.json and the plots.")
@_TASK
@_TRAIN_LOG
@click.option("--judge-url", help="Q&A only: OpenAI-compatible base URL of an LLM judge (off when not given).")
@click.option("--judge-model", help="Q&A only: the judge's model name.")
@click.option("--judge-api-key-env", default="FICHE_JUDGE_API_KEY", show_default=True,
              help="Environment variable holding the judge's API key.")
def score_command(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None,
                  judge_url: str | None, judge_model: str | None, judge_api_key_env: str) -> None:
    """Score PREDICTIONS (predictions.jsonl) against a gold set and write the report.

    Example: fiche score outputs/demo/predictions.jsonl --gold data/fiches.jsonl --out outputs/demo/report
    """
    options = {}
    if judge_url or judge_model:
        if task != "qa" or not (judge_url and judge_model):
            raise click.UsageError("the judge needs --task qa, --judge-url and --judge-model together")
        from eval.judge import JudgeConfig

        options["judge"] = JudgeConfig(base_url=judge_url, model=judge_model, api_key_env=judge_api_key_env)
    _run_score(predictions, gold, out, task, train_log, **options)


@click.command("eval")
@click.argument("valset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--base-url", required=True, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")
@click.option("--model", required=True,
              help="Served model name, or an adapter's NAME from `fiche serve --lora NAME=DIR`.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for predictions.jsonl (appended, resumed) and the report.")
@click.option("--api-key-env", default=DEFAULT_API_KEY_ENV, show_default=True,
              help="Environment variable holding the endpoint's API key.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(min=1), help="Requests in flight.")
@_TASK
@_TRAIN_LOG
@click.option("--media-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder the valset's image paths are relative to (a sharegpt file's dataset_dir). "
                   "Default: the valset's folder.")
@click.option("--long-side", nargs=2, type=int, metavar="LO HI", default=DEFAULT_LONG_SIDE, show_default=True,
              help="Long-side band of the image resize, as used for training (e.g. 224 224).")
@click.option("--max-tokens", default=1024, show_default=True, type=click.IntRange(min=1),
              help="Answer length cap; a cut answer is an error, not a result.")
def eval_command(valset: Path, base_url: str, model: str, out: Path, api_key_env: str, concurrency: int, task: str,
                 train_log: Path | None, media_dir: Path | None, long_side: tuple[int, int],
                 max_tokens: int) -> None:
    """Query an endpoint on VALSET (any converter's output, or a fiche JSONL), then score and report.

    Predictions are appended to OUT/predictions.jsonl as they finish; rerunning resumes where it stopped.

    Example: fiche eval data/fiches.jsonl --base-url http://127.0.0.1:8000/v1 --model fiche --out outputs/eval
    """
    from eval.runner import predict_valset
    from fiche_vlm.predict import AuthRejected
    from fiche_vlm.predict import InputError as PredictInputError

    out.mkdir(parents=True, exist_ok=True)
    try:
        predictions = predict_valset(valset, out / "predictions.jsonl", base_url=base_url, model=model, task=task,
                                     api_key_env=api_key_env, concurrency=concurrency, media_dir=media_dir,
                                     long_side=long_side, max_tokens=max_tokens)
    except (PredictInputError, AuthRejected, ConnectionError) as error:
        raise click.ClickException(str(error)) from None
    _run_score(predictions, valset, out, task, train_log)


COMMANDS = [score_command, eval_command]
