# Every developer action. `make help` lists them. Each target bootstraps .venv itself.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# rustup installs cargo here; a non-login shell (CI) may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-stamp
DEMO_ROWS ?= 20000
# pyproject extras the dev environment installs (torch comes with `reward`).
EXTRAS := zstd reward eval distill datasets embed ray test lint

.PHONY: help demo gpu-prepare test test-rust test-python lint fmt bench build-release build-debug clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PYTHON) scripts/requirements.py $(EXTRAS) | xargs -d '\n' $(BIN)/python -m pip install -q "maturin>=1.7,<2"
	touch $(STAMP)

build-release: $(STAMP) ## Build and install the extension in release mode
	$(BIN)/maturin develop --release --quiet

build-debug: $(STAMP) ## Build and install the extension in debug mode (tests)
	$(BIN)/maturin develop --quiet

SHARED ?= ../shared/benchmarks

demo: build-release ## The AM recipe on a slice of ../shared (tiny model), then dedup vs a planted truth
	$(BIN)/python -m amfast.tiny_model demo-out/tiny-model $(SHARED)/math/math_train.jsonl.gz $(SHARED)/eval/gsm8k_train.jsonl.gz
	$(BIN)/amfast run examples/demo_recipe.toml
	$(BIN)/amfast demo --rows $(DEMO_ROWS) -o demo-out/dedup

test: test-rust test-python ## Run every test (Rust unit/property tests, then pytest)

test-rust: ## cargo test of the pure-Rust core
	cargo test --no-default-features

test-python: build-debug ## pytest on the Python API, CLI and the Rust boundary
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff, rustfmt, clippy (both feature sets), mypy, stubtest
	$(BIN)/ruff check python tests benches scripts
	$(BIN)/ruff format --check python tests benches scripts
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest amfast._core --allowlist .mypy-stubtest-allowlist

fmt: $(STAMP) ## Format Python and Rust
	$(BIN)/ruff format python tests benches scripts
	$(BIN)/ruff check --fix python tests benches scripts
	cargo fmt

bench: build-release ## Every benchmark against its peer, side by side; see benches/README.md
	$(PYTHON) scripts/requirements.py bench | xargs -d '\n' $(BIN)/python -m pip install -q
	$(BIN)/python benches/near_dedup_vs_peers.py
	$(BIN)/python benches/near_dedup_short_texts.py
	$(BIN)/python benches/dedup_file_vs_rensa.py
	$(BIN)/python benches/normalize_vs_python.py
	$(BIN)/python benches/clean_pipeline.py
	$(BIN)/python benches/verify_math_vs_math_verify.py
	$(BIN)/python benches/verify_code_vs_peer.py
	$(BIN)/python benches/distill_client_overhead.py
	$(BIN)/python benches/sft_throughput.py
	$(BIN)/python benches/sft_vs_trainer.py
	$(BIN)/python benches/ann_vs_faiss.py
	$(BIN)/python benches/decontam_vs_python.py
	$(BIN)/python benches/decontam_perturbations.py
	$(BIN)/python benches/verify_real_traces.py
	$(BIN)/python benches/embed_vs_sentence_transformers.py

gpu-prepare: $(STAMP) ## Build .gpu/ (abi3 wheel, missing wheels, data) for benches/gpu_check.sh
	bash scripts/gpu_prepare.sh

clean: ## Remove build outputs and the virtualenv
	rm -rf target $(VENV) demo-out
