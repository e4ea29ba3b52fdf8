"""COLT 2016, Thm 3 (Cohen, Sharir & Shashua): networks truncated to fewer levels need
exponentially larger widths.

Setting: a deep HT ConvAC over ``N = 2^L`` inputs (size-2 pooling, widths ``r``), and a
network truncated to ``d < L`` levels: size-2 pooling for ``d - 1`` levels, then one
global pooling over the ``N / 2^(d-1)`` blocks (:func:`convac.truncated_windows`; ``d = 1``
is the shallow CP network).  Thm 3: almost every function of the deep network needs a
truncated network whose top width is at least ``min(r_0, M)^(N / 2^d)``.

Reproduction, per ``(N, r, d)``: the *block odd-even* partition ``I`` = the inputs of the
even-numbered blocks of ``2^(d-1)`` inputs.  Every truncated network of depth ``d`` has
``rank [A]_{I,J} <=`` its top width (each block is one factor of the top-level CP sum;
checked here with :func:`convac.min_cut_bound`), so the exact rank of the deep network's
matricization (over GF(2^31 - 1), integer weights: a certified lower bound) is a certified
lower bound on the width the truncated network needs.  It is set beside the paper's
``min(r_0, M)^(N / 2^d)`` and the parameters such a truncated network would have.
"""

from __future__ import annotations

import math

import torch

from ..nets.geometry import truncated_windows
from ..nets.network import ConvAC, HTNet
from ..nets.params import parameter_count
from ..rank.bounds import min_cut_bound
from ..rank.exact import integer_weights_
from ..rank.methods import matricization_rank
from ..validate import integer, real
from ..validate import max_bytes as max_bytes_of
from .depth_sweep_summary import PAPER, format_summary, summarize
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "check", "format_summary", "block_partition", "PAPER",
           "quick_rows", "GRID"]

GRID = ((8, 2, 2), (16, 2, 2), (16, 2, 3), (16, 3, 3), (16, 3, 2), (32, 2, 2), (32, 2, 3),
        (32, 3, 3), (64, 2, 2))
"""``(N, M, r)`` triples; depths ``d = 1 .. L-1`` where the rank stays computable."""

MAX_SIDE = 4096
"""Largest predicted rank computed (the exact root core is about that square)."""

MAX_BYTES = 2**31
"""Default memory budget of one configuration's exact core (``--max-gib`` of ``convac
experiment run``); a configuration predicted above it is recorded as refused."""


def block_partition(n: int, depth: int) -> list:
    """Inputs of the even-numbered blocks of ``2^(depth-1)`` consecutive inputs."""
    n, depth = integer(n, "n", minimum=2), integer(depth, "depth", minimum=1)
    block = 2 ** (depth - 1)
    return [i for i in range(n) if (i // block) % 2 == 0]


def compute(config: dict) -> dict:
    """Deep network's exact rank on the block partition, the paper's bound, and what a
    truncated network of depth ``d`` can reach and costs."""

    n, m, r, d = config["n"], config["m"], config["r"], config["depth"]
    rows = block_partition(n, d)
    deep = integer_weights_(HTNet(n, m, r, dtype=torch.float64),
                                   seed=config["seed"])
    # the exact core's memory is predicted and refused (BudgetError) before allocating
    rank = int(matricization_rank(deep, rows, method="exact",
                                  max_bytes=config.get("max_bytes", MAX_BYTES)))
    paper = min(r, m) ** (n // 2**d)
    windows = truncated_windows(n, d)
    # any truncated net of depth d: rank <= top width (checked on two top widths)
    lower = (r,) * (d - 1)
    trunc_bounds = [min_cut_bound(ConvAC(n, m, windows, lower + (k,)), rows)
                    for k in (1, rank)]
    trunc = ConvAC(n, m, windows, lower + (rank,))
    return {
        "rank": rank, "paper": paper, "trunc_bound_width1": int(trunc_bounds[0]),
        "trunc_bound_at_rank": int(trunc_bounds[1]),
        "deep_params": parameter_count(deep),
        "trunc_params": parameter_count(trunc),
        "levels": round(math.log2(n)),
    }


def check(config: dict, result: dict) -> str | None:
    """The truncated network's rank is at most its top width: a min-cut above it is a bug."""
    if result["trunc_bound_width1"] > 1 or result["trunc_bound_at_rank"] > result["rank"]:
        return (f"min-cut of a truncated net exceeds its top width: {result['trunc_bound_width1']}"
                f" > 1 or {result['trunc_bound_at_rank']} > {result['rank']}")
    return None


def _configs(grid, seed: int, max_bytes: int = MAX_BYTES) -> list:
    out = []
    budget = {} if max_bytes == MAX_BYTES else {"max_bytes": max_bytes}
    for n, m, r in grid:
        levels = round(math.log2(n))
        for d in range(1, levels):
            if max(r, m) ** (n // 2**d) <= MAX_SIDE:
                out.append({"n": n, "m": m, "r": r, "depth": d, "seed": seed, **budget})
    return out


def experiment(grid=GRID, seed: int = 0, max_gib: float = MAX_BYTES / 2**30) -> Experiment:
    """All ``(N, M, r, d)`` of ``grid`` whose predicted rank is at most :data:`MAX_SIDE`;
    each configuration's exact core is refused (recorded, not computed) above ``max_gib``
    GiB.  The budget is no part of a configuration's key: a run with a larger one
    computes the same configurations."""
    max_bytes = max_bytes_of(max(1, round(real(max_gib, "max_gib", 0.0, strict_minimum=True)
                                          * 2**30)))
    configs = _configs(tuple(tuple(g) for g in grid), integer(seed, "seed"), max_bytes)
    return Experiment(
        "depth-sweep", len(configs), lambda i: configs[i],
        lambda c: f"N{c['n']}|M{c['m']}|r{c['r']}|d{c['depth']}|s{c['seed']}",
        compute, check, batch_size=1, options={"grid": [list(g) for g in grid], "seed": seed},
        max_bytes=max_bytes,
    )


def quick_rows(seed: int = 0) -> list:
    """The quick size (tests, asv): ``N <= 16``, in-process."""

    return summarize(evaluate(experiment(grid=[g for g in GRID if g[0] <= 16], seed=seed)))
