"""Cohen, Tamari & Shashua (ICLR 2018): interconnecting two dilated networks.

The paper's example (sec. 6, fig. 6; quoted in :data:`PAPER`): ``T`` the baseline
dilated network's mode tree (dilation ``2^(l-1)`` in layer ``l``), ``T-bar`` the tree of
the network with even and odd layers' dilations swapped, mixture nodes of depth
``L - 2``, ``H`` the hybrid tree taking the first half of them from ``T`` and the rest
from ``T-bar``, and the index set ``I`` (:func:`convac.rank.mixed.mixed_example`).  The
paper: ``T`` and ``T-bar`` reach ``r^(N/4 + N/8)`` on ``I``, ``H`` reaches ``r^(N/2)``,
and the mixed network of width ``2r`` realises ``H``'s network of width ``r``.

Per configuration (a network, ``N = 2^L``, ``M``, ``r``): Theorem 7's bounds (trees; for
the mixed network, the lower bound of its hybrid ``H`` at width ``r / 2``), the min-cut
bound by exact integer max-flow (:mod:`convac.rank.mincut`; for the mixed network the
smaller of the sum over its hybrid trees and the bound of its own tensor network
(:func:`~convac.rank.mincut.mixed_min_cut_bound`), where there are at most
:data:`~convac.rank.mincut.MAX_HYBRIDS` hybrid trees),
and, where the matricization is small enough, the exact rank over GF(p) of the network
with seeded integer weights (a certified lower bound on the real rank, which the
min-cut bounds from above: equal, they decide it).
"""

from __future__ import annotations

import math

import torch

from ..nets.mixed import MixedConvAC, check_mode_tree
from ..nets.network import ConvAC
from ..rank.exact import integer_weights_
from ..rank.methods import matricization_rank
from ..rank.mincut import MAX_HYBRIDS, graph_min_cut, mixed_min_cut_bound, network_graph
from ..rank.mixed import mixed_example, mixed_rank, tree_rank_bounds
from ..validate import integer
from .mixed_dilated_summary import NETWORKS, PAPER, corollary_rows, format_summary, summarize
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "check", "summarize", "format_summary", "PAPER", "GRID",
           "quick_rows", "corollary_rows"]

GRID = ((4, 2, 1), (4, 2, 2), (4, 2, 4), (6, 2, 2), (6, 4, 4), (8, 2, 2), (8, 4, 4),
        (12, 2, 2), (12, 32, 32))
"""``(L, M, r)``: ``N = 2^L`` patches; the mixed network has width ``r`` (its hybrid
``r / 2``), the trees ``r``."""

MAX_EXACT_SIDE = 4096
"""Exact ranks are computed where the min-cut bound (the largest rank possible) and the
dense tensor are at most this size (sides) / ``2^16`` entries."""
WEIGHT_RANGE = 2**20
"""Integer weights in ``-WEIGHT_RANGE .. WEIGHT_RANGE`` (wide: see
:data:`convac.experiments.levine_mincut.WEIGHT_RANGE`)."""


def _net(order, n, m, r, seed):
    net = ConvAC(n, m, (2,) * round(math.log2(n)), r, geometry=list(order),
                 dtype=torch.float64)
    return integer_weights_(net, -WEIGHT_RANGE, WEIGHT_RANGE, seed)


def compute(config: dict) -> dict:
    """Bounds, min-cut and (small sizes) exact rank of one network of the example."""
    levels, m, r, kind = config["levels"], config["m"], config["r"], config["network"]
    n = 2**levels
    ex = mixed_example(levels)
    rows = ex["rows"]
    out = {"n": n, "paper_exponent": ex["hybrid_exponent"] if kind in ("hybrid", "mixed")
           else ex["tree_exponent"]}
    small = m**n <= 2**16
    if kind == "mixed":
        half = r // 2
        out["paper"] = half ** ex["hybrid_exponent"] if half else 0
        out["lower"] = tree_rank_bounds(ex["hybrid"], rows, half)[0] if half else 0
        out["upper"] = None
        n_hybrids = 2 ** (len(ex["mixture"]) + 1)
        mixed = None
        if small or n_hybrids <= MAX_HYBRIDS:
            mixed = MixedConvAC(*(_net(check_mode_tree(ex[t]), n, m, r, config["seed"] + i)
                                  for i, t in enumerate(("baseline", "swapped"))),
                                ex["mixture"])
        out["min_cut"] = mixed_min_cut_bound(mixed, rows) if n_hybrids <= MAX_HYBRIDS else None
        out["exact"] = int(mixed_rank(mixed, rows)) if small else None
    else:
        tree = ex[kind]
        out["paper"] = r ** out["paper_exponent"]
        out["lower"], out["upper"] = tree_rank_bounds(tree, rows, r)
        net = ConvAC(n, m, (2,) * levels, r, geometry=list(check_mode_tree(tree)))
        out["min_cut"] = graph_min_cut(network_graph(net), rows)[0]
        exact = None
        if out["min_cut"] <= MAX_EXACT_SIDE and n <= 64:
            net = _net(check_mode_tree(tree), n, m, r, config["seed"])
            exact = int(matricization_rank(net, list(rows), method="exact"))
        out["exact"] = exact
    out["certified"] = _certified(out)
    known = out["exact"] if out["exact"] is not None else (
        out["lower"] if out["lower"] == out["min_cut"] else None)
    out["matches_paper"] = None if known is None else bool(
        known == out["paper"] or (kind == "mixed" and known >= out["paper"]))
    out["violation"] = check(config, out)
    return {k: _compact(v) for k, v in out.items()}


def _compact(value):
    """Integers above ``2^62`` as ``"2^k"`` (powers of two) or ``"~2^x"``: the store and the
    published JSON hold 64-bit numbers; every comparison is made on the exact integers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2**62:
        return value
    if value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    return f"~2^{math.log2(value):.3f}"


def check(config: dict, result: dict) -> str | None:
    """A certified rank above the min-cut, or a min-cut above Theorem 7's upper bound, is
    a bug (computed on the exact integers inside :func:`compute`)."""
    if "violation" in result:
        return result["violation"]
    exact, cut, upper = result["exact"], result["min_cut"], result["upper"]
    if exact is not None and cut is not None and exact > cut:
        return f"exact rank {exact} above the min-cut bound {cut}"
    if cut is not None and upper is not None and cut > upper:
        return f"min-cut {cut} above Theorem 7's upper bound {upper}"
    return None


def _configs(grid, seed: int) -> list:
    return [{"levels": lv, "m": m, "r": r, "network": kind, "seed": seed}
            for lv, m, r in grid for kind in NETWORKS
            if (kind != "mixed" and m >= r) or (kind == "mixed" and r >= 2 and r % 2 == 0)]


def experiment(grid=GRID, seed: int = 0) -> Experiment:
    """Every network of the example for each ``(L, M, r)`` of ``grid`` (trees only where
    ``M >= r``, Theorem 7's hypothesis; the mixed network where ``r`` is even)."""
    configs = _configs(tuple(tuple(g) for g in grid), integer(seed, "seed"))
    return Experiment(
        "mixed-dilated", len(configs), lambda i: configs[i],
        lambda c: f"L{c['levels']}|M{c['m']}|r{c['r']}|{c['network']}|s{c['seed']}",
        compute, check, batch_size=1, options={"grid": [list(g) for g in grid], "seed": seed},
    )


def _certified(row) -> str:
    """What the row establishes about the rank (for almost every weight where the lower
    bound is Theorem 7's)."""
    exact, cut, lower = row["exact"], row["min_cut"], row["lower"]
    if exact is not None and exact == cut:
        return "exact (certified rank = min-cut)"
    if cut is not None and lower == cut:
        return "determined a.e. (Theorem 7 lower = min-cut)"
    return "bounded"


def quick_rows(seed: int = 0) -> list:
    """The quick size (tests, asv): ``N = 16``, in-process."""
    return summarize(evaluate(experiment(grid=[g for g in GRID if g[0] == 4], seed=seed)))["rows"]
