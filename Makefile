# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test lint typecheck contracts unit e2e bench golden clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: venv
	$(BIN)/python -m gitxds.demo examples/ai-gateway

lint: venv
	$(BIN)/ruff check src tests e2e bench
	$(BIN)/ruff format --check src tests e2e bench

typecheck: venv
	$(BIN)/mypy

contracts: venv
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest -n 2 tests

e2e: venv
	$(BIN)/pytest -n 2 e2e

test: lint typecheck contracts
	$(BIN)/pytest -n 2 tests e2e

golden: venv
	$(BIN)/pytest tests/golden --update-golden

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
