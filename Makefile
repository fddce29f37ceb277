# One command for what CI checks: `make check` (the gates, then every test).
PY ?= .venv/bin/python
BIN := $(dir $(PY))

.PHONY: check gates lint types layers test fix

check: gates test

gates: lint types layers

lint:
	$(BIN)ruff check .
	$(BIN)ruff format --check .

types:
	$(BIN)mypy

layers:
	$(BIN)lint-imports

test:
	$(PY) -m pytest -ra

fix:
	$(BIN)ruff check --fix .
	$(BIN)ruff format .
