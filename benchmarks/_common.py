"""Helpers shared by the asv benchmark modules (no benchmarks in here)."""

from __future__ import annotations

import functools
import importlib

import torch

__all__ = ["THREADS", "require", "require_rank_method", "skip_if", "declared_unit",
           "cp_net", "ht_net", "convac_net"]

THREADS = 1
"""torch intra-op threads for every benchmark: fixed, so timings compare across runs."""

torch.set_num_threads(THREADS)


def skip_if(condition: bool, why: str) -> None:
    """Raise ``NotImplementedError`` (asv: skipped) when ``condition`` holds."""
    if condition:
        raise NotImplementedError(why)


def require(module: str, *names: str):
    """Import ``module`` and return the attributes ``names`` (or the module itself).

    A commit that predates the module, or lacks one of the names, is skipped rather than
    failed: asv treats ``NotImplementedError`` raised in ``setup`` as "skipped".
    """
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
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

    ``convac.rank`` registers ``structured`` and ``auto``, ``convac.exact`` registers
    ``exact`` when imported; ``dense`` is built in.
    """
    # convac.matricize the module (``convac.matricize`` the attribute is the function)
    matricize = importlib.import_module("convac.matricize")
    registry = getattr(matricize, "RANK_METHODS", {"dense": None})
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
    """The declared metric unit ``name`` (``convac.metrics``: a typo fails at import);
    commits from before the metrics contract get the name as it is."""
    try:
        metrics = importlib.import_module("convac.metrics")
    except ModuleNotFoundError:
        return name
    return metrics.unit(name)


@functools.lru_cache(maxsize=32)
def convac_net(n_patches: int, n_channels: int, windows: tuple, ranks, seed: int = 0,
               dtype: torch.dtype = torch.float64, shared: bool = False,
               geometry: str = "contiguous"):
    """A seeded :class:`convac.ConvAC`, built once per process and configuration.

    Benchmarks must not modify it (weights are shared between the callers)."""
    from convac import ConvAC

    return ConvAC(n_patches, n_channels, windows, ranks, seed=seed, dtype=dtype,
                  shared=shared, geometry=geometry)


def ht_net(n_patches: int, n_channels: int, rank: int, seed: int = 0,
           dtype: torch.dtype = torch.float64, **kwargs):
    """A seeded HT (windows of 2, every rank ``rank``), cached (see :func:`convac_net`)."""
    levels = n_patches.bit_length() - 1
    skip_if(2**levels != n_patches, f"an HT needs N a power of 2, got {n_patches}")
    return convac_net(n_patches, n_channels, (2,) * levels, rank, seed, dtype, **kwargs)


def cp_net(n_patches: int, n_channels: int, width: int, seed: int = 0,
           dtype: torch.dtype = torch.float64, **kwargs):
    """A seeded width-``width`` CP network, cached (see :func:`convac_net`)."""
    return convac_net(n_patches, n_channels, (n_patches,), width, seed, dtype, **kwargs)
