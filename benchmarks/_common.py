"""Helpers shared by the asv benchmark modules (no benchmarks in here)."""

from __future__ import annotations

import functools
import importlib
import traceback

import torch

__all__ = ["THREADS", "cpu_description", "require", "require_rank_method", "skip_if",
           "assert_finite",
           "declared_unit",
           "cp_net", "ht_net", "convac_net", "ht_tensor", "deep_net", "builders",
           "cache_each", "cached", "CachedError"]

THREADS = 1
"""Threads of torch and of the BLAS/OpenMP pools for every benchmark: fixed, so timings
compare across runs and machines."""

try:  # the package's thread policy: torch, BLAS and OpenMP pools alike
    from convac.threads import apply as _set_threads
except ModuleNotFoundError:  # a commit before it: torch's pool only
    _set_threads = torch.set_num_threads
_set_threads(THREADS)


VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "amx_tile", "amx_bf16")
"""The vector extensions a CPU description names (those torch's kernels dispatch on)."""


def cpu_description(cpuinfo: str | None = None) -> str:
    """``lscpu``'s model name and the vector extensions of :data:`VECTOR_FLAGS` the CPU
    has, e.g. ``"Intel(R) Xeon(R) Processor [avx2 fma avx512f ...]"``: what ``asv
    machine --cpu`` records, since speed ratios differ between CPUs (read from
    ``/proc/cpuinfo``; elsewhere ``platform.processor()``)."""
    import platform

    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return platform.processor() or "unknown CPU"
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    return f"{model} [{' '.join(f for f in VECTOR_FLAGS if f in flags)}]"


def skip_if(condition: bool, why: str) -> None:
    """Raise ``NotImplementedError`` (asv: skipped) when ``condition`` holds."""
    if condition:
        raise NotImplementedError(why)


def assert_finite(values: torch.Tensor, what: str) -> None:
    """Fail (not skip) a benchmark whose timed computation gives inf or NaN: a timing of
    non-finite outputs measures nothing the package promises."""
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise AssertionError(f"{what}: {bad} of {values.numel()} values are inf or NaN")


FORMER = {
    "convac.bench.metrics": "convac.metrics",
    "convac.experiments.rectifier": "convac.rectifier_measure",
    "convac.fit.certificate": "convac.certificate",
    "convac.fit.cp": "convac.fit",
    "convac.fit.floor": "convac.floor",
    "convac.fit.sweep": "convac.sweep",
    "convac.rank.bounds": "convac.bounds",
    "convac.rank.exact": "convac.exact",
    "convac.rank.grid": "convac.rectifier",
    "convac.rank.methods": "convac.rank_methods",
    "convac.rank.structured": "convac.rank",
    "convac.rank.theory": "convac.theory",
    "convac.tensors.grid": "convac.rectifier",
    "convac.tensors.matricization": "convac.matricize",
}
"""Where a module lived before the package was laid out in subpackages: the suite measures
commits on both sides of the move under the same benchmark names."""


def _import(module: str):
    """``module``, or its former name (:data:`FORMER`) in a commit from before the move."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        former = FORMER.get(module)
        if former is None or exc.name is None or not module.startswith(exc.name):
            raise
        return importlib.import_module(former)


def require(module: str, *names: str):
    """Import ``module`` (or its former name) and return the attributes ``names`` (or the
    module itself).

    A commit that predates the module, or lacks one of the names, is skipped rather than
    failed: asv treats ``NotImplementedError`` raised in ``setup`` as "skipped".
    """
    try:
        mod = _import(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and FORMER.get(module, module).startswith(exc.name):
            raise NotImplementedError(f"{module} is not in this commit") from exc
        raise
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise NotImplementedError(f"{module} lacks {', '.join(missing)} in this commit")
    if not names:
        return mod
    values = tuple(getattr(mod, n) for n in names)
    return values[0] if len(values) == 1 else values


def require_rank_method(method: str) -> None:
    """Skip unless ``matricization_rank(..., method=method)`` exists in this commit.

    In a commit from before the move, ``convac.rank`` registers ``structured`` and ``auto``,
    ``convac.exact`` registers ``exact`` when imported; ``dense`` is built in.
    """
    try:  # the registry, declared once with every method
        registry = importlib.import_module("convac.rank.methods").RANK_METHODS
    except ModuleNotFoundError:  # a commit from before the move: the flat modules
        registry = getattr(importlib.import_module("convac.matricize"), "RANK_METHODS",
                           {"dense": None})
    for module in ("convac.rank", "convac.exact"):  # each registers its methods
        if method in registry:
            break
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
    skip_if(method not in registry, f"rank method {method!r} is not in this commit")


def declared_unit(name: str) -> str:
    """The declared metric unit ``name`` (``convac.bench.metrics``: a typo fails at import);
    commits from before the metrics contract get the name as it is."""
    try:
        metrics = _import("convac.bench.metrics")
    except ModuleNotFoundError:
        return name
    return metrics.unit(name)


# -- cached builders -------------------------------------------------------------------
# Every network, tensor and seeded sample the suite measures is built here, once per
# process and argument tuple (numpy/scipy style).  asv runs each benchmark in a fresh
# forked process, so the cache saves the repeated ``setup`` calls of one process (and a
# test run's); it never carries state from one benchmark to another in asv.
#
# A cached object is shared by every caller with the same arguments: a benchmark must
# never modify it.  One that trains, writes weights, accumulates gradients or changes
# the module in any other way works on ``copy.deepcopy(...)`` of it, made in ``setup``
# (tests/test_bench_common.py runs every benchmark once and checks the builders'
# objects are unchanged).  Build in ``setup`` or ``setup_cache``, never in a timed body.

CACHE_SIZE = 64
"""Entries per builder: more than the suite's distinct configurations of any one."""


@functools.lru_cache(maxsize=CACHE_SIZE)
def convac_net(n_patches: int, n_channels: int, windows: tuple, ranks, seed: int = 0,
               dtype: torch.dtype = torch.float64, shared: bool = False,
               geometry: str = "contiguous"):
    """A seeded :class:`convac.ConvAC` with pooling ``windows`` (a tuple), cached.

    Shared between callers: never modify it (deep-copy it in ``setup`` to train)."""
    from convac import ConvAC

    return ConvAC(n_patches, n_channels, windows, ranks, seed=seed, dtype=dtype,
                  shared=shared, geometry=geometry)


@functools.lru_cache(maxsize=CACHE_SIZE)
def ht_net(n_patches: int, n_channels: int, ranks, seed: int = 0,
           dtype: torch.dtype = torch.float64):
    """A seeded :class:`convac.HTNet` (windows of 2; ``ranks`` an int or a tuple), cached.

    Skipped (``NotImplementedError``) unless ``n_patches`` is a power of 2.  Shared
    between callers: never modify it (deep-copy it in ``setup`` to train)."""
    from convac import HTNet

    levels = n_patches.bit_length() - 1
    skip_if(2**levels != n_patches, f"an HT needs N a power of 2, got {n_patches}")
    return HTNet(n_patches, n_channels, ranks, seed=seed, dtype=dtype)


@functools.lru_cache(maxsize=CACHE_SIZE)
def cp_net(n_patches: int, n_channels: int, width: int, seed: int = 0,
           dtype: torch.dtype = torch.float64):
    """A seeded width-``width`` :class:`convac.CPNet`, cached.

    Shared between callers: never modify it (deep-copy it in ``setup`` to train)."""
    from convac import CPNet

    return CPNet(n_patches, n_channels, width, seed=seed, dtype=dtype)


@functools.lru_cache(maxsize=CACHE_SIZE)
def tt_net(n_patches: int, n_channels: int, ranks, seed: int = 0,
           dtype: torch.dtype = torch.float64):
    """A seeded :class:`convac.TTNet` (the caterpillar tree; ``ranks`` an int or the
    ``N - 1`` hidden widths), cached.

    Skipped (``NotImplementedError``) in commits without it.  Shared between callers:
    never modify it."""
    tt = require("convac.nets.network", "TTNet")
    return tt(n_patches, n_channels, ranks, seed=seed, dtype=dtype)


@functools.lru_cache(maxsize=CACHE_SIZE)
def ht_tensor(n_patches: int, n_channels: int, ranks, seed: int = 0,
              dtype: torch.dtype = torch.float64):
    """Coefficient tensor of :func:`ht_net` with these arguments, shape
    ``(n_channels,) * n_patches``, cached (e.g. the teacher of ``bench_fit``).

    Shared between callers: never write into it (nor into its ``.numpy()`` view)."""
    from convac import coefficient_tensor

    return coefficient_tensor(ht_net(n_patches, n_channels, ranks, seed, dtype))


@functools.lru_cache(maxsize=CACHE_SIZE)
def deep_net(pooling: str, n_patches: int, n_channels: int, rank: int, seed: int):
    """``convac.experiments.rectifier.deep_network``: a float64 HT with seeded integer weights
    and pooling operator ``pooling``, cached.  Shared: never modify it."""
    deep_network = require("convac.experiments.rectifier", "deep_network")
    return deep_network(pooling, n_patches, n_channels, rank, seed)


def builders() -> dict:
    """``{name: builder}`` of the cached builders above (for the tests)."""
    return {"convac_net": convac_net, "ht_net": ht_net, "cp_net": cp_net,
            "tt_net": tt_net, "ht_tensor": ht_tensor, "deep_net": deep_net}


# -- setup_cache helpers -----------------------------------------------------------------
# asv fails every benchmark of a class whose ``setup_cache`` raises, so a ``setup_cache``
# computes through :func:`cache_each`, which records what each key raised, and ``setup``
# looks values up with :func:`cached`, which raises it again there: a
# ``NotImplementedError`` skips that parameter combination, any other error fails it
# alone (as it did when ``setup`` computed it).


class CachedError(RuntimeError):
    """An error :func:`cache_each` recorded in ``setup_cache``, raised again in ``setup``."""


def cache_each(keys, compute) -> dict:
    """``{key: compute(*key)}`` for ``setup_cache``, each key's outcome kept apart.

    ``keys`` are tuples.  A ``NotImplementedError`` raised for a key (a skipped
    configuration, a part missing from the commit) is kept as the key's skip reason, any
    other exception as its traceback; the result pickles (asv passes it on by file)."""
    out = {}
    for key in keys:
        try:
            out[key] = ("ok", compute(*key))
        except NotImplementedError as exc:
            out[key] = ("skipped", str(exc))
        except Exception:  # noqa: BLE001 - re-raised by cached() for this key only
            out[key] = ("failed", traceback.format_exc())
    return out


def cached(cache: dict, key: tuple):
    """The value :func:`cache_each` computed for ``key``, for ``setup``.

    Raises ``NotImplementedError`` (asv: skipped) where it recorded a skip or has no such
    key, :class:`CachedError` with the original traceback where ``compute`` failed."""
    status, value = cache.get(key, ("skipped", f"{key} is not in the setup_cache"))
    if status == "skipped":
        raise NotImplementedError(value)
    if status == "failed":
        raise CachedError(f"setup_cache failed for {key}:\n{value}")
    return value
