# Thin wrappers: tooling lives in pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-slow lint format sweep bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[plot,dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m slow

lint: $(STAMP)
	$(BIN)/ruff check trajax tests benchmarks
	$(BIN)/ruff format --check trajax tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format trajax tests benchmarks
	$(BIN)/ruff check --fix trajax tests benchmarks

sweep: $(STAMP)
	$(BIN)/trajax sweep configs/default.toml --out runs/default --resume

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[plot,dev,bench]"
	$(BIN)/python -m benchmarks.run

.PHONY: notebooks
notebooks: $(STAMP)    # re-executes examples/*.ipynb top to bottom and saves their outputs
	$(BIN)/python examples/run_notebooks.py --inplace

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
