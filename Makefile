# Everything a fresh machine needs: `make run` and `make test` create .venv and install pinned deps.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed

.PHONY: run test lint typecheck schema bench clean

$(DEPS): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(DEPS)

run: $(DEPS)
	$(PY) -m ecg_graphql serve

lint: $(DEPS)
	$(PY) -m ruff check .

typecheck: $(DEPS)
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

schema: $(DEPS)
	$(PY) -m ecg_graphql export-schema > schema.graphql

bench: $(DEPS)
	$(PY) -m bench.ingest
	$(PY) -m bench.query

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
