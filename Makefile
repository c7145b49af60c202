# Anvil — the two commands are `make run` and `make test` (see README.md).

PYTHON ?= $(shell scripts/find-python)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ANVIL_DATA_DIR ?= $(CURDIR)/var
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run setup assets test test-sqlite test-pg e2e bench lint clean

# Browser assets of the web UI come from the npm registry (package.json, package-lock.json),
# never from a CDN; the files the pages load are copied into the web app's static folder.
VENDOR := forge/src/anvil_forge/web/static/web/vendor
NPM_STAMP := node_modules/.installed
CHROMIUM ?= /usr/bin/chromium

$(STAMP): client/pyproject.toml forge/pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'client[dev]' -e 'forge[dev]'
	@touch $@

setup: $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the web UI's assets (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENDOR)/htmx.min.js: $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $@

assets: $(VENDOR)/htmx.min.js

run: $(STAMP) assets
	$(BIN)/anvil migrate --no-input
	$(BIN)/anvil demo
	@# The demo's LIVE apps take pushes on loopback, which a FORGE refuses by default (docs/security.md).
	ANVIL_RECEIVER_ALLOWED_NETWORKS="$${ANVIL_RECEIVER_ALLOWED_NETWORKS-127.0.0.0/8,::1/128}" \
		$(BIN)/anvil serve --host 127.0.0.1 --port 8000 --with-worker

test: $(STAMP) assets
	@mkdir -p var/test
	cd client && ../$(BIN)/pytest -q
	cd forge && ANVIL_DATA_DIR=$(CURDIR)/var/test ../$(BIN)/pytest -q

# CI runs both; `make test` alone uses DATABASE_URL (SQLite when unset).
test-sqlite: $(STAMP)
	env -u DATABASE_URL $(MAKE) test

test-pg: $(STAMP)
	scripts/ensure-postgres
	DATABASE_URL=$(PG_URL) $(MAKE) test

# Browser tests: Playwright driving Debian's Chromium ($(CHROMIUM)), headless, against `anvil serve`.
e2e: $(STAMP) assets
	@test -x $(CHROMIUM) || { echo "e2e needs Chromium at $(CHROMIUM) (apt-get install chromium)"; exit 1; }
	@mkdir -p var/e2e
	cd forge && ANVIL_CHROMIUM=$(CHROMIUM) ANVIL_DATA_DIR=$(CURDIR)/var/e2e ../$(BIN)/pytest -q -p no:django -p no:cacheprovider -W ignore::pytest.PytestConfigWarning e2e

# Benchmarks (issue 5; not part of `make test`): prints a table and writes docs/performance.md.
# langfuse is installed into the venv for the comparison only; it is no dependency of the packages.
bench: $(STAMP)
	@$(BIN)/python -c 'import langfuse' 2>/dev/null || $(BIN)/pip install --quiet 'langfuse>=5,<6'
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	cd client && ../$(BIN)/mypy
	cd forge && ANVIL_DATA_DIR=$(CURDIR)/var/lint ../$(BIN)/mypy

clean:
	rm -rf $(VENV) client/src/*.egg-info forge/src/*.egg-info node_modules $(VENDOR)
