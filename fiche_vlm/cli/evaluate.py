"""`fiche score` and `fiche eval`: thin wrappers over eval.runner."""
from __future__ import annotations

from pathlib import Path

import click

from eval.loading import TASKS
from eval.pictures import DEFAULT_PICTURES
from fiche_vlm.cli.options import (
    IN_FILE,
    data_root_option,
    endpoint_options,
    long_side_option,
    out_option,
    pick_data_root,
    request_options,
)

_TASK = click.option("--task", type=click.Choice(TASKS), default="fiche", show_default=True,
                     help="What the predictions answer: fiches, text→CAD JSON, image→CadQuery, or manual Q&A.")
_PICTURES = click.option("--pictures", type=click.IntRange(min=0), metavar="N",
                         help=f"Fiche task: the first N fiches' first view beside renders of the predicted and gold "
                              f"scaffolds (two OpenSCAD renders each, about 0.6 s apiece; 0: none). "
                              f"[default: {DEFAULT_PICTURES}]")
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


def _run_score(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None, pictures: int | None,
               **options) -> None:
    from eval.loading import InputError
    from eval.runner import score

    if task == "fiche":
        options["pictures"] = DEFAULT_PICTURES if pictures is None else pictures
    elif pictures is not None:
        raise click.UsageError("--pictures is for --task fiche")
    try:
        metrics = score(predictions, gold, out, task=task, train_log=train_log, **options)
    except InputError as error:
        raise click.ClickException(str(error)) from None
    counts = metrics["counts"]
    if counts["gold_without_prediction"]:
        click.echo(f"warning: {counts['gold_without_prediction']} of {counts['gold_scored']} gold id(s) have no "
                   "prediction; each is scored as invalid", err=True)
    if counts["predictions_without_gold"]:
        click.echo(f"warning: {counts['predictions_without_gold']} prediction id(s) match no gold id and are ignored "
                   f"(e.g. {metrics['predictions_without_gold'][0]!r})", err=True)
    for line in _headline(metrics):
        click.echo(line)
    click.echo(f"report: {out / 'report.md'}, {out / 'report.html'}; metrics: {out / 'metrics.json'}")


@click.command("score")
@click.argument("predictions", type=IN_FILE)
@click.option("--gold", required=True, type=IN_FILE,
              help="Gold set: fiche JSONL (id, output) or sharegpt (id, last assistant turn), JSON array or JSONL.")
@out_option("Folder for report.md, report.html, metrics.json and the plots.", folder=True)
@_TASK
@_TRAIN_LOG
@_PICTURES
@click.option("--judge-url", help="Q&A only: OpenAI-compatible base URL of an LLM judge (off when not given).")
@click.option("--judge-model", help="Q&A only: the judge's model name.")
@click.option("--judge-api-key-env", default="FICHE_JUDGE_API_KEY", show_default=True,
              help="Environment variable holding the judge's API key.")
def score_command(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None, pictures: int | None,
                  judge_url: str | None, judge_model: str | None, judge_api_key_env: str) -> None:
    """Score PREDICTIONS (predictions.jsonl) against a gold set and write the report.

    Example: fiche score outputs/demo/predictions.jsonl --gold data/fiches.jsonl -o outputs/demo/report
    """
    options = {}
    if judge_url or judge_model:
        if task != "qa" or not (judge_url and judge_model):
            raise click.UsageError("the judge needs --task qa, --judge-url and --judge-model together")
        from eval.judge import JudgeConfig

        options["judge"] = JudgeConfig(base_url=judge_url, model=judge_model, api_key_env=judge_api_key_env)
    _run_score(predictions, gold, out, task, train_log, pictures, **options)


@click.command("eval")
@click.argument("valset", type=IN_FILE)
@out_option("Folder for predictions.jsonl (appended, resumed) and the report.", folder=True)
@endpoint_options
@request_options
@_TASK
@_TRAIN_LOG
@_PICTURES
@data_root_option("Folder the valset's image paths are read from (a sharegpt file's dataset_dir). "
                  "Default: the valset's folder.", media_dir_alias=True)
@long_side_option("Long-side band of the image resize, as used for training (e.g. 224 224).")
def eval_command(valset: Path, out: Path, base_url: str, model: str | None, api_key_env: str, concurrency: int,
                 max_tokens: int, timeout: float, retries: int, task: str, train_log: Path | None, pictures: int | None,
                 data_root: Path | None, media_dir: Path | None, long_side: tuple[int, int]) -> None:
    """Query an endpoint on VALSET (any converter's output, or a fiche JSONL), then score and report.

    Predictions are appended to OUT/predictions.jsonl as they finish; rerunning resumes where it stopped.

    Example: fiche eval data/fiches.jsonl --base-url http://127.0.0.1:8000/v1 --model fiche -o outputs/eval
    """
    from fiche_io.retry import RetryPolicy
    from fiche_vlm.evaluate import predict_valset
    from fiche_vlm.predict import AuthRejected
    from fiche_vlm.predict import InputError as PredictInputError

    out.mkdir(parents=True, exist_ok=True)
    try:
        predictions = predict_valset(valset, out / "predictions.jsonl", base_url=base_url, model=model, task=task,
                                     api_key_env=api_key_env, concurrency=concurrency,
                                     data_root=pick_data_root(data_root, media_dir), long_side=long_side,
                                     max_tokens=max_tokens, timeout=timeout, retry=RetryPolicy(attempts=retries))
    except (PredictInputError, AuthRejected, ConnectionError) as error:
        raise click.ClickException(str(error)) from None
    _run_score(predictions, valset, out, task, train_log, pictures, data_root=pick_data_root(data_root, media_dir))


COMMANDS = [score_command, eval_command]
