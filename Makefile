# Two targets do all the setup on a fresh machine (Python >= 3.10 with venv):
#   make explain   builds the environment, then writes the interactive explainer on digits
#   make test      builds the environment with the test extra, then runs the test suite
#   make quick     the edit-test loop: every test not marked slow, stopping at the first failure
#   make lint      ruff (lint and format) and mypy over src/; make test runs it first
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: explain test quick lint env

$(BIN)/vaelab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU build of PyTorch first: any other torch requirement pulls the CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/vaelab

env: $(BIN)/vaelab

explain: env
	$(BIN)/vaelab explain --out explain-out

test: lint
	$(BIN)/python -m pytest -q

lint: env
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

quick: env
	$(BIN)/python -m pytest -q -m "not slow" -x
