# Iron River: `make run` serves the dashboard on the embedded SQLite data; `make test` runs everything.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8050

.PHONY: venv run test lint typecheck pytest db system-deps screenshots bench fuzz clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

# Builds or updates the default database: migrations, then every embedded source whose input changed.
db: $(STAMP)
	$(BIN)/ironriver db upgrade
	$(BIN)/ironriver etl run

run: db
	$(BIN)/ironriver serve --port $(PORT)

system-deps:
	bash .ci/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy db etl geo dashboard/queries.py dashboard/figures.py dashboard/guard.py \
		dashboard/api.py dashboard/datasets.py

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
pytest: $(STAMP) system-deps
	bash .ci/pytest.sh

test: lint typecheck pytest

# Benchmarks of issue 5 against sqlite3 .import, sqlite-utils and Datasette (bench/README.md):
# writes bench/results/latest.json and latest.md; under 15 minutes on 2 cores.
bench: $(STAMP) system-deps
	bash bench/system-deps.sh
	$(BIN)/pip install -q --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m bench.run

# The long reliability campaigns (tests/reliability): kill trials, loader and web fuzzing, concurrency.
fuzz: $(STAMP) system-deps
	PYTEST_POSTGRES_URL=$$(bash .ci/pg.sh start) $(BIN)/python -m tests.reliability; rc=$$?; bash .ci/pg.sh stop; exit $$rc

screenshots: db system-deps
	$(BIN)/python -m dashboard.screenshots docs/screenshots

clean:
	rm -rf $(VENV) data build *.egg-info
