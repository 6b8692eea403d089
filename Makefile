# The README's two commands live here: `make demo` and `make test`. Each one sets up
# what it needs on a fresh machine: a .venv, torch first (the CPU build 2.13.0 that a
# plain `pip install torch` would replace with a multi-GB CUDA build), then the exact
# versions of requirements-dev.lock, checked against their hashes, then guardq.
# `make lock` refreshes the lock files from pyproject.toml; `make lock-check` fails when
# they no longer match it (scripts/lock.sh).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.guardq-installed

.PHONY: demo test lint install clean lock lock-check

$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/guardq demo

# Installs Chromium and a compose binary with apt-get when missing (as root), or skips
# the tests that need them and says so last: see scripts/test.sh.
test: $(STAMP)
	VENV=$(VENV) scripts/test.sh $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lock: $(STAMP)
	VENV=$(VENV) scripts/lock.sh

lock-check: $(STAMP)
	VENV=$(VENV) scripts/lock.sh --check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
