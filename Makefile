# Quick start: `make serve` runs the gateway on its embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test bench bench-quick lint format typecheck install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

serve: $(VENV)/.installed
	$(BIN)/kling-gateway serve

# Two pytest-xdist workers (TEST_WORKERS=0 runs in one process; more where there are cores): the
# suite keeps about one core busy, so a second worker uses the other one. Measured with `.ci/run`
# on a fresh clone, 2-core machine, 2026-12-03: 2 workers, suite 20 min 30 s; one process, 73 % of
# the suite after 24 min. --dist loadfile keeps each test file on one worker, so a module's gateway
# fixtures start once; files go out long ones first (tests/conftest.py: _long_files_first).
TEST_WORKERS ?= 2

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The fast layer alone: unit tests and the app/store in-process (no gateway child processes).
test-fast: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q -ra -m "not e2e"

# Gates (CI runs them before the tests): lint = ruff check + format check; typecheck = mypy, strict on src/.
lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

bench: $(VENV)/.test-installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@command -v wrk >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1) || echo "wrk not installed: using the Python load generator"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) data .pytest_cache

# Day-to-day (under 2 minutes, fine on a busy machine): CPU per request in process, gateway vs bare,
# for query (API key / JWT, both layouts), list and create; prints and writes docs/benchmarks-quick.md.
bench-quick: $(VENV)/.test-installed
	$(BIN)/python -m bench cpu --tasks 20000 --out docs/benchmarks-quick.md
	@sed -n '/^| scenario/,/^$$/p' docs/benchmarks-quick.md
