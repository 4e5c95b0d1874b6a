# Two commands a newcomer needs: `make demo` and `make test`. Everything else is plumbing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
# Parallel test processes (pytest-xdist): one per CPU core by default.
TEST_WORKERS ?= auto
PORT ?= 8000

.PHONY: install demo test lint check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -e '.[dev]' --config-settings editable_mode=compat
	$(BIN)/python -m investigations.reports.provision
	touch $(STAMP)

## Start the portal with demo data on the embedded default (SQLite + filesystem broker).
demo: export DEBUG ?= true
demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m portal.devserver

## Run the whole suite (uses DATABASE_URL / CELERY_BROKER_URL when set, embedded defaults otherwise).
# Tests keep their files (SQLite test database, broker folders, uploads) apart from the demo's,
# and each parallel test process its own. The browser tests get a browser first: Debian's
# chromium (apt-get, as root), else Playwright's own; with neither they are skipped, loudly.
test: export DEBUG ?= true
test: export DATA_DIR ?= $(CURDIR)/var/test
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portal investigations accounts analysis bench
	$(BIN)/lint-imports
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m tests.browser_setup
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: $(STAMP)
	$(BIN)/python manage.py check --deploy

bench: $(STAMP)
	$(BIN)/python -m bench.engine

clean:
	rm -rf var/ $(VENV)
