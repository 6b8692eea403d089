# The README's two commands live here: `make demo` and `make test`. Each one sets up
# what it needs on a fresh machine: a .venv, torch first (the CPU build 2.13.0 that a
# plain `pip install torch` would replace with a multi-GB CUDA build), then guardq.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.guardq-installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
