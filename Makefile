# SafeSpace: `make run` serves a working site; `make test` runs every check.
# Both set themselves up on a machine that has only Python 3.11+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
export SAFESPACE_DATA_DIR ?= data

.PHONY: run test check lint types test-sqlite test-postgres browser nginx screenshots clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "SafeSpace needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/safespace migrate
	$(BIN)/safespace demo
	@echo "SafeSpace is starting on http://$(HOST):$(PORT)"
	$(BIN)/safespace serve --host $(HOST) --port $(PORT)

# A browser for the end-to-end tests: Debian's Chromium where we are root, else the one
# Playwright downloads for itself.
browser: $(STAMP)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  echo "Chromium found."; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  $(BIN)/playwright install chromium; \
	fi

# nginx for the tests that run deploy/nginx/safespace.conf in front of two processes
# (tests/test_multiprocess.py, PostgreSQL run): Debian's package where we are root. The
# package's own service is stopped: the tests start nginx themselves, on free ports.
nginx:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then \
	  echo "nginx found."; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  /usr/sbin/nginx -s quit 2>/dev/null || true; \
	else \
	  echo "nginx is not installed: the tests through nginx will be skipped (they fail under CI=true)."; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

types: $(STAMP)
	$(BIN)/mypy

test-sqlite: $(STAMP) browser
	SAFESPACE_TEST_DB=sqlite $(BIN)/pytest -p no:cacheprovider

test-postgres: $(STAMP) browser nginx
	SAFESPACE_TEST_DB=postgres $(BIN)/pytest -p no:cacheprovider

test: lint types test-sqlite test-postgres

screenshots: $(STAMP) browser
	$(BIN)/python scripts/screenshots.py http://$(HOST):$(PORT) screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
