# One-command set-up: `make run` and `make test` build .venv from the package registries first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= ./config.toml

.PHONY: install install-test run test bench lint clean

$(BIN)/newswatch: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

install: $(BIN)/newswatch

$(VENV)/.test-extras: $(BIN)/newswatch
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install-test: $(VENV)/.test-extras

run: install
	$(BIN)/newswatch --config $(CONFIG) run

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python bench/crawl
	$(BIN)/python bench/classify
	$(BIN)/python bench/fanout
	$(BIN)/python bench/latency
	$(BIN)/python bench/memory
	$(BIN)/python bench/scale

lint: install-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
