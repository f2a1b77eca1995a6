# Two set-up commands: `make demo` and `make test`. Both create .venv on first use.
# `make demo` installs ktx with its base dependencies only; `make test` adds the dev extras
# (every warehouse driver, the stand-ins, both agent SDKs, local embeddings with the CPU build of torch).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch for local embeddings; installed first so nothing pulls a CUDA build.
TORCH ?= torch==2.13.0
BASE_STAMP := $(VENV)/.installed-base
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(BASE_STAMP)

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP) $(BASE_STAMP)

demo: $(BASE_STAMP)
	$(PY) examples/demo/run_demo.py

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples scripts
	$(VENV)/bin/ruff format --check src tests benchmarks examples scripts

test: lint
	$(VENV)/bin/pytest -n auto -q

bench: $(DEV_STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
