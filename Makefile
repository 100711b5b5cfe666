# Every target sets up what it needs: a fresh machine only needs python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NATIVE := $(VENV)/.native-stamp
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

# The hot modules compiled with mypyc where a C compiler is found (scripts/build_native.py);
# rebuilt when any source changes, since compiled code is typed against its imports.
$(NATIVE): $(STAMP) scripts/build_native.py $(shell find src/aioscout -name '*.py')
	$(BIN)/python scripts/build_native.py
	touch $(NATIVE)

setup: $(STAMP) $(NATIVE)

services:
	bash scripts/services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src tests

# The suite runs with a private resolv.conf naming only 127.0.0.1, so no query leaves the machine.
# Twice where the hot modules are compiled: the sources with coverage (AIOSCOUT_PURE=1;
# compiled code is not traced), then the compiled build as it is installed.
test: setup services lint typecheck
	AIOSCOUT_PURE=1 bash scripts/isolated.sh $(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=term --cov-fail-under=78 $(PYTEST_ARGS)
	if [ -f src/aioscout/_native.json ]; then bash scripts/isolated.sh $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS); fi

unit: setup
	bash scripts/isolated.sh $(BIN)/pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

demo: setup
	bash scripts/isolated.sh $(BIN)/aioscout demo

bench: setup
	bash scripts/isolated.sh $(BIN)/python bench/run_all.py

clean:
	$(PY) scripts/build_native.py --clean
	rm -rf $(VENV) .mypyc_cache .mypy_cache .ruff_cache .pytest_cache .coverage demo-results.jsonl

# The API pages come from the docstrings (mkdocs-material + mkdocstrings); built into site/.
docs: setup
	$(BIN)/python -m pip install -q -e . --group docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
