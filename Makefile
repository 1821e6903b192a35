# Two commands on a fresh machine: `make demo` and `make test`.
# Each bootstraps .venv from nothing; the stamp files make reruns cheap.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# C accelerators compiled at install (hatch_build.py): a changed source reinstalls
KERNELS := $(shell find src/mlstix -name '_k*.[ch]')
PY     := $(BIN)/python

.PHONY: demo test test-deps lint typecheck pytest kb dist clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml hatch_build.py $(KERNELS) | $(PY)
	$(PY) -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml hatch_build.py $(KERNELS) | $(PY)
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

# What the suite needs beyond Python (PostgreSQL, Chromium, npm tools): scripts/test-deps.sh
# installs what it can and says what it cannot; the tests that need a missing piece skip.
test-deps:
	scripts/test-deps.sh

pytest: $(VENV)/.installed-dev test-deps
	$(BIN)/pytest -n auto

test: lint typecheck pytest

kb: $(VENV)/.installed-base
	$(BIN)/mlstix kb build

# A wheel and an sdist in dist/: `pip install dist/mlstix-*.whl` (or 'dist/mlstix-*.whl[all]')
dist: $(PY)
	$(PY) -m pip install --quiet build
	rm -rf dist
	$(PY) -m build --outdir dist

clean:
	rm -rf $(VENV) build dist .cache .mypy_cache .pytest_cache .ruff_cache
