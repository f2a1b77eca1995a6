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
# The test environment is pinned (constraints/dev.txt) so a fresh clone tests what CI last passed with, whatever
# patch release of a fast-moving SDK PyPI has today; `make test-newest` checks today's releases, `make lock` re-pins.
LOCK := constraints/dev.txt
NEWEST_VENV := .venv-newest
# dbt's MetricFlow parser (the `metricflow` extra). It pins click<8.4 while huggingface-hub (local embeddings) needs
# click>=8.4.2, so pip's resolver cannot install both: the dev environment adds it without its dependencies (those it
# uses are in the dev extra; it uses click only to colour text, which works with any click 8).
DSI := dbt-semantic-interfaces

.PHONY: demo test test-newest lock lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# An editable install leaves src/ without bytecode (pip compiles a wheel's modules when it installs them); with
# PYTHONDONTWRITEBYTECODE set, every ktx process would compile its modules again (~30 ms of each CLI call).
$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) -m compileall -q src
	touch $(BASE_STAMP)

$(DEV_STAMP): pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -c $(LOCK) -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps -c $(LOCK) $(DSI)
	$(PY) -m compileall -q src
	touch $(DEV_STAMP) $(BASE_STAMP)

demo: $(BASE_STAMP)
	$(PY) examples/demo/run_demo.py

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples scripts
	$(VENV)/bin/ruff format --check src tests benchmarks examples scripts

test: lint
	$(VENV)/bin/pytest -n auto -q

# Every test against the newest releases PyPI has today (no constraints), in a venv of its own.
test-newest:
	rm -rf $(NEWEST_VENV)
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip "$(TORCH)"
	$(NEWEST_VENV)/bin/python -m pip install --quiet -e ".[dev]"
	$(NEWEST_VENV)/bin/python -m pip install --quiet --no-deps $(DSI)
	$(NEWEST_VENV)/bin/pytest -n auto -q

# Re-pin the test environment to today's newest releases (run `make test-newest` first).
lock: test-newest
	python3 scripts/write_lock.py $(NEWEST_VENV)/bin/python $(LOCK)

bench: $(DEV_STAMP)
	$(PY) -m compileall -q src
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(NEWEST_VENV) build dist .pytest_cache .ruff_cache
