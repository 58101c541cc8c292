# The two set-up commands of the README: `make sweep` runs the default sweep, `make test` the tests.
# Each creates the virtual environment in $(VENV) on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: sweep test lint

$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Tests need no GPU: install torch 2.13.0 first (the CPU build where one is provided locally), then
# the project; the torch range is then already satisfied and no CUDA packages are downloaded. A
# torch already there (the CUDA build `make sweep` installed) is kept: the sweep keeps its GPU.
$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,dashboard]"
	touch $@ $(VENV)/.installed-run

# SEQTUNE_VIA_MAKE: the sweep's resume hint after Ctrl-C is then a make command as well. The default
# space is left out when ARGS names one or resumes a sweep (a resume uses the sweep's frozen space,
# and a --space that differs from it, e.g. after --smoke, is refused).
SPACE_ARG = $(if $(findstring --resume,$(ARGS))$(findstring --space,$(ARGS)),,--space search_spaces/gru.yaml)
sweep: $(VENV)/.installed-run
	SEQTUNE_VIA_MAKE=1 $(PY) -m tuning.sweep $(SPACE_ARG) $(ARGS)

# The tests run in TEST_WORKERS processes (pytest-xdist; 0: in this one): a sweep test spends most
# of its time waiting on Ray and its workers, so two of them share two cores well. Work-stealing
# keeps a module's tests together where it can; a session's shared sweeps run once
# (tests/conftest.py: once_per_session).
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
