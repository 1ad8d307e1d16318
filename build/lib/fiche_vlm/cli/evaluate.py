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
                 f"{number(iou['invalid_excluded']['mean'])} (invalid excluded)"),
                (f"as published (unit cube): IoU {number(metrics['iou']['unit_cube']['invalid_excluded']['mean'])}, "
                 f"median CD×10³ {number(metrics['chamfer_x1000']['median'])}, "
                 f"invalid ratio {rate_of(metrics['invalid_ratio'])}")]
    overall = metrics["overall"]
    lines = [f"numeric exact match {rate_of(overall['numeric_exact_match'])}",
             f"keyword presence {number(overall['keyword_presence_mean'])}"]
    if metrics.get("judge"):
        lines.append("judge: " + ", ".join(f"{name} {number(stats['mean'])}"
                                           for name, stats in metrics["judge"]["metrics"].items()))
    if metrics.get("probes"):
        lines.append("probes: " + ", ".join(f"{category} {rate_of(stats)}"
                                            for category, stats in metrics["probes"]["categories"].items()))
    return lines


def _judge_options(function):
    options = [
        click.option("--judge-url", help="Q&A only: OpenAI-compatible base URL of the judge for DeepEval's answer "
                                         "relevancy, faithfulness and correctness (off when not given)."),
        click.option("--judge-model", help="Q&A only: the judge's model name."),
        click.option("--judge-api-key-env", default="FICHE_JUDGE_API_KEY", show_default=True,
                     help="Environment variable holding the judge's API key."),
        click.option("--judge-threshold", default=0.7, show_default=True, type=click.FloatRange(0, 1),
                     help="An item passes a judge metric at or above it; a metric's mean below it exits 1."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _judge_config(task: str, judge_url: str | None, judge_model: str | None, judge_api_key_env: str,
                  judge_threshold: float):
    if not (judge_url or judge_model):
        return None
    if task != "qa" or not (judge_url and judge_model):
        raise click.UsageError("the judge needs --task qa, --judge-url and --judge-model together")
    from eval.judge import JudgeConfig

    return JudgeConfig(base_url=judge_url, model=judge_model, api_key_env=judge_api_key_env,
                       threshold=judge_threshold)


def _run_score(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None, pictures: int | None,
               **options) -> None:
    from eval.judge import JudgeUnavailable
    from eval.loading import InputError
    from eval.runner import gate_failures, score

    if task == "fiche":
        options["pictures"] = DEFAULT_PICTURES if pictures is None else pictures
    elif pictures is not None:
        raise click.UsageError("--pictures is for --task fiche")
    try:
        metrics = score(predictions, gold, out, task=task, train_log=train_log, **options)
    except (InputError, JudgeUnavailable) as error:
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
    failures = gate_failures(metrics)
    if failures:
        click.echo("below threshold: " + "; ".join(failures), err=True)
        raise SystemExit(1)


@click.command("score")
@click.argument("predictions", type=IN_FILE)
@click.option("--gold", required=True, type=IN_FILE,
              help="Gold set: fiche JSONL (id, output) or sharegpt (id, last assistant turn), JSON array or JSONL.")
@out_option("Folder for report.md, report.html, metrics.json and the plots.", folder=True)
@_TASK
@_TRAIN_LOG
@_PICTURES
@_judge_options
def score_command(predictions: Path, gold: Path, out: Path, task: str, train_log: Path | None, pictures: int | None,
                  judge_url: str | None, judge_model: str | None, judge_api_key_env: str,
                  judge_threshold: float) -> None:
    """Score PREDICTIONS (predictions.jsonl) against a gold set and write the report.

    Exit status 1 when a judge metric falls below its threshold.

    Example: fiche score outputs/demo/predictions.jsonl --gold data/fiches.jsonl -o outputs/demo/report
    """
    judge = _judge_config(task, judge_url, judge_model, judge_api_key_env, judge_threshold)
    _run_score(predictions, gold, out, task, train_log, pictures, **({"judge": judge} if judge else {}))


@click.command("eval")
@click.argument("valset", required=False, type=IN_FILE)
@click.option("--probes", type=IN_FILE,
              help="A probe file (id, category, image, question, expected_answer or expected_keywords) instead of "
                   "VALSET: Q&A task, each probe passed or failed, pass rate per category.")
@click.option("--probe-threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1),
              help="With --probes: a category's pass rate below it exits 1.")
@out_option("Folder for predictions.jsonl (appended, resumed) and the report.", folder=True)
@endpoint_options
@request_options
@_TASK
@_TRAIN_LOG
@_PICTURES
@data_root_option("Folder the valset's image paths are read from (a sharegpt file's dataset_dir). "
                  "Default: the valset's (or probe file's) folder.", media_dir_alias=True)
@long_side_option("Long-side band of the image resize, as used for training (e.g. 224 224).")
@_judge_options
@click.pass_context
def eval_command(context: click.Context, valset: Path | None, probes: Path | None, probe_threshold: float, out: Path,
                 base_url: str, model: str | None, api_key_env: str, concurrency: int, max_tokens: int,
                 timeout: float, retries: int, task: str, train_log: Path | None, pictures: int | None,
                 data_root: Path | None, media_dir: Path | None, long_side: tuple[int, int], judge_url: str | None,
                 judge_model: str | None, judge_api_key_env: str, judge_threshold: float) -> None:
    """Query an endpoint on VALSET (any converter's output, or a fiche JSONL) or on --probes, then score and report.

    Predictions are appended to OUT/predictions.jsonl as they finish; rerunning resumes where it stopped.
    Exit status 1 when a judge metric or a probe category falls below its threshold.

    Example: fiche eval data/fiches.jsonl --base-url http://127.0.0.1:8000/v1 --model fiche -o outputs/eval
    """
    from eval.loading import InputError
    from fiche_io.retry import RetryPolicy
    from fiche_vlm.evaluate import predict_valset
    from fiche_vlm.predict import AuthRejected
    from fiche_vlm.predict import InputError as PredictInputError

    if (valset is None) == (probes is None):
        raise click.UsageError("give either VALSET or --probes")
    data_root = pick_data_root(data_root, media_dir)
    options = {}
    if probes is not None:
        if context.get_parameter_source("task") is not click.core.ParameterSource.DEFAULT and task != "qa":
            raise click.UsageError("--probes are Q&A: --task must be qa")
        from eval.probes import load_probes, write_valset

        task = "qa"
        try:
            options["probes"] = load_probes(probes)
        except InputError as error:
            raise click.ClickException(str(error)) from None
        options["probe_threshold"] = probe_threshold
        out.mkdir(parents=True, exist_ok=True)
        valset = write_valset(options["probes"], out / "probes_valset.jsonl")
        data_root = data_root or probes.parent
    judge = _judge_config(task, judge_url, judge_model, judge_api_key_env, judge_threshold)
    if judge:
        options["judge"] = judge
    out.mkdir(parents=True, exist_ok=True)
    try:
        predictions = predict_valset(valset, out / "predictions.jsonl", base_url=base_url, model=model, task=task,
                                     api_key_env=api_key_env, concurrency=concurrency, data_root=data_root,
                                     long_side=long_side, max_tokens=max_tokens, timeout=timeout,
                                     retry=RetryPolicy(attempts=retries))
    except (PredictInputError, AuthRejected, ConnectionError) as error:
        raise click.ClickException(str(error)) from None
    _run_score(predictions, valset, out, task, train_log, pictures, data_root=data_root, **options)


def _gate(text: str) -> tuple[str, float]:
    name, _, tolerance = text.rpartition(":")
    try:
        return name, float(tolerance)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected METRIC:TOLERANCE, e.g. overall.numeric_exact_match.rate:0.02")


@click.command("compare")
@click.argument("run_a", type=click.Path(exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, path_type=Path))
@out_option("Folder for compare.md, compare.html and compare_metrics.png.", folder=True)
@click.option("--fail-if-worse", "gates", multiple=True, metavar="METRIC:TOLERANCE",
              help="Exit 1 when B is worse than A on METRIC (a name from the report) by more than TOLERANCE. "
                   "Repeatable.")
def compare_command(run_a: Path, run_b: Path, out: Path, gates: tuple[str, ...]) -> None:
    """Compare two evaluation runs (eval output folders or metrics.json files) of the same task: A before, B after.

    Example: fiche compare outputs/eval-v1 outputs/eval-v2 -o outputs/compare
    --fail-if-worse overall.numeric_exact_match.rate:0.02
    """
    from eval.compare import compare, load_run, regressions, write_comparison
    from eval.loading import InputError

    parsed = [_gate(gate) for gate in gates]
    try:
        comparison = compare(load_run(run_a), load_run(run_b))
        failures = regressions(comparison, parsed)
    except InputError as error:
        raise click.ClickException(str(error)) from None
    write_comparison(comparison, out)
    click.echo(f"{len(comparison['better'])} items better, {len(comparison['worse'])} worse; "
               f"report: {out / 'compare.md'}, {out / 'compare.html'}")
    if failures:
        click.echo("worse than allowed: " + "; ".join(failures), err=True)
        raise SystemExit(1)


COMMANDS = [score_command, eval_command, compare_command]
