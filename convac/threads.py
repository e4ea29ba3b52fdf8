"""One thread policy for every process convac runs in.

torch's intra-op pool, the BLAS libraries and OpenMP each start one thread per core by
default.  On a shared machine those threads spin while they wait for a core, and a command
burns many times the CPU time it needs: ``convac sweep --max-width 6`` with two busy
processes beside it took 277 CPU seconds with the default pools against 14.7 with one
thread (the figures measured for this policy are in ``docs/threads.md``).  So every
process convac starts or runs in sets its pools explicitly, from one number:

1. the ``threads`` argument (``--threads`` of every ``convac`` command), else
2. the environment variable ``CONVAC_THREADS``, else
3. :data:`DEFAULT_THREADS` (1).

:func:`apply` sets torch's intra-op threads, limits every BLAS/OpenMP pool already loaded
(threadpoolctl) and exports the number to the environment (``OMP_NUM_THREADS`` and its
kin, ``CONVAC_THREADS``), so that child processes (dask workers, asv's benchmark
processes) start with the same pools before they load their libraries.

It also keeps torch's compiled kernels apart per CPU capability
(:func:`compile_cache_dir`): inductor's on-disk cache (torch 2.13.0) does not key its
kernels on ``ATEN_CPU_CAPABILITY``, so a process run with ``ATEN_CPU_CAPABILITY=default``
(the portable test tier) stored scalar kernels that every later ``torch.compile`` of the
same graph at full capability loaded (the compiled HT forward's graph then took a third
to a half more CPU time, ``docs/forward.md``).  And it lets the C++ compiler contract a
multiply and an add into one fused multiply-add in inductor's CPU kernels
(:data:`COMPILE_FP_CONTRACT_ENV`; inductor compiles them with ``-ffp-contract=off`` by
default): the compiled forward's convs are chains of multiply-adds.  And it lets
inductor fuse more nodes into one CPU loop (:data:`COMPILE_HORIZONTAL_FUSION_ENV`): the
compiled forward computes several samples' convs per step of one loop.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import tempfile

import torch
from threadpoolctl import threadpool_limits

from . import validate

__all__ = ["ENV", "DEFAULT_THREADS", "POOL_VARIABLES", "COMPILE_CACHE_ENV",
           "COMPILE_FP_CONTRACT_ENV", "COMPILE_HORIZONTAL_FUSION_ENV", "COMPILE_SETTINGS",
           "resolve", "environment", "compile_cache_dir", "apply"]

ENV = "CONVAC_THREADS"
"""Environment variable that sets the thread count when no ``threads`` argument does."""

DEFAULT_THREADS = 1
"""Threads when neither ``--threads`` nor ``CONVAC_THREADS`` says: one, because on shared
machines a second thread cost more CPU time than it saved wall time (``docs/threads.md``)."""

POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
"""Variables that size the BLAS/OpenMP pools of a process that has not loaded them yet."""


COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
"""torch inductor's cache directory variable: :func:`apply` sets it per CPU capability
unless it is set already."""


COMPILE_FP_CONTRACT_ENV = "TORCHINDUCTOR_CPP_ENABLE_FLOATING_POINT_CONTRACT_FLAG"
"""torch inductor's ``-ffp-contract`` value for its C++ kernels (``off`` by default):
:func:`apply` sets it to ``fast`` unless it is set already, so that a product and a sum
become one fused multiply-add (one rounding instead of two; the compiled HT forward ran
at 1.1-1.2x the throughput in the same process, ``docs/forward.md``)."""


COMPILE_HORIZONTAL_FUSION_ENV = "TORCHINDUCTOR_CPP_MAX_HORIZONTAL_FUSION_SIZE"
"""torch inductor's largest number of nodes fused side by side into one C++ loop (16 by
default): :func:`apply` sets it to 64 unless it is set already, so that the compiled
forward's level, the convs of several samples stacked, stays one loop that loads each
weight once for all of them (16 split it in two loops: 0.78-0.82 of the bmm reference
against 1.01-1.21 in one, exploratory, ``docs/forward.md``)."""

COMPILE_SETTINGS = {
    COMPILE_FP_CONTRACT_ENV: ("enable_floating_point_contract_flag", "fast"),
    COMPILE_HORIZONTAL_FUSION_ENV: ("max_horizontal_fusion_size", "64"),
}
"""Inductor's C++ settings :func:`apply` gives a value unless set: the environment
variable, the attribute of ``torch._inductor.config.cpp`` it sets (read from the
environment when inductor's config loads), and the value."""


def compile_cache_dir() -> str:
    """A directory for torch inductor's cache that belongs to this process's CPU
    capability (``torch.backends.cpu.get_cpu_capability()``: ``DEFAULT`` under
    ``ATEN_CPU_CAPABILITY=default``, else e.g. ``AVX512``): torch's default directory
    with ``cpu-<capability>`` below it, so that kernels compiled at one capability are
    never loaded at another."""
    try:
        user = re.sub(r'[\\/:*?"<>|]', "_", getpass.getuser())
    except (KeyError, OSError):  # no name for this uid (a container): torch does the same
        user = f"uid_{os.getuid()}"
    capability = torch.backends.cpu.get_cpu_capability().lower()
    return os.path.join(tempfile.gettempdir(), f"torchinductor_{user}", f"cpu-{capability}")


def resolve(threads=None) -> int:
    """The thread count: ``threads`` if given, else ``$CONVAC_THREADS``, else
    :data:`DEFAULT_THREADS`.

    Raises
    ------
    InvalidValueError
        ``threads`` or ``CONVAC_THREADS`` is not a positive integer.
    """
    if threads is not None:
        return validate.positive_int(threads, "threads")
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise validate.InvalidValueError(
            f"environment variable {ENV}={raw!r} must be a positive integer (threads per "
            f"process); unset it for the default {DEFAULT_THREADS}, or set e.g. {ENV}=1")
    return value


def environment(threads=None) -> dict:
    """The variables a child process needs to start with the same pools:
    ``{"OMP_NUM_THREADS": "n", ..., "CONVAC_THREADS": "n"}``."""
    n = str(resolve(threads))
    return {**dict.fromkeys(POOL_VARIABLES, n), ENV: n}


def apply(threads=None) -> int:
    """Set this process's pools to :func:`resolve`'s count and export it to children,
    torch inductor's cache to :func:`compile_cache_dir` and its C++ settings to
    :data:`COMPILE_SETTINGS` (floating-point contraction, horizontal fusion), each unless
    set already.

    Parameters
    ----------
    threads : int, optional
        Threads for torch's intra-op pool and every BLAS/OpenMP pool; default from
        ``CONVAC_THREADS`` or :data:`DEFAULT_THREADS`.

    Returns
    -------
    int
        The count applied.
    """
    env = environment(threads)
    n = int(env[ENV])
    os.environ.update(env)
    os.environ.setdefault(COMPILE_CACHE_ENV, compile_cache_dir())  # read at compile time
    inductor = sys.modules.get("torch._inductor.config")
    for variable, (attribute, value) in COMPILE_SETTINGS.items():
        os.environ.setdefault(variable, value)  # read when inductor loads...
        # ...or already loaded: its settings are in its cache keys (a torch without the
        # setting, older than this project's, compiles as it would anyway)
        if inductor is not None and hasattr(inductor.cpp, attribute):
            setattr(inductor.cpp, attribute,
                    type(getattr(inductor.cpp, attribute))(os.environ[variable]))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    # without a ``with``: the limits stay for the rest of the process
    threadpool_limits(n)
    return n
