# kmm — make help lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RUN_SECONDS
FUZZ_SECONDS ?= 600
SOAK_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup system-deps run sim test test-unit test-integration test-system lint bench soak fuzz backtest grid acl clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

system-deps: ## install redis-server (and test tools) from Debian when missing
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml scripts/python-deps.sh
	@bash scripts/python-deps.sh $(PYTHON) $(VENV)
	@touch $(STAMP)

setup: system-deps $(STAMP) ## create .venv and install kmm with its test dependencies

run: setup ## run the whole system live against the simulator (RUN_SECONDS=N to stop after N s)
	$(BIN)/kmm run $(RUN_ARGS)

sim: setup ## run only the exchange simulator on port 8090
	$(BIN)/kmm sim --port 8090 --seed 1

test: setup ## run every test (unit, integration with a private Redis, system)
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 tests

test-unit: setup ## unit tests only (no Redis)
	$(BIN)/pytest -q tests/unit

test-integration: setup ## integration tests (private redis-server)
	$(BIN)/pytest -q tests/integration

test-system: setup ## multi-process system tests
	$(BIN)/pytest -q tests/system

lint: setup ## ruff
	$(BIN)/ruff check .

bench: setup ## every benchmark but the soak and issue 11's grids; each prints its figures as one JSON line at the end
	@for b in bench/*.py; do case "$$b" in bench/soak.py|bench/issue11_grids.py) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

soak: setup ## 30-minute chaos soak (faults on a schedule; SOAK_ARGS="--seconds N" to change); last line: JSON figures
	@mkdir -p out
	set -o pipefail; $(BIN)/python bench/soak.py $(SOAK_ARGS) | tee out/soak.json

fuzz: setup ## every fuzzer for FUZZ_SECONDS (default 600) each; a line per fuzzer in out/fuzz.jsonl
	@mkdir -p out && rm -f out/fuzz.jsonl
	KMM_FUZZ_SECONDS=$(FUZZ_SECONDS) KMM_FUZZ_REPORT=$(CURDIR)/out/fuzz.jsonl $(BIN)/pytest -q -p no:cacheprovider tests/fuzz
	@cat out/fuzz.jsonl

backtest: setup ## backtest on a small deterministic synthetic dataset
	$(BIN)/kmm backtest --synthetic --out out/backtest

grid: setup ## 1,024-cell (32 × 32 gamma, kappa) grid search, risk on, with heatmap and CSV
	$(BIN)/kmm grid --synthetic --out out/grid

acl: setup ## write deploy/redis/users.acl from the topology table (passwords in deploy/secrets/redis)
	$(BIN)/kmm acl --out deploy/redis/users.acl --secrets-dir deploy/secrets/redis

clean: ## remove the venv and generated output
	rm -rf $(VENV) out var .pytest_cache .ruff_cache .hypothesis
