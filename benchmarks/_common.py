"""Helpers shared by the asv benchmark modules (no benchmarks in here)."""

from __future__ import annotations

import importlib

import torch

__all__ = ["THREADS", "require", "require_rank_method", "skip_if"]

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

    ``convac.rank`` registers the ``structured``, ``exact`` and ``auto`` methods when it
    is imported; ``dense`` is built in.
    """
    from convac import matricize

    registry = getattr(matricize, "RANK_METHODS", {"dense": None})
    if method not in registry:
        try:
            importlib.import_module("convac.rank")
        except ModuleNotFoundError as exc:
            raise NotImplementedError("convac.rank is not in this commit") from exc
    skip_if(method not in registry, f"rank method {method!r} is not in this commit")
