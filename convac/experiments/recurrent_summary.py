"""The recurrent-ranks experiment's paper quotes and the summary of its stored results
(certified ranks beside the theorems, the deficit against them), read by
:mod:`convac.experiments.recurrent` and the report; it imports nothing that computes."""

from __future__ import annotations

__all__ = ["PAPER", "NET_NAMES", "summarize", "deficit", "format_summary"]

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

NET_NAMES = ("cp", "tt", "ht")
"""The networks of the formats grid, in the order of the summary's rows."""


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
    order = {k: i for i, k in enumerate(NET_NAMES)}
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
