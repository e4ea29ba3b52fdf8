"""Shared fixtures; helpers live in ``oracles.py``.

Every test runs under :func:`_global_state`: torch's thread count, default dtype and the
torch, numpy and Python random states are restored after it, and a change to the thread
count or default dtype is reported as a warning naming the test, so one test's settings
never leak into the next.

The package's thread policy (:mod:`convac.threads`) is applied with one thread for the
whole session (torch, BLAS and OpenMP pools, and ``CONVAC_THREADS=1`` for the commands the
tests run): the tests' matrices are small, and on a shared 2-core machine spinning BLAS
threads made the CP solvers' tests 20x slower (150 s against 6 s for tests/test_fit.py at
load 4).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CONVAC_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy/torch load their BLAS (if not yet)

import pathlib  # noqa: E402
import random  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from oracles import NET_CASES  # noqa: E402

from convac.threads import apply as apply_threads  # noqa: E402

# numpy may have loaded its BLAS before this file (a plugin): the policy limits it now
apply_threads(1)

BENCHMARKS = pathlib.Path(__file__).parent / "benchmarks"


def pytest_collection_modifyitems(config, items):
    """The pytest-benchmark micro-benchmarks (``tests/benchmarks``, 3-30 timed rounds
    each) are ``slow``: ``make test`` leaves them out, ``make test-slow`` runs them."""
    for item in items:
        if BENCHMARKS in pathlib.Path(str(item.path)).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=sorted(NET_CASES))
def net_case(request):
    return request.param


@pytest.fixture
def one_thread():
    """One intra-op thread for the test, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class GlobalStateWarning(UserWarning):
    """A test changed process-wide state (restored after it)."""


@pytest.fixture(autouse=True)
def _global_state(request):
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch_rng, py_rng, np_rng = torch.get_rng_state(), random.getstate(), np.random.get_state()  # noqa: NPY002
    yield
    changed = []
    if torch.get_num_threads() != threads:
        changed.append(f"torch.get_num_threads() {threads} -> {torch.get_num_threads()}")
        torch.set_num_threads(threads)
    if torch.get_default_dtype() != dtype:
        changed.append(f"torch.get_default_dtype() {dtype} -> {torch.get_default_dtype()}")
        torch.set_default_dtype(dtype)
    # random states: tests seed them on purpose; restoring is enough
    torch.set_rng_state(torch_rng)
    random.setstate(py_rng)
    np.random.set_state(np_rng)  # noqa: NPY002 (the legacy global state)
    if changed:
        warnings.warn(f"{request.node.nodeid} left {'; '.join(changed)} (restored)",
                      GlobalStateWarning, stacklevel=1)
