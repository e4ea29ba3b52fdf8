# convac: every target sets itself up (virtual environment and installs) on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch 2.13.0 is the CPU build these machines keep on local disk (pip's configured
# find-links); it satisfies the package's range, so the editable install adds nothing
# heavier.  Installs go through uv (astral's installer, from PyPI; parallel downloads and
# unpacking, several times faster than pip here): torch from pip's find-links folder only
# (--no-index, never a CUDA build from PyPI), the rest from PyPI; pip does what uv cannot.
# --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, every process
# would otherwise compile torch's modules again (twice the CPU time of `import torch`).
TORCH  ?= torch==2.13.0
ASV    := $(PY) -m asv
UVBIN  := $(VENV)/bin/uv
UV     := $(UVBIN) pip install -q --compile-bytecode --python $(PY)
# commits for bench-compare / bench-gate (any git revision)
BASE   ?= HEAD~1
HEAD   ?= HEAD
# extra arguments: `make bench ASV_ARGS=--quick`, `make bench-gate GATE_ARGS="--time-factor 2"`
ASV_ARGS  ?=
GATE_ARGS ?=
# pytest-benchmark: fail bench-pytest-compare when a mean is this much slower than the baseline
PYTEST_BENCH_FAIL ?= mean:50%

.PHONY: venv test test-portable test-slow test-paper test-all lint bench bench-quick bench-machine bench-record bench-compare serve \
        bench-continuous bench-gate bench-publish bench-report bench-check \
        bench-pytest-save bench-pytest-compare device-wheels clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "uv>=0.5" || $(PY) -m pip install -q --upgrade pip
	links=$$($(PY) -m pip config get global.find-links 2>/dev/null || true); \
	[ -x $(UVBIN) ] && [ -n "$$links" ] \
	    && $(UV) --no-index --no-deps --find-links "$$links" "$(TORCH)" \
	    || $(PY) -m pip install -q "$(TORCH)"
	[ -x $(UVBIN) ] && $(UV) -e ".[dev]" || $(PY) -m pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(PY) -m ruff check convac tests benchmarks scripts

# pytest on both cores (pytest-xdist), each worker one thread (tests/conftest.py), a test
# file's tests in one worker and in file order (a file's tests share module state: the tiny
# asv project, asv's machine file, test_conftest's pair); `make test XDIST=` runs in one
# process.  pytest-benchmark times nothing under xdist, so the micro-benchmarks
# (tests/benchmarks) run apart, in one process.
XDIST ?= -n 2 --dist loadfile
PARALLEL = $(XDIST) --benchmark-disable --ignore=tests/benchmarks

# the fast tier (pyproject's addopts deselect tests marked slow or paper); the slowest
# tests are listed at the end of the run
test: venv lint
	$(PY) -m pytest $(PARALLEL)

# the fast tier once more on torch's portable kernels and one thread: other kernels sum in
# other orders, so a test that asserts bit-identity where the code does not guarantee it
# fails here, not on a user's CPU
test-portable: venv
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 $(PY) -m pytest -q $(PARALLEL)

# the second tier: slow tests, torch.compile and the browser tests (which fail here,
# instead of skipping, when Debian's chromium is missing), then the pytest-benchmark
# micro-benchmarks in one process
test-slow: venv
	CONVAC_REQUIRE_BROWSER=1 $(PY) -m pytest -m "slow and not paper" $(PARALLEL) --durations=30
	$(PY) -m pytest -m "slow and not paper" tests/benchmarks --durations=10

# the third tier: results at a paper's or the defaults' scale (tests marked paper: the
# digits students, the report teacher's students, 4096-sided eliminations, floats at
# N = 24, the default width sweep through the CLI and its timing); minutes each, not run
# by .ci/run
test-paper: venv
	$(PY) -m pytest -m "paper" $(PARALLEL) --durations=30
	$(PY) -m pytest -m "paper" tests/benchmarks --durations=10

# everything: the three tiers (.ci/run runs the first two and the portable fast tier)
test-all: test test-slow test-paper

# -- asv: the main job ------------------------------------------------------------------
# The full suite on the current commit (HEAD: commit your work first; benchmarks/ is read
# from the working tree), asv's site and the depth-efficiency report.  A failed benchmark
# still publishes, then fails the target.
bench: bench-machine
	@status=0; \
	$(ASV) run --show-stderr $(ASV_ARGS) "HEAD^!" || status=$$?; \
	$(MAKE) --no-print-directory bench-publish || status=$$?; \
	echo; \
	echo "both reports need HTTP (asv's site cannot be opened from the file system):"; \
	echo "  make serve    # then open http://127.0.0.1:8080/html/ (asv site)"; \
	echo "                #  and http://127.0.0.1:8080/depth-efficiency/ (the report)"; \
	exit $$status

# both reports over HTTP on 127.0.0.1 (asv's site fetches its data, which browsers refuse
# from file:// pages); prints the two URLs; Ctrl-C stops.  `make serve PORT=0`: any port
PORT ?= 8080
serve: venv
	$(PY) -m convac.cli serve --dir reports --port $(PORT)

bench-quick:
	$(MAKE) --no-print-directory bench ASV_ARGS="--quick $(ASV_ARGS)"

# asv asks for machine details interactively unless told --yes; its questionnaire is
# printed only when it fails
# --cpu: the model name and vector extensions (benchmarks/_common.py: cpu_description),
# recorded beside every result, as speed ratios differ between CPUs
CPU_DESCRIPTION = $(PY) -c 'from benchmarks._common import cpu_description; print(cpu_description())'
bench-machine: venv
	@cpu=$$($(CPU_DESCRIPTION)) && out=$$($(ASV) machine --yes --cpu "$$cpu" 2>&1) \
	    || { echo "$$out"; exit 1; }; echo "asv machine cpu: $$cpu"; \
	echo "asv machine: $$($(PY) -c 'from asv.machine import Machine; print(Machine.get_unique_machine_name())')"

# --offline-asv: asv's site loads its JavaScript from local copies (npm), not CDNs
bench-publish: venv
	$(ASV) publish
	$(PY) -m convac.cli report --offline-asv

bench-report: venv
	$(PY) -m convac.cli report

# asv check, and exit 1 if the newest results hold a failed benchmark
bench-check: venv
	$(ASV) check
	$(PY) -m convac.cli report --fail-on-failed

# -- continuous use ----------------------------------------------------------------------
# record every commit on main not benchmarked yet
bench-record: bench-machine
	$(ASV) run --show-stderr $(ASV_ARGS) NEW

# side-by-side table of two benchmarked commits (asv compare always exits 0)
bench-compare: bench-machine
	$(ASV) run --skip-existing-commits $(ASV_ARGS) "$(BASE)^!"
	$(ASV) run --skip-existing-commits $(ASV_ARGS) "$(HEAD)^!"
	$(ASV) compare --split $(BASE) $(HEAD)

# asv's own timing regression check (exit 1 when a benchmark is 1.5x worse)
bench-continuous: bench-machine
	$(ASV) continuous --factor 1.5 --show-stderr $(ASV_ARGS) $(BASE) $(HEAD)

# per-metric gate: exact ranks/parameters, rtol for fit errors; exit 1 on a regression
bench-gate: bench-machine
	$(PY) -m convac.cli gate $(BASE) $(HEAD) $(GATE_ARGS)

# pytest-benchmark micro-benchmarks: save a baseline, then compare against it
bench-pytest-save: venv
	$(PY) -m pytest -q tests/benchmarks --benchmark-only --benchmark-save=baseline

bench-pytest-compare: venv
	$(PY) -m pytest -q tests/benchmarks --benchmark-only --benchmark-compare \
	    --benchmark-compare-fail=$(PYTEST_BENCH_FAIL)

# the packages a GPU machine's Python lacks (it has torch, numpy, scipy, pytest and its
# plugins, not python-flint or tensorly), as wheels for its Python, into .whl (ignored):
# scripts/device_checks.py says how they travel and install there.  The same versions as
# here.
DEVICE_PYTHON ?= 3.12
device-wheels: venv
	rm -rf .whl && $(PY) -m pip download -q --no-deps --only-binary=:all: -d .whl \
	    --python-version $(DEVICE_PYTHON) --implementation cp \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	    --platform manylinux2014_x86_64 \
	    $$($(PY) -c 'import importlib.metadata as m; \
	        print(*(f"{p}=={m.version(p)}" for p in ("python-flint", "tensorly")))')
	ls -l .whl

clean:
	rm -rf $(VENV) .asv reports/results reports/html reports/depth-efficiency reports/screenshots
