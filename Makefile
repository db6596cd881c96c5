# Each target sets itself up: a fresh machine needs only python3 (>= 3.11) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench mutate clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m bot preview --demo

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Most tests wait on sockets and subprocesses, so four at a time fit two cores.
unit: $(STAMP)
	$(PY) -m pytest -n 4

bench: $(STAMP)
	$(PY) -m bench

# Mutation testing of the modules listed under [tool.mutmut] in pyproject.toml; not part of
# `make test` (it takes a while). MUTANTS narrows it, e.g. make mutate MUTANTS='bot.query*'.
MUTANTS ?=
mutate: $(STAMP)
	$(PY) -m pip install -qq -e '.[dev,mutate]'
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS) > /dev/null || true
	$(PY) -m tests.mutation_report

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache mutants
