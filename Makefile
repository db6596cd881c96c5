# Each target sets itself up: a fresh machine needs only Python 3.11 or newer and make.
# `make PYTHON=python3.12 …` picks another Python; the venv is rebuilt when it was made by
# another one. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# "True <path>" for a usable Python, "False <path>" for one too old, empty when there is none.
FOUND := $(shell $(PYTHON) -c 'import sys; print(sys.version_info >= (3, 11), sys.executable)' 2>/dev/null)

.DEFAULT_GOAL := help
.PHONY: help demo check run test lint typecheck unit bench mutate image-check clean

MADE_BY := $(VENV)/.python
# A venv made by another Python than $(PYTHON) (or by a failed first try) is made again.
ifneq ($(shell cat $(MADE_BY) 2>/dev/null),$(FOUND))
.PHONY: $(STAMP)
endif

help: ## this list
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@case "$(FOUND)" in \
	  True*) ;; \
	  False*) echo "scim-groups needs Python 3.11 or newer, and $(PYTHON) is $$($(PYTHON) --version 2>&1 | cut -d' ' -f2): install a newer one and run e.g. make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1 ;; \
	  *) echo "There is no $(PYTHON) here: install Python 3.11 or newer, or name one with e.g. make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1 ;; \
	esac
	@if [ "$$(cat $(MADE_BY) 2>/dev/null)" != "$(FOUND)" ]; then \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && echo "$(FOUND)" > $(MADE_BY); fi
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) ## the bot's replies in this terminal, on a built-in sample directory
	$(PY) -m bot preview --demo

check: $(STAMP) ## check every setting, token and permission (reads .env here, or the environment)
	$(PY) -m bot check

run: $(STAMP) ## run the bot as configured: HTTP on PORT, or Socket Mode with SLACK_APP_TOKEN
	$(PY) -m bot

test: lint typecheck unit ## lint, types and the tests: what CI runs

lint: $(STAMP) ## ruff, and hadolint on the Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile

typecheck: $(STAMP) ## mypy --strict
	$(VENV)/bin/mypy

# Most tests wait on sockets and subprocesses, so five at a time fit two cores. Python may write
# its bytecode here even where PYTHONDONTWRITEBYTECODE is set (as in many containers): without
# it every test worker rewrites every test module's asserts again (4 s of CPU each, not 1) and
# every subprocess compiles the bot again. One collection first writes what the workers read.
unit: $(STAMP) ## pytest
	@PYTHONDONTWRITEBYTECODE= $(PY) -m pytest --collect-only -q --snapshot-warn-unused > $(VENV)/collected.txt \
	  || (cat $(VENV)/collected.txt; false)
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n 5

bench: $(STAMP) ## the benchmark (about twelve minutes); docs/PERFORMANCE.md keeps its results
	$(PY) -m bench

# Not part of `make test` (it takes a while). MUTANTS narrows it, e.g. make mutate MUTANTS='bot.query*'.
MUTANTS ?=
mutate: $(STAMP) ## mutation testing of the modules listed under [tool.mutmut] in pyproject.toml
	$(PY) -m pip install -qq -e '.[dev,mutate]'
	@# mutmut maps tests to functions once and keeps the map: a test added since would never be
	@# run against the mutants it was written for. Map again (a few minutes); results are kept.
	rm -f mutants/mutmut-stats.json
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS) > /dev/null || true
	$(PY) -m tests.mutation_report

# No container daemon is needed: this runs the Dockerfile's install step in a clean venv and
# checks that it installs the runtime dependencies only, and that the app starts from it.
IMAGE_VENV := build/image-venv
image-check: $(STAMP) ## the container image's install step, checked in a clean venv
	rm -rf $(IMAGE_VENV)
	$(PYTHON) -m venv $(IMAGE_VENV)
	PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 $(IMAGE_VENV)/bin/pip install -qq --no-compile .
	$(PY) -m tests.image_check $(IMAGE_VENV)

clean: ## remove the venv, caches and build output
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache mutants
