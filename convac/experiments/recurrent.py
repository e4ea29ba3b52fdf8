"""Recurrent networks and tensor trains with certified ranks: Khrulkov, Novikov &
Oseledets (ICLR 2018) and Levine, Sharir & Shashua (arXiv:1710.09431).

Two grids in one experiment:

* ``formats`` (Khrulkov et al.): CP, TT and HT networks (seeded float64 weights, every
  rank ``r``) over ``N`` patches with ``M`` channels.  Each gets its exact odd-even rank
  (a certified lower bound on CP-rank, hence on the width of a shallow network that
  matches it), its TT-ranks (the sequential cuts) and HT-ranks (the clusters of the
  balanced tree), each exact over GF(p), beside the min-cut upper bound of every cut and
  the paper's ``min(n, r)^(d/2)`` (Thm 1).
* ``rac`` (Levine et al.): RACs of depth 1, 2 and 3 and width ``R`` over ``M`` input
  channels and ``T`` steps; the exact start-end rank (one-hot forward passes mod p)
  beside Thm 1's ``<= R`` (depth 1) and ``>= C(min(M, R) + T/2 - 1, T/2)`` (depth 2) and
  convac's upper bound ``R * C(R + T/2 - 1, T/2)`` (depth 2).  Depth 3 is measured
  with no bound beside it (the paper conjectures one).

A rank above a proven upper bound is a bug (the run fails loudly).  For each, the
parameters of the shallow network that would match it: a CP network of that width, or a
depth-1 RAC of that width.
"""

from __future__ import annotations

import torch

from ..nets.network import CPNet, HTNet, TTNet
from ..nets.params import parameter_count
from ..nets.recurrent import RAC, rac_parameter_count
from ..rank import theory
from ..rank.bounds import min_cut_bound
from ..rank.methods import matricization_rank
from ..rank.recurrent import balanced_clusters, rac_exact_rank, sequential_partitions
from ..validate import integer
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "check", "summarize", "format_summary", "PAPER",
           "FORMATS_GRID", "RAC_GRID", "quick_summary", "deficit"]

PAPER = {
    "khrulkov": {
        "source": "V. Khrulkov, A. Novikov, I. Oseledets, \"Expressive power of recurrent "
                  "neural networks\", ICLR 2018 (arXiv:1711.00811)",
        "abstract": "\"we prove the expressive power theorem (an exponential lower bound on "
                    "the width of the equivalent shallow network) for a class of recurrent "
                    "neural networks - ones that correspond to the Tensor Train (TT) "
                    "decomposition\" (abstract, verified from the paper's text)",
        "theorem": "Thm 1: for d = 2k even, the set of TT tensors of TT-rank r with CP-rank "
                   "below q^(d/2), q = min(n, r), has measure zero (as recalled: the theorem's "
                   "text could not be retrieved here, not verified)",
        "table": "Table 2, width of an equivalent network (rows) for a network of width r "
                 "(columns); as recalled, not verified: TT-net -> TT r, HT r^2, CP >= r^(d/2); "
                 "HT-net -> TT r^(log2(d)/2), HT r, CP >= r^(d/2); CP-net -> TT r, HT r, CP r",
    },
    "levine": {
        "source": "Y. Levine, O. Sharir, A. Shashua, \"Benefits of depth for long-term memory "
                  "of recurrent networks\", arXiv:1710.09431",
        "abstract": "\"We prove that deep recurrent networks support Start-End separation "
                    "ranks which are exponentially higher than those supported by their "
                    "shallow counterparts\" (abstract, verified from the paper's text; a "
                    "later version says \"combinatorially higher\")",
        "theorem": "Thm 1 (as recalled, not verified from the text): depth 1, sep_(S,E) <= R "
                   "for every T; depth 2, sep_(S,E) >= multiset coefficient "
                   "((min(M, R) over T/2)) = C(min(M,R) + T/2 - 1, T/2) almost everywhere",
    },
}

FORMATS_GRID = ((4, 2, 2), (4, 3, 2), (4, 3, 3), (8, 2, 2), (8, 3, 2), (8, 3, 3), (8, 4, 3),
                (16, 2, 2))
"""``(N, M, r)`` of the formats grid (``N`` a power of two for the HT networks)."""

RAC_GRID = tuple((t, m, r) for t in (2, 4, 6, 8, 10) for m, r in ((2, 2), (3, 2), (2, 3),
                                                                (3, 3)))
"""``(T, M, R)`` of the RAC grid (``M^T <= 59049`` one-hot passes each)."""

RAC_DEPTHS = (1, 2, 3)

NETS = {"cp": lambda n, m, r, seed: CPNet(n, m, r, seed=seed, dtype=torch.float64),
        "tt": lambda n, m, r, seed: TTNet(n, m, r, seed=seed, dtype=torch.float64),
        "ht": lambda n, m, r, seed: HTNet(n, m, r, seed=seed, dtype=torch.float64)}


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


def summarize(records) -> dict:
    """``{"formats": rows, "rac": rows, "errors": n}``: one row per configuration (its
    config and result, with ``tt_rank`` = max TT-rank, ``ht_rank`` = max HT-rank and
    ``tt_cut``, ``ht_cut`` their largest min-cut bounds for the formats, and ``agrees`` =
    within the papers' bounds for the RACs), sorted."""
    formats, racs, errors = [], [], 0
    for rec in records:
        if rec["status"] != "ok":
            errors += 1
            continue
        row = {**rec["config"], **rec["result"]}
        if row["grid"] == "formats":
            row["tt_rank"], row["ht_rank"] = max(row["tt_ranks"]), max(row["ht_ranks"])
            row["tt_cut"], row["ht_cut"] = max(row["tt_cuts"]), max(row["ht_cuts"])
            formats.append(row)
        else:
            row["agrees"] = ((row["lower"] is None or row["rank"] >= row["lower"])
                             and (row["upper"] is None or row["rank"] <= row["upper"]))
            racs.append(row)
    order = {k: i for i, k in enumerate(NETS)}
    formats.sort(key=lambda x: (x["n"], x["m"], x["r"], order[x["net"]]))
    racs.sort(key=lambda x: (x["m"], x["r"], x["t"], x["depth"]))
    return {"formats": formats, "rac": racs, "errors": errors}


def deficit(summary: dict) -> int:
    """Sum of the shortfalls below the papers' lower bounds (Thm 1 of each paper) and
    the excesses above the upper bounds: 0 reproduces both papers."""
    total = 0
    for row in summary["formats"]:
        if row["paper_cp_lower"] is not None:
            total += max(row["paper_cp_lower"] - row["odd_even"], 0)
    for row in summary["rac"]:
        if row["lower"] is not None:
            total += max(row["lower"] - row["rank"], 0)
        if row["upper"] is not None:
            total += max(row["rank"] - row["upper"], 0)
    return total + summary["errors"]


def format_summary(records) -> str:
    """Plain-text tables: the formats, then the RACs."""
    s = summarize(records)
    lines = [f"{'net':>4s} {'N':>3s} {'M':>3s} {'r':>3s} {'odd-even':>9s} {'paper>=':>8s} "
             f"{'TT-rank':>8s} {'(cut)':>6s} {'HT-rank':>8s} {'(cut)':>6s} {'params':>7s} "
             f"{'CP params':>10s}"]
    for x in s["formats"]:
        paper = "" if x["paper_cp_lower"] is None else str(x["paper_cp_lower"])
        lines.append(f"{x['net']:>4s} {x['n']:3d} {x['m']:3d} {x['r']:3d} {x['odd_even']:9d} "
                     f"{paper:>8s} {x['tt_rank']:8d} {x['tt_cut']:6d} {x['ht_rank']:8d} "
                     f"{x['ht_cut']:6d} {x['params']:7d} "
                     f"{x['cp_params_to_match']:10d}")
    lines.append(f"{'L':>3s} {'T':>3s} {'M':>3s} {'R':>3s} {'start-end':>10s} {'paper>=':>8s} "
                 f"{'bound<=':>8s} {'agrees':>7s}")
    for x in s["rac"]:
        lo = "" if x["lower"] is None else str(x["lower"])
        up = "" if x["upper"] is None else str(x["upper"])
        lines.append(f"{x['depth']:3d} {x['t']:3d} {x['m']:3d} {x['r']:3d} {x['rank']:10d} "
                     f"{lo:>8s} {up:>8s} {str(x['agrees']):>7s}")
    lines.append(f"deficit against the papers' bounds: {deficit(s)}; errors: {s['errors']}")
    for paper in PAPER.values():
        lines.append(f"paper: {paper['source']}: {paper['theorem']}")
    return "\n".join(lines)


def quick_summary(seed: int = 0) -> dict:
    """The quick size (tests, asv): ``N = 4`` formats and RACs up to ``T = 6``,
    in-process."""
    exp = experiment(formats=[g for g in FORMATS_GRID if g[0] == 4],
                     racs=[g for g in RAC_GRID if g[0] <= 6], seed=seed)
    return summarize(evaluate(exp))
