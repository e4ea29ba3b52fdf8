# convac: every target sets itself up (virtual environment and installs) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch 2.13.0 is the CPU build these machines install from local disk in seconds;
# it satisfies the package's range, so the editable install adds nothing heavier.
TORCH  ?= torch==2.13.0

.PHONY: venv test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(PY) -m ruff check convac tests benchmarks

test: venv lint
	$(PY) -m pytest -q

bench: venv
	$(PY) -m convac.cli table --sizes 2 4 8 --channels 3 --rank 2

clean:
	rm -rf $(VENV) .asv reports/results reports/html reports/depth-efficiency
