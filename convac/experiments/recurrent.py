"""Recurrent networks and tensor trains with certified ranks: Khrulkov, Novikov &
Oseledets (ICLR 2018) and Levine, Sharir & Shashua (arXiv:1710.09431).

Two grids in one experiment:

* ``formats`` (Khrulkov et al.): CP, TT and HT networks (seeded float64 weights, every
  rank ``r``) over ``N`` patches with ``M`` channels.  Each gets its exact odd-even rank
  (a certified lower bound on CP-rank, hence on the width of a shallow network that
  matches it), its TT-ranks (the sequential cuts) and HT-ranks (the clusters of the
  balanced tree), each exact over GF(p), beside the min-cut upper bound of every cut,
  Thm 1's ``min(n, r)^(d/2)`` and Table 2's entries (``r^2``, ``r^(log2(d)/2)``; the
  quotes, verified from the paper's text, are in :data:`PAPER`).
* ``rac`` (Levine et al.): RACs of depth 1, 2 and 3 and width ``R`` over ``M`` input
  channels and ``T`` steps; the exact start-end rank (one-hot forward passes mod p)
  beside the form of Thm 1 convac assumes (not verified from the paper's text):
  ``<= R`` (depth 1) and ``>= C(min(M, R) + T/2 - 1, T/2)`` (depth 2), and convac's
  upper bound ``R * C(R + T/2 - 1, T/2)`` (depth 2).  Depth 3 is measured with no
  bound beside it.

A rank above a proven upper bound is a bug (the run fails loudly); a rank above a Table 2
entry is listed (:func:`table_excess`).  For each, the parameters of the shallow network
that would match it: a CP network of that width, or a depth-1 RAC of that width.
"""

from __future__ import annotations

import torch

from .. import theory
from ..nets.network import CPNet, HTNet, TTNet
from ..nets.params import parameter_count
from ..nets.recurrent import RAC, rac_parameter_count
from ..rank.bounds import min_cut_bound
from ..rank.methods import matricization_rank
from ..rank.recurrent import balanced_clusters, rac_exact_rank, sequential_partitions
from ..validate import integer
from .recurrent_summary import (
    NET_NAMES,
    PAPER,
    TABLE_2_NOTE,
    deficit,
    describe_excess,
    format_summary,
    summarize,
    table_excess,
)
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "check", "summarize", "format_summary", "PAPER",
           "FORMATS_GRID", "RAC_GRID", "quick_summary", "deficit", "table_excess",
           "describe_excess", "TABLE_2_NOTE"]

FORMATS_GRID = ((4, 2, 2), (4, 3, 2), (4, 3, 3), (8, 2, 2), (8, 3, 2), (8, 3, 3), (8, 4, 3),
                (16, 2, 2))
"""``(N, M, r)`` of the formats grid (``N`` a power of two for the HT networks)."""

RAC_GRID = tuple((t, m, r) for t in (2, 4, 6, 8, 10) for m, r in ((2, 2), (3, 2), (2, 3),
                                                                (3, 3)))
"""``(T, M, R)`` of the RAC grid (``M^T <= 59049`` one-hot passes each)."""

RAC_DEPTHS = (1, 2, 3)

NETS = dict(zip(NET_NAMES, (
    lambda n, m, r, seed: CPNet(n, m, r, seed=seed, dtype=torch.float64),
    lambda n, m, r, seed: TTNet(n, m, r, seed=seed, dtype=torch.float64),
    lambda n, m, r, seed: HTNet(n, m, r, seed=seed, dtype=torch.float64)), strict=True))


def _formats(config: dict) -> dict:
    n, m, r = config["n"], config["m"], config["r"]
    net = NETS[config["net"]](n, m, r, config["seed"])

    def exact(rows) -> int:
        return int(matricization_rank(net, list(rows), "exact"))

    odd_even = list(range(0, n, 2))
    tt = [exact(rows) for rows in sequential_partitions(n)]
    ht = [exact(rows) for rows in balanced_clusters(n)]
    rank = exact(odd_even)
    return {"odd_even": rank, "odd_even_cut": int(min_cut_bound(net, odd_even)),
            "tt_ranks": tt, "tt_cuts": [int(min_cut_bound(net, list(p)))
                                        for p in sequential_partitions(n)],
            "ht_ranks": ht, "ht_cuts": [int(min_cut_bound(net, list(p)))
                                        for p in balanced_clusters(n)],
            "paper_cp_lower": theory.tt_odd_even_rank(n, m, r) if config["net"] == "tt"
            else None,
            "params": parameter_count(net), "cp_params_to_match": n * m * rank + rank}


def _rac(config: dict) -> dict:
    t, m, r, depth = config["t"], config["m"], config["r"], config["depth"]
    rac = RAC(m, r, depth, seed=config["seed"], dtype=torch.float64)
    res = rac_exact_rank(rac, t, "left-right")
    lower = upper = None
    if depth == 1:
        upper = theory.rac_shallow_start_end_bound(t, m, r)
    elif depth == 2:
        lower = theory.rac_deep_start_end_lower(t, m, r)
        upper = theory.rac_deep_start_end_upper(t, m, r)
    return {"rank": res.rank, "ranks_mod": [list(x) for x in res.ranks_mod],
            "lower": lower, "upper": upper, "params": rac_parameter_count(m, r, depth),
            "shallow_params_to_match": rac_parameter_count(m, res.rank, 1)}


def compute(config: dict) -> dict:
    """Certified ranks of one configuration (``config["grid"]``: formats or rac)."""
    return (_formats if config["grid"] == "formats" else _rac)(config)


def check(config: dict, result: dict) -> str | None:
    """A rank above a proven upper bound (min-cut, Thm 1 depth 1, convac's depth-2 count)
    is a bug."""
    if config["grid"] == "formats":
        pairs = ([(result["odd_even"], result["odd_even_cut"])]
                 + list(zip(result["tt_ranks"], result["tt_cuts"], strict=True))
                 + list(zip(result["ht_ranks"], result["ht_cuts"], strict=True)))
        bad = [(a, b) for a, b in pairs if a > b]
        return f"rank above its min-cut bound (rank, bound): {bad} in {config}" if bad else None
    if result["upper"] is not None and result["rank"] > result["upper"]:
        return f"start-end rank {result['rank']} above the bound {result['upper']} in {config}"
    return None


def _configs(formats, racs, depths, seed: int) -> list[dict]:
    out = [{"grid": "formats", "net": kind, "n": n, "m": m, "r": r, "seed": seed}
           for n, m, r in formats for kind in NETS]
    out += [{"grid": "rac", "depth": d, "t": t, "m": m, "r": r, "seed": seed}
            for t, m, r in racs for d in depths]
    return out


def _key(c: dict) -> str:
    if c["grid"] == "formats":
        return f"formats|{c['net']}|N{c['n']}|M{c['m']}|r{c['r']}|s{c['seed']}"
    return f"rac|L{c['depth']}|T{c['t']}|M{c['m']}|R{c['r']}|s{c['seed']}"


def experiment(formats=FORMATS_GRID, racs=RAC_GRID, depths=RAC_DEPTHS,
               seed: int = 0) -> Experiment:
    """Both grids, one configuration per network (seeded float64 weights)."""
    formats = tuple(tuple(integer(v, "formats[]", 1) for v in g) for g in formats)
    racs = tuple(tuple(integer(v, "racs[]", 1) for v in g) for g in racs)
    depths = tuple(integer(d, "depths[]", 1) for d in depths)
    configs = _configs(formats, racs, depths, integer(seed, "seed", 0))
    return Experiment(
        "recurrent-ranks", len(configs), lambda i: configs[i], _key, compute, check,
        batch_size=4, options={"formats": [list(g) for g in formats],
                               "racs": [list(g) for g in racs], "depths": list(depths),
                               "seed": seed})


def quick_summary(seed: int = 0) -> dict:
    """The quick size (tests, asv): ``N = 4`` formats and RACs up to ``T = 6``,
    in-process."""
    exp = experiment(formats=[g for g in FORMATS_GRID if g[0] == 4],
                     racs=[g for g in RAC_GRID if g[0] <= 6], seed=seed)
    return summarize(evaluate(exp))
