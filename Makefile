# habsburg — quick start: `make run` then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= baseline
OUT ?= results/$(SCENARIO)
# pytest workers for `make test` (pytest-xdist; at most 4 with auto); 0 runs the suite in one process
TEST_WORKERS ?= auto

.PHONY: run test fuzz lint format viz validate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/habsburg run $(SCENARIO) --out $(OUT)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check habsburg tests benchmarks examples
	$(BIN)/ruff format --check habsburg tests benchmarks examples
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist loadscope

# Hypothesis fuzzing of every input (make test runs a bounded profile of the same tests: 20 examples
# a test, about 70 in all)
fuzz: $(VENV)/.installed-dev
	HABSBURG_FUZZ=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz --hypothesis-show-statistics

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check habsburg tests benchmarks examples
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format habsburg tests benchmarks examples
	$(BIN)/ruff check --fix habsburg tests benchmarks examples

viz: $(VENV)/.installed-dev
	$(BIN)/habsburg viz $(SCENARIO)

validate: $(VENV)/.installed
	$(BIN)/habsburg validate

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_baseline.py

# the environments and tool caches make wrote; never results/ (your runs, and whatever else
# you keep there): delete what you no longer need yourself
clean:
	rm -rf $(VENV) .venv .venv312 .pytest_cache .mypy_cache .ruff_cache
	@echo "kept results/ (runs are yours to delete)"
