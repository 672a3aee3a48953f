# The two commands everyone needs: `make run` (the service on the embedded default) and
# `make test` (lint, types and the whole suite on PostgreSQL + Redis and on the embedded default).
# Both set up everything they need on a fresh machine with Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt scripts/setup.sh | sha1sum | cut -c1-12)

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	PYTHON=$(PYTHON) scripts/setup.sh
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

run: setup
	$(BIN)/tuneforge serve

test: setup
	scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-output
