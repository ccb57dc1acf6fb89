# Sim2Real Scaling: `make book` (set up, run missing grid points, build the book), `make html` (build the
# book from the committed results only), `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 1
# Local mirror of the GitHub-sourced data (read before any download); ../shared/data when present.
S2R_DATA_MIRROR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export S2R_DATA_MIRROR

.PHONY: install results pages book html test test-fast clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Every case of the registry (built-in case files + the user's, see `s2r cases`) unless CASES is given.
CASES ?= $(shell $(VENV)/bin/s2r cases --names 2>/dev/null)

# Run every grid point whose results are missing (finished points are skipped); first, for every case, the
# points still to run and their estimated time (`s2r grid --dry-run`, from the recorded wall_s).
results: install
	@for c in $(CASES); do $(VENV)/bin/s2r grid $$c --dry-run || exit 1; done
	@for c in $(CASES); do $(VENV)/bin/s2r grid $$c --workers $(WORKERS) || exit 1; done

# Case pages (book/cases/*.md), built-in notebooks and the toc's case list, from the case files.
pages: install
	$(VENV)/bin/s2r book-pages

book: pages results html

# The book from the results already in results/ (no grid point is run).
html: pages
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at _build/html/index.html"

test: install
	$(PY) -m pytest -ra

test-fast: install
	$(PY) -m pytest -ra -m "not slow"

clean:
	rm -rf _build .pytest_cache
