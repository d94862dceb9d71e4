# Iron River: `make run` serves the dashboard on the embedded SQLite data; `make test` runs everything.
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what serving needs; tests, lint and benchmarks add the dev,
# bench and traces (the trace loader's) extras.
SERVE_STAMP := $(VENV)/.serve-stamp
STAMP := $(VENV)/.dev-stamp
PIP := $(BIN)/pip install -q --disable-pip-version-check
PORT ?= 8050

.PHONY: venv run test lint typecheck pytest readme messages db system-deps screenshots bench fuzz clean
# axe-core for the accessibility test, exactly the version of tests/axe/package-lock.json.
AXE := tests/axe/node_modules/axe-core/axe.min.js

$(SERVE_STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(PIP) -e '.[dev,bench,traces]'
	touch $(STAMP)

venv: $(STAMP)

# Builds or updates the default database: migrations, then every embedded source whose input changed.
db: $(SERVE_STAMP)
	$(BIN)/ironriver db upgrade
	$(BIN)/ironriver etl run

run: db
	$(BIN)/ironriver serve --port $(PORT)

system-deps:
	bash .ci/system-deps.sh

$(AXE): tests/axe/package-lock.json | system-deps
	npm ci --prefix tests/axe --no-audit --no-fund --ignore-scripts
	touch $(AXE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy db etl geo dashboard/figures dashboard/guard.py dashboard/api.py dashboard/images.py dashboard/embed.py dashboard/i18n.py dashboard/messages.py dashboard/text.py \
	  dashboard/data.py dashboard/first_view.py dashboard/first_screen.py dashboard/compressed.py dashboard/responses.py dashboard/dataset_words.py dashboard/glossary.py dashboard/wsgi.py \
	  dashboard/views bench

# The README's command and settings tables come from the click tree and db/settings.py, its
# performance table from bench/results/latest.json (cog).
readme: $(STAMP)
	$(BIN)/cog -r README.md

# The Spanish catalogue follows the code: new messages are added untranslated, unused ones dropped
# (tests/test_i18n.py fails until every message has its Spanish).
messages: $(STAMP)
	$(BIN)/python -m dashboard.messages

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
pytest: $(STAMP) system-deps $(AXE)
	bash .ci/pytest.sh

test: lint typecheck pytest

# Benchmarks of issues 5 and 13 against sqlite3 .import, sqlite-utils, Datasette, ... (bench/README.md):
# writes bench/results/latest.json and latest.md, and the README's table from them (cog);
# under 15 minutes on 2 cores.
bench: $(STAMP) system-deps
	bash bench/system-deps.sh
	BENCH_POSTGRES_URL=$${BENCH_POSTGRES_URL:-$$(bash .ci/pg.sh start)} $(BIN)/python -m bench.run
	$(BIN)/cog -r README.md

# The long reliability campaigns (tests/reliability): kill trials, loader and web fuzzing, concurrency.
fuzz: $(STAMP) system-deps
	PYTEST_POSTGRES_URL=$$(bash .ci/pg.sh start) $(BIN)/python -m tests.reliability; rc=$$?; bash .ci/pg.sh stop; exit $$rc

screenshots: db system-deps
	$(BIN)/python -m dashboard.screenshots docs/screenshots

clean:
	rm -rf $(VENV) data build *.egg-info
