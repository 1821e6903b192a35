# Two commands on a fresh machine: `make demo` and `make test`.
# Each bootstraps .venv from nothing; the stamp files make reruns cheap.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test lint typecheck pytest kb clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/mlstix demo

LINT_PATHS := src tests $(wildcard benchmarks)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -n auto

test: lint typecheck pytest

kb: $(VENV)/.installed-base
	$(BIN)/mlstix kb build

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
