# Anvil — the two commands are `make run` and `make test` (see README.md).

PYTHON ?= $(shell scripts/find-python)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ANVIL_DATA_DIR ?= $(CURDIR)/var
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run setup test test-sqlite test-pg e2e bench lint clean

$(STAMP): client/pyproject.toml forge/pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'client[dev]' -e 'forge[dev]'
	@touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/anvil migrate --no-input
	$(BIN)/anvil demo
	$(BIN)/anvil serve --host 127.0.0.1 --port 8000 --with-worker

test: $(STAMP)
	@mkdir -p var/test
	cd client && ../$(BIN)/pytest -q
	cd forge && ANVIL_DATA_DIR=$(CURDIR)/var/test ../$(BIN)/pytest -q

# CI runs both; `make test` alone uses DATABASE_URL (SQLite when unset).
test-sqlite: $(STAMP)
	env -u DATABASE_URL $(MAKE) test

test-pg: $(STAMP)
	scripts/ensure-postgres
	DATABASE_URL=$(PG_URL) $(MAKE) test

lint: $(STAMP)
	$(BIN)/python -m compileall -q client/src forge/src

clean:
	rm -rf $(VENV) client/src/*.egg-info forge/src/*.egg-info
