# The two set-up commands of the README (`make run`, `make test`) and the project's checks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test check bench reliability install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# The analysis worker runs beside the server and stops with it.
run: install
	$(BIN)/governance init
	$(BIN)/governance demo
	$(BIN)/governance worker --workers 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/governance serve --bind 127.0.0.1:5000 --workers 2

test: install-dev
	$(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python bench/run.py

# The full reliability suite (load for 60 s per database); `make test` runs its short version.
reliability: install-dev
	GOVERNANCE_RELIABILITY=full $(BIN)/python -m pytest -m reliability tests/reliability

# Lint, types (mypy --strict on governance/, see pyproject) and the allowed arrows between
# packages (import-linter's contracts in pyproject; docs/architecture.md draws them).
check: install-dev
	$(BIN)/ruff check governance tests tools
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
