# Every target sets up what it needs: a fresh machine only needs python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: setup services lint typecheck unit test demo bench clean docs

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . --group test --group lint
	@# Bytecode now, even where PYTHONDONTWRITEBYTECODE is set: each worker process
	@# would otherwise compile the package from source at every start.
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

setup: $(STAMP)

services:
	bash scripts/services.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy src tests

# The suite runs with a private resolv.conf naming only 127.0.0.1, so no query leaves the machine.
test: setup services lint typecheck
	bash scripts/isolated.sh $(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=term --cov-fail-under=78 $(PYTEST_ARGS)

unit: setup
	bash scripts/isolated.sh $(BIN)/pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

demo: setup
	bash scripts/isolated.sh $(BIN)/aioscout demo

bench: setup
	bash scripts/isolated.sh $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage demo-results.jsonl

# The API pages come from the docstrings (mkdocs-material + mkdocstrings); built into site/.
docs: setup
	$(BIN)/python -m pip install -q -e . --group docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
