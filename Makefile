# Noise to Art: two commands run the course and its tests (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and Colab-like boxes often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

NBVAL_FLAGS := --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
               --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: lab test unit notebooks lint kernel slides slides-screens clean-notebooks

## Create .venv if missing and install the course with its dev tools (once; again if pyproject changes).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

kernel: $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name noise-to-art --display-name "Python (Noise to Art)"

## Open JupyterLab on the notebooks (make lab LAB_ARGS=--no-browser on a server).
lab: $(STAMP) kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

## Unit tests and every notebook under nbval, in the quick "smoke" budget.
test: $(STAMP)
	COURSE_BUDGET=smoke MPLBACKEND=Agg $(PY) -m pytest tests notebooks $(NBVAL_FLAGS)

unit: $(STAMP)
	COURSE_BUDGET=smoke MPLBACKEND=Agg $(PY) -m pytest tests

notebooks: $(STAMP)
	COURSE_BUDGET=smoke MPLBACKEND=Agg $(PY) -m pytest notebooks $(NBVAL_FLAGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check course_lib tests scripts benchmarks slides workshop

## Re-execute the notebooks (smoke budget), keep only the outputs nbval checks, sync the Colab cell.
clean-notebooks: $(STAMP)
	$(PY) scripts/notebooks.py refresh

## Build every deck to self-contained reveal.js HTML in slides/_build/ (works offline; see slides/README.md).
slides/node_modules/.package-lock.json: slides/package.json slides/package-lock.json
	cd slides && npm ci --no-audit --no-fund

slides: $(STAMP) slides/node_modules/.package-lock.json
	MPLBACKEND=Agg $(PY) slides/build.py

## Screenshots of every slide into slides/_build/screens/, to look at before a workshop.
slides-screens: slides
	$(PY) slides/screens.py

# The workshop room (workshop/): JupyterHub's Python packages come from pyproject's `workshop`
# extra, its proxy from workshop/package-lock.json.
WORKSHOP_STAMP := $(VENV)/.workshop-installed
CLASS_LIST ?= workshop/class_list.csv
WORKSHOP_BUDGET ?= cpu
WORKSHOP_ARGS ?=
.PHONY: workshop workshop-check

$(WORKSHOP_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -e '.[dev,workshop]'
	touch $(WORKSHOP_STAMP)

workshop/node_modules/.package-lock.json: workshop/package.json workshop/package-lock.json
	cd workshop && npm ci --no-audit --no-fund

## The course's JupyterHub for a workshop room on this server (as root; instructor guide, section 10).
workshop: $(WORKSHOP_STAMP) kernel workshop/node_modules/.package-lock.json
	$(PY) -m workshop.room start --class-list $(CLASS_LIST) --budget $(WORKSHOP_BUDGET) $(WORKSHOP_ARGS)

## Simulated learners on localhost: log in, start servers, run notebook 03 in each, faults; cleans up.
workshop-check: $(WORKSHOP_STAMP) kernel workshop/node_modules/.package-lock.json
	$(PY) -m workshop.room check $(WORKSHOP_ARGS)
