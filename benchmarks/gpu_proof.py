"""The GPU proof: every row of the README's GPU table, on one H100, with no network, in at most 9 minutes.

Prepare on a machine with network (from the project root), then make the device calls stage.sh prints:
    bash ../shared/gpu/stage.sh train serve benchmarks/gpu_proof_wheels.txt
On the GPU machine, in one call:
    bash /tmp/parts/install.sh && export PYTHONPATH=/tmp/site && python benchmarks/gpu_proof.py --readme README.md

Rows (each a subprocess with its own time limit; the limits add up to 540 s, so the whole run fits 9 minutes
whatever happens, and a row over its limit is reported as such; the models are built once in the work folder):
- t4-2b: t4.yaml on Qwen2-VL-2B's architecture (random weights from the config, saved in float32 as t4-base.yaml
  writes t4.yaml's base), two 768-px views per fiche, fp16: peak allocated GiB (goal ≤ 13.5);
- workflow-2b: the fiche workflow's own settings (frozen ViT, LoRA q/k/v/o) on the same base and data: peak GiB
  and samples/s, the baseline (18.9 GiB and 1.52 samples/s on 2026-11-22);
- a100-2b: a100.yaml on the 2B (bf16 as published): samples/s (goal ≥ 3× workflow-2b's);
- a100-7b: a100.yaml on the 7B: peak GiB and samples/s;
- qlora-7b: qlora.yaml on the 7B, 4 micro-batches per step (peak memory does not depend on accumulation): peak
  reserved GiB (goal: fits a 16 GB card, ≤ 14.5 GiB reserved);
- serve-*: vLLM (requirements/serve-gpu.txt) serving the 2B architecture with the benchmark's tokenizer (trained on
  the synthetic French fiches, so its pieces are ordinary text like a real Qwen2 tokenizer's; the random head
  gives a zero logit to ids the tokenizer lacks, so greedy decoding only emits real tokens), fiche requests of
  2–3 views: req/s and output tok/s at concurrency 1 (8 requests), 8 and 32 (32 requests), constrained by the
  fiche schema and not, then HF `generate` one request at a time. Goals, on output tok/s: constrained ≥ 90 % of
  unconstrained at concurrency 32, and ≥ 100× HF one at a time.

Prints one JSON line per row and writes the markdown table (`--table`, and between the GPU-proof markers of
`--readme`). `--dry-run` prints the plan and runs nothing; `--tiny` runs the training rows on the CPU tiny model
(one step each; no serving) to check the script itself.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fiche_io.files import atomic_write_text

TOTAL_LIMIT_S = 540
BEGIN, END = "<!-- gpu-proof:begin -->", "<!-- gpu-proof:end -->"
WORKFLOW_SETS = ("freeze_vision_tower=true", "lora_target=q_proj,k_proj,v_proj,o_proj")
BASELINE_2026_11_22 = {"peak_alloc_gib": 18.9, "samples_per_s": 1.52}  # ../shared/README.md, H100
SAMPLES = 64  # one synthetic dataset (and so one cached model per architecture) for every training row


@dataclass(frozen=True)
class TrainRow:
    name: str
    label: str
    recipe: str
    arch: str
    limit_s: int
    base_dtype: str = "bfloat16"
    steps: int = 2
    warmup_steps: int = 1
    sets: tuple[str, ...] = ()


TRAIN_ROWS = (
    TrainRow("t4-2b", "t4.yaml, 2B, fp16 on the float32 base", "recipes/t4.yaml", "2b", 90, base_dtype="float32"),
    TrainRow("workflow-2b", "fiche workflow: frozen ViT, LoRA q/k/v/o r16, fp16, same base and data",
             "recipes/t4.yaml", "2b", 60, base_dtype="float32", sets=WORKFLOW_SETS),
    TrainRow("a100-2b", "a100.yaml, 2B, bf16", "recipes/a100.yaml", "2b", 60),
    TrainRow("a100-7b", "a100.yaml, 7B, bf16", "recipes/a100.yaml", "7b", 100),
    TrainRow("qlora-7b", "qlora.yaml, 7B in 4-bit NF4, 4 micro-batches per step", "recipes/qlora.yaml", "7b", 70,
             sets=("gradient_accumulation_steps=4",)),
)
SERVE_LIMIT_S = TOTAL_LIMIT_S - sum(row.limit_s for row in TRAIN_ROWS)  # model copy, server start, requests, HF
SERVE_MAX_TOKENS = 400
HF_REQUESTS = 2


def load_train_bench():
    if "train_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("train_bench", ROOT / "benchmarks" / "train_bench.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_bench"] = module
        spec.loader.exec_module(module)
    return sys.modules["train_bench"]


# ------------------------------------------------------------------------------------------------- the plan
def train_command(row: TrainRow, workdir: Path, tiny: bool) -> list[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / "train_bench.py"), "--recipe", str(ROOT / row.recipe),
               "--workdir", str(workdir), "--jsonl", str(workdir / f"{row.name}.jsonl")]
    if tiny:
        return command + ["--tiny", "--steps", "1", "--warmup-steps", "0", "--samples", "2",
                          "--set", "gradient_accumulation_steps=2", *[arg for value in row.sets for arg in ("--set", value)]]
    command += ["--arch", row.arch, "--base-dtype", row.base_dtype, "--steps", str(row.steps),
                "--warmup-steps", str(row.warmup_steps), "--samples", str(SAMPLES)]
    return command + [arg for value in row.sets for arg in ("--set", value)]


def serve_commands(model_dir: Path, base_url: str, label: str) -> list[tuple[str, list[str]]]:
    """serve_bench runs against one server: concurrency 1 on 8 requests, 8 and 32 on 32, then HF alone."""
    bench = [sys.executable, str(ROOT / "benchmarks" / "serve_bench.py"), "--model", str(model_dir),
             "--max-tokens", str(SERVE_MAX_TOKENS), "--label", label]
    return [("serve-c1", bench + ["--base-url", base_url, "--concurrency", "1", "--requests", "8"]),
            ("serve-c8-c32", bench + ["--base-url", base_url, "--concurrency", "8,32", "--requests", "32"]),
            ("hf-generate", bench + ["--hf-only", "--hf", str(HF_REQUESTS)])]


# --------------------------------------------------------------------------------------------------- rows
def train_record(row: TrainRow, line: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"row": row.name, "label": row.label, "recipe": row.recipe, "arch": row.arch,
                              "base_dtype": row.base_dtype, "overrides": list(row.sets), "error": error}
    if line is not None:
        for key in ("peak_alloc_gib", "peak_reserved_gib", "samples_per_s", "tokens_per_s", "seq_len_mean",
                    "image_tokens_per_sample", "effective_batch", "timed_steps", "device", "versions"):
            record[key] = line.get(key)
    return record


def judge(records: list[dict[str, Any]]) -> None:
    """Add each goal row's goal and whether it was met (None where the value was not measured)."""
    by_row = {record["row"]: record for record in records}

    def value(row: str, key: str) -> float | None:
        return by_row.get(row, {}).get(key)

    baseline = value("workflow-2b", "samples_per_s") or BASELINE_2026_11_22["samples_per_s"]
    unconstrained, hf = value("serve-unconstrained-c32", "output_tok_per_s"), value("hf-generate", "output_tok_per_s")
    goals = {  # row: [(text, measured key, threshold check)]
        "t4-2b": [("peak alloc ≤ 13.5 GiB", "peak_alloc_gib", lambda v: v <= 13.5)],
        "a100-2b": [(f"≥ 3× the workflow's {baseline} samples/s", "samples_per_s", lambda v: v >= 3 * baseline)],
        "qlora-7b": [("fits 16 GB: peak reserved ≤ 14.5 GiB", "peak_reserved_gib", lambda v: v <= 14.5)],
        "serve-constrained-c32": [
            (f"tok/s ≥ 90 % of unconstrained ({unconstrained})", "output_tok_per_s",
             lambda v: unconstrained is not None and v >= 0.9 * unconstrained),
            (f"tok/s ≥ 100× HF one at a time ({hf})", "output_tok_per_s", lambda v: hf is not None and v >= 100 * hf)],
    }
    for row, checks in goals.items():
        if row not in by_row:
            continue
        results = [None if value(row, key) is None else check(value(row, key)) for _, key, check in checks]
        by_row[row]["goal"] = "; ".join(text for text, _, _ in checks)
        by_row[row]["met"] = None if None in results else all(results)


def serve_records(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        if line.get("measure") == "serve":
            name = f"serve-{line['mode']}-c{line['concurrency']}"
        elif line.get("measure") == "hf_generate":
            name = "hf-generate"
        else:
            continue
        records.append({"row": name, **{key: line.get(key) for key in (
            "mode", "concurrency", "requests", "req_per_s", "output_tok_per_s", "valid", "stopped", "machine")}})
    return records


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return str(value)


def render_table(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown the README shows: the training rows, then serving, then what was not measured."""
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    lines = [(f"Measured {meta['date']} on {meta['device']} by `python benchmarks/gpu_proof.py` "
              f"({meta['seconds']} s); {versions}."),
             "", "| row | settings | peak alloc GiB | peak reserved GiB | samples/s | goal | met |",
             "|---|---|---|---|---|---|---|"]
    serving = []
    for record in records:
        if record["row"].startswith(("serve-", "hf-")):
            serving.append(record)
            continue
        settings = record["label"] + (f" — {record['error']}" if record.get("error") else "")
        lines.append(f"| {record['row']} | {settings} | {cell(record.get('peak_alloc_gib'))} | "
                     f"{cell(record.get('peak_reserved_gib'))} | {cell(record.get('samples_per_s'))} | "
                     f"{record.get('goal', '')} | {cell(record.get('met')) if record.get('goal') else ''} |")
    lines += ["", (f"Baseline of 2026-11-22 (H100, the workflow's settings on a 16-bit base): "
                   f"{BASELINE_2026_11_22['peak_alloc_gib']} GiB, {BASELINE_2026_11_22['samples_per_s']} samples/s."), "",
              "| serving | concurrency | requests | req/s | output tok/s | schema-valid | goal | met |",
              "|---|---|---|---|---|---|---|---|"]
    for record in serving:
        mode = record.get("mode") or "HF generate, one at a time"
        lines.append(f"| {mode}{' — ' + record['error'] if record.get('error') else ''} | "
                     f"{cell(record.get('concurrency', 1))} | {cell(record.get('requests'))} | "
                     f"{cell(record.get('req_per_s'))} | {cell(record.get('output_tok_per_s'))} | "
                     f"{cell(record.get('valid'))} | {record.get('goal', '')} | "
                     f"{cell(record.get('met')) if record.get('goal') else ''} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str) -> None:
    """Replace what lies between the GPU-proof markers of `readme` with `table` (atomically)."""
    text = readme.read_text(encoding="utf-8")
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{readme}: needs exactly one {BEGIN} … {END} block for the GPU table")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    atomic_write_text(readme, f"{head}{BEGIN}\n{table}{END}{tail}")


# ---------------------------------------------------------------------------------------------- running
def run_limited(command: list[str], limit_s: float, log: Path, env: dict[str, str] | None = None) -> str | None:
    """Run `command` with its output in `log`; None when it succeeded, else why not."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            status = process.wait(timeout=max(limit_s, 1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            return f"over its {limit_s:.0f} s limit (log: {log})"
    if status != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        return f"exit {status}: {tail[0][:200]} (log: {log})"
    return None


def serving_model(workdir: Path) -> Path:
    """The 2B model the training rows built (bf16), copied with a zero head row for every id its tokenizer lacks,
    and t4.yaml's pixel budget pinned, as `fiche pin-pixels` does after an export."""
    import torch
    from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration

    from fiche_vlm.pixels import pin_pixel_budget, recipe_pixel_budget

    bench = load_train_bench()
    spec = bench.DataSpec(samples=SAMPLES, views=2, view_px=(768, 768), long_side=(640, 768), answer_tokens=350, seed=0)
    fiches, _ = bench.prepare_data(workdir, spec, 4096)
    base = bench.build_model(workdir, "2b", fiches, spec.seed)
    target = workdir / "models" / f"serve-{base.name}"
    if (target / "config.json").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(base, partial)
    known = len(AutoTokenizer.from_pretrained(base))
    model = Qwen2VLForConditionalGeneration.from_pretrained(base, dtype=torch.bfloat16)
    with torch.no_grad():
        model.get_output_embeddings().weight[known:] = 0  # tied to the input embeddings in the 2B: never looked up
    model.save_pretrained(partial)
    pin_pixel_budget(partial, *recipe_pixel_budget(ROOT / "recipes" / "t4.yaml"))
    partial.rename(target)
    return target


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_serving(workdir: Path, deadline: float, label: str) -> list[dict[str, Any]]:
    from fiche_vlm.serve import VLLMServer

    if not (ROOT / ".venv-serve").exists():  # the GPU machine: one environment trains and serves
        os.environ.setdefault("FICHE_SERVE_PYTHON", sys.executable)
    env = dict(os.environ)
    model = serving_model(workdir)
    lines: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with VLLMServer(model, port=free_port(), log_path=workdir / "logs" / "vllm.log",
                    startup_timeout=max(deadline - time.monotonic() - 60, 1)) as server:
        for name, command in serve_commands(model, server.base_url, label):
            if name == "hf-generate":
                server.stop()  # the GPU to HF alone
            out = workdir / "logs" / f"{name}.log"
            error = run_limited(command, deadline - time.monotonic(), out, env)
            if error:
                errors.append({"row": name, "error": error})
            lines += [json.loads(text) for text in out.read_text(encoding="utf-8").splitlines() if text.startswith("{")]
    return serve_records(lines) + errors


def environment() -> dict[str, Any]:
    from importlib import metadata

    import torch

    versions = {}
    for name in ("torch", "transformers", "llamafactory", "peft", "bitsandbytes", "vllm", "xgrammar"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    return {"device": device, "versions": versions, "date": datetime.now(timezone.utc).date().isoformat()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "outputs" / "gpu-proof")
    parser.add_argument("--table", type=Path, default=None, help="Markdown table file [WORKDIR/table.md].")
    parser.add_argument("--readme", type=Path, default=None, help="Also put the table between its GPU-proof markers.")
    parser.add_argument("--rows", default=None, help="Comma-separated row names (default: all).")
    parser.add_argument("--dry-run", action="store_true", help="Print the plan (commands, limits); run nothing.")
    parser.add_argument("--tiny", action="store_true", help="Training rows on the CPU tiny model; no serving.")
    args = parser.parse_args(argv)
    names = set(args.rows.split(",")) if args.rows else None
    rows = [row for row in TRAIN_ROWS if names is None or row.name in names]
    serve = not args.tiny and (names is None or "serve" in names)
    workdir = args.workdir.resolve()
    if args.dry_run:
        for row in rows:
            print(json.dumps({"row": row.name, "limit_s": row.limit_s, "command": train_command(row, workdir, args.tiny)}))
        if serve:
            for name, command in serve_commands(workdir / "models" / "serve-2b", "http://127.0.0.1:PORT/v1", "GPU"):
                print(json.dumps({"row": name, "command": command}))
            print(json.dumps({"row": "serve", "limit_s": SERVE_LIMIT_S}))
        print(json.dumps({"total_limit_s": sum(row.limit_s for row in rows) + (SERVE_LIMIT_S if serve else 0)}))
        return 0

    started = time.monotonic()
    deadline = started + TOTAL_LIMIT_S
    meta = environment()
    records = []
    for row in rows:
        jsonl = workdir / f"{row.name}.jsonl"
        jsonl.unlink(missing_ok=True)
        limit = min(row.limit_s, deadline - time.monotonic())
        error = run_limited(train_command(row, workdir, args.tiny), limit, workdir / "logs" / f"{row.name}.log")
        line = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[-1]) if jsonl.exists() else None
        records.append(train_record(row, line, error))
        print(json.dumps(records[-1], ensure_ascii=False), flush=True)
    if serve:
        from fiche_vlm.serve import ServeError

        try:
            serve_rows = run_serving(workdir, deadline, meta["device"])
        except (ServeError, OSError, RuntimeError, ValueError) as error:  # the table says so; training rows stay
            serve_rows = [{"row": "serve", "error": f"{type(error).__name__}: {error}"}]
        for record in serve_rows:
            records.append(record)
            print(json.dumps(record, ensure_ascii=False), flush=True)
    judge(records)
    meta["seconds"] = round(time.monotonic() - started)
    table = render_table(records, meta)
    atomic_write_text(args.table or workdir / "table.md", table)
    if args.readme is not None:
        update_readme(args.readme, table)
    print(json.dumps({"summary": "gpu_proof", **meta, "rows": len(records),
                      "goals_met": [record["row"] for record in records if record.get("met")],
                      "goals_missed": [record["row"] for record in records if record.get("met") is False]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
