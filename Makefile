# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit browser docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The editable install's sources are byte-compiled once here: with PYTHONDONTWRITEBYTECODE
# set (containers, CI) Python would otherwise compile all of src/ again on every command
# (~0.2 s of each start-up). A .pyc is used only while its source's mtime and size match,
# so an edited file is compiled afresh, never run stale; __pycache__/ is gitignored.
COMPILE := $(BIN)/python -m compileall -q src

$(VENV)/.demo-installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[portfolio]'
	$(COMPILE)
	touch $@

$(VENV)/.dev-installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[portfolio,report,distributed,alpaca,dev,docs]'
	$(COMPILE)
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/tradefolio allocate

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# Debian's chromium for the tearsheet browser test; the test fails (never skips) without it.
browser:
	scripts/ensure-chromium

unit: $(VENV)/.dev-installed browser
	TRADEFOLIO_REQUIRE_BROWSER=1 $(BIN)/pytest -n 2

# The documentation site with its API reference; --strict: a warning (a broken link, a
# docstring mkdocstrings cannot read) fails the build. Offline, a few seconds.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

test: lint typecheck docs unit

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_allocator.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build/site
