# The two set-up commands of the README (`make run`, `make test`) and the project's checks.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installs come from the lock files (exact versions with their hashes); pyproject.toml keeps the
# compatible ranges they are made from (`make lock`, README).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat pyproject.toml $(DEV_LOCK) | sha1sum | cut -c1-12)
# The quick tests the other supported Pythons run (SQLite only): the engine, identity and the
# kernel, without the slow tests (Splink on Spark, the large disclosure-control properties), which
# `make test` runs on this Python; those marked every_python (one Spark run, the analysis workers'
# processes) run there too.
FAST_TESTS := tests/analysis tests/identity tests/kernel
FAST_MARKS := not slow or every_python
# The tests run in parallel, one pytest-xdist worker per core (README, "Testing"): each worker
# has its own PostgreSQL and Redis database and ports (tests/workers.py); tests marked with an
# xdist_group run one after another on one worker. `make test TEST_WORKERS=0` runs serially.
TEST_WORKERS ?= auto
PARALLEL := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: run test test-fast check bench reliability screenshots install install-dev lock clean oidc-demo

# The project's bytecode, written before it runs as pip writes a wheel's at install. Where the
# environment sets PYTHONDONTWRITEBYTECODE (this project's CI machines do), every process would
# otherwise compile the project's modules from source each time it starts: about 0.4 s of CPU
# per command, server worker and test subprocess. Quick when nothing changed; Python checks
# each file against its source, so an edited module is never run from stale bytecode.
BYTECODE = $(BIN)/python -m compileall -q -j 0 governance tests

# pip installs by default. `UV=.venv/bin/uv` installs the same lock, hashes checked, with uv
# (a dev dependency, so from an installed venv): CI's other Pythons do, in a third of pip's time
# (parallel downloads, and a cache that keeps built wheels such as pyspark's).
UV ?=
PIP_INSTALL := $(if $(UV),$(UV) pip install --python $(BIN)/python,$(BIN)/pip install)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(if $(UV),,$(BIN)/python -m pip install --quiet --upgrade pip)

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(PIP_INSTALL) --quiet --require-hashes -r $(LOCK)
	$(PIP_INSTALL) --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(BIN)/python pyproject.toml $(DEV_LOCK)
	$(PIP_INSTALL) --quiet --require-hashes -r $(DEV_LOCK)
	$(PIP_INSTALL) --quiet --no-deps -e .
	touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# The analysis worker runs beside the server and stops with it. The browser talks to the
# server directly (no buffering proxy), so threads, not sync workers (README, "Serving in
# production"): a browser's idle pre-opened connection holds a thread, not a whole process. `make run PORT=8080` serves
# elsewhere; links in e-mails and the demo's printed address follow the port.
PORT ?= 5000
run: export GOVERNANCE_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install
	$(BYTECODE)
	$(BIN)/governance init
	$(BIN)/governance demo
	$(BIN)/governance worker --workers 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/governance serve --bind 127.0.0.1:$(PORT) --workers 2 --worker-class gthread

# A local OpenID Connect provider (node's oidc-provider) for `make run` to sign in with; it
# writes instance/identity_providers.toml when absent (docs/identity.md).
oidc-demo: install-dev
	$(BIN)/python tools/oidc_demo.py

test: install-dev
	$(BYTECODE)
	$(BIN)/python -m pytest $(PARALLEL)

# e.g. `make test-fast PYTHON=python3.13 VENV=.venv-3.13`: another Python, the quick tests only.
test-fast: install-dev
	$(BYTECODE)
	env -u GOVERNANCE_TEST_DATABASE_URL $(BIN)/python -m pytest -q -p no:cacheprovider $(PARALLEL) \
	  -m "$(FAST_MARKS)" $(FAST_TESTS)

# Refresh the lock files from pyproject.toml's ranges (newest versions they allow, for every
# supported Python), then `make install-dev` and the tests.
lock: install-dev
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	  --quiet -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --generate-hashes --quiet -o $(DEV_LOCK)

bench: install-dev
	$(BYTECODE)
	$(BIN)/python bench/run.py

# The full reliability suite (load for 60 s per database); `make test` runs its short version.
reliability: install-dev
	$(BYTECODE)
	GOVERNANCE_RELIABILITY=full $(BIN)/python -m pytest -m reliability tests/reliability

# Lint, types (mypy --strict on governance/, see pyproject) and the allowed arrows between
# packages (import-linter's contracts in pyproject; docs/architecture.md draws them).
check: install-dev
	$(BIN)/ruff check governance tests tools
	$(BIN)/ruff format --check governance tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The screenshot tour (README, "Screenshots"): the demo world in a temporary instance, each
# role's main page and each PDF's first page into docs/screenshots/. Needs /usr/bin/chromium
# and pdftoppm (apt-get install chromium poppler-utils).
screenshots: install-dev
	$(BIN)/python tools/screenshot_tour.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
