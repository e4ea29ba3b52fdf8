"""The recurrent-ranks experiment's paper quotes and the summary of its stored results
(certified ranks beside the theorems, the deficit against them), read by
:mod:`convac.experiments.recurrent` and the report; it imports nothing that computes."""

from __future__ import annotations

from ..theory import ht_to_tt_rank_bound, tt_to_ht_rank_bound

__all__ = ["PAPER", "NET_NAMES", "summarize", "deficit", "table_excess", "describe_excess",
           "entry", "TABLE_2_NOTE", "format_summary"]

PAPER = {
    "khrulkov": {
        "source": "V. Khrulkov, A. Novikov, I. Oseledets, \"Expressive power of recurrent "
                  "neural networks\", ICLR 2018 (arXiv:1711.00811). Sec. 5, Thm 1, Thm 2 "
                  "and Table 2 read from the text of the double-blind submission (a "
                  "Markdown copy of the OpenReview PDF in a stored collection of public "
                  "GitHub files); of the ICLR 2018 proceedings text (object.cloud.sdsc.edu, "
                  "ml-papers-txt/ICLR/2018) only the first page could be read: same title "
                  "and abstract. Theorem and table numbers are the submission's",
        "abstract": "\"we prove the expressive power theorem (an exponential lower bound on "
                    "the width of the equivalent shallow network) for a class of recurrent "
                    "neural networks - ones that correspond to the Tensor Train (TT) "
                    "decomposition\" (abstract, verified from the paper's text)",
        "theorem": "Sec. 5, Thm 1 (verified from the text): \"Suppose that d = 2k is even. "
                   "Define the following set B = {X in M_r : rank_CP X < q^(d/2)}, where "
                   "q = min{n, r}. Then mu(B) = 0, where mu is the standard Lebesgue measure "
                   "on M_r\"; M_r is the set of tensors with rank_TT X <= r = (r, r ... r) "
                   "entry-wise and \"all mode sizes are equal to n\"; the proof bounds the "
                   "CP-rank by the rank of the odd-even matricization s = {1, 3, ..., d-1}, "
                   "t = {2, 4, ..., d}",
        "theorem_2": "Sec. 5, Thm 2 (verified from the text), cited from Grasedyck (2010, "
                     "Sec. 5.3.2): \"If rank_TT X <= r, then rank_HT X <= r^2. If rank_HT X <= "
                     "r, then rank_TT X <= r^(log2(d)/2)\"; \"It is also known that this "
                     "bounds are sharp (see Buczynska et al. (2015))\"",
        "table": "Table 2 (verified from the text): \"Given a network of width r, specified "
                 "in a column, rows correspond to the upper bound on the width of the "
                 "equivalent network of other type (we assume that the number of feature "
                 "maps m is greater than the width of the network r)\"; column TT-Network: "
                 "TT r, HT r^2, CP >= r^(d/2); column HT-Network: TT r^(log2(d)/2), HT r, "
                 "CP >= r^(d/2); column CP-Network: TT r, HT r, CP r",
    },
    "levine": {
        "source": "Y. Levine, O. Sharir, A. Shashua, \"Benefits of depth for long-term memory "
                  "of recurrent networks\", arXiv:1710.09431 (a later version: Levine, "
                  "Sharir, Ziv & Shashua, \"On the long-term memory of deep recurrent "
                  "networks\"). Only the abstracts could be read (first pages of both "
                  "versions at arxiv-vanity.com, vdocument.in, the ICLR 2018 workshop page); "
                  "the theorem's text was searched for there, on deepai.org and "
                  "memorypapers.org, in the authors' code HUJI-Deep/Long-Term-Memory-of-Deep-"
                  "RNNs (code and README only) and in the stored public GitHub files, and "
                  "not found",
        "abstract": "\"We prove that deep recurrent networks support Start-End separation "
                    "ranks which are exponentially higher than those supported by their "
                    "shallow counterparts. Moreover, we show that the ability of deep "
                    "recurrent networks to correlate different parts of the input sequence "
                    "increases exponentially as the input sequence extends, while that of "
                    "vanilla shallow recurrent networks does not adapt to the sequence "
                    "length at all\" (abstract of arXiv v1, verified from its text; the "
                    "later version says \"combinatorially higher\")",
        "theorem": "Thm 1, not verified from the paper's text (the form convac assumes): "
                   "depth 1, sep_(S,E) <= R for every T; depth 2, sep_(S,E) >= multiset "
                   "coefficient ((min(M, R) over T/2)) = C(min(M,R) + T/2 - 1, T/2) almost "
                   "everywhere",
    },
}

NET_NAMES = ("cp", "tt", "ht")
"""The networks of the formats grid, in the order of the summary's rows."""


def _table_entries(row: dict) -> dict:
    """Khrulkov et al.'s Table 2 for a network of width ``r``: the TT- and HT-ranks it
    allows (``None`` where the table gives none but the network's own width), whether
    the measured ranks are within them, and whether the table's hypothesis ``m > r``
    holds."""
    n, r = row["n"], row["r"]
    tt = {"cp": r, "tt": None, "ht": ht_to_tt_rank_bound(n, r)}[row["net"]]
    ht = {"cp": r, "tt": tt_to_ht_rank_bound(r), "ht": None}[row["net"]]
    holds = ((tt is None or row["tt_rank"] <= tt) and (ht is None or row["ht_rank"] <= ht))
    return {"table_tt": tt, "table_ht": ht, "table_holds": holds,
            "table_hypothesis": row["m"] > r}


def summarize(records) -> dict:
    """``{"formats": rows, "rac": rows, "errors": n}``: one row per configuration (its
    config and result, with ``tt_rank`` = max TT-rank, ``ht_rank`` = max HT-rank and
    ``tt_cut``, ``ht_cut`` their largest min-cut bounds, Table 2's entries ``table_tt``,
    ``table_ht`` with ``table_holds`` and ``table_hypothesis`` (``M > r``) for the
    formats, and ``agrees`` = within the papers' bounds for the RACs), sorted."""
    formats, racs, errors = [], [], 0
    for rec in records:
        if rec["status"] != "ok":
            errors += 1
            continue
        row = {**rec["config"], **rec["result"]}
        if row["grid"] == "formats":
            row["tt_rank"], row["ht_rank"] = max(row["tt_ranks"]), max(row["ht_ranks"])
            row["tt_cut"], row["ht_cut"] = max(row["tt_cuts"]), max(row["ht_cuts"])
            row.update(_table_entries(row))
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
    """Sum of the shortfalls below the theorems' lower bounds (Thm 1 of each paper) and
    the excesses above the upper bounds, plus the failed configurations: 0 reproduces
    both theorems.  Table 2's entries are checked apart (:func:`table_excess`)."""
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


def table_excess(summary: dict) -> list:
    """The formats rows whose certified TT- or HT-rank exceeds Khrulkov et al.'s Table 2
    entry: ``(net, N, M, r, measured TT-rank, table TT, measured HT-rank, table HT)``."""
    return [(x["net"], x["n"], x["m"], x["r"], x["tt_rank"], x["table_tt"], x["ht_rank"],
             x["table_ht"]) for x in summary["formats"] if not x["table_holds"]]


def entry(value) -> str:
    """A Table 2 entry as printed in the tables (blank where the table gives none)."""
    return "" if value is None else f"{value:.4g}"


TABLE_2_NOTE = ("The entry r^(log2(d)/2) is an integer power only when d is a power of 4; "
                "over d = 8 modes the balanced tree's cut {1, 2, 3} | {4 .. 8} crosses two "
                "rank-r edges, and the certified TT-rank r^2 equals its min-cut. The "
                "statement of Grasedyck (2010) that the paper cites was not read here")
"""Why a certified rank can exceed Table 2's HT-to-TT entry (printed beside any excess)."""


def describe_excess(excess: list) -> str:
    """One sentence: how many rows of :func:`table_excess`, each, and why."""
    def over(kind, rank, table):
        return [f"{kind}-rank {rank} > {entry(table)}"] if table is not None and rank > table \
            else []

    rows = "; ".join(f"{net.upper()} N={n} M={m} r={r}: "
                     + ", ".join(over("TT", tt, tt_t) + over("HT", ht, ht_t))
                     for net, n, m, r, tt, tt_t, ht, ht_t in excess)
    return (f"Table 2 entries exceeded by a certified rank: {len(excess)}"
            + (f" ({rows}). {TABLE_2_NOTE}" if excess else "") + ".")


def format_summary(records) -> str:
    """Plain-text tables: the formats, then the RACs."""
    s = summarize(records)
    lines = [f"{'net':>4s} {'N':>3s} {'M':>3s} {'r':>3s} {'odd-even':>9s} {'paper>=':>8s} "
             f"{'TT-rank':>8s} {'(cut)':>6s} {'table':>6s} {'HT-rank':>8s} {'(cut)':>6s} "
             f"{'table':>6s} {'params':>7s} {'CP params':>10s}"]
    for x in s["formats"]:
        paper = "" if x["paper_cp_lower"] is None else str(x["paper_cp_lower"])
        lines.append(f"{x['net']:>4s} {x['n']:3d} {x['m']:3d} {x['r']:3d} {x['odd_even']:9d} "
                     f"{paper:>8s} {x['tt_rank']:8d} {x['tt_cut']:6d} "
                     f"{entry(x['table_tt']):>6s} {x['ht_rank']:8d} {x['ht_cut']:6d} "
                     f"{entry(x['table_ht']):>6s} {x['params']:7d} "
                     f"{x['cp_params_to_match']:10d}")
    lines.append(f"{'L':>3s} {'T':>3s} {'M':>3s} {'R':>3s} {'start-end':>10s} {'paper>=':>8s} "
                 f"{'bound<=':>8s} {'agrees':>7s}")
    for x in s["rac"]:
        lo = "" if x["lower"] is None else str(x["lower"])
        up = "" if x["upper"] is None else str(x["upper"])
        lines.append(f"{x['depth']:3d} {x['t']:3d} {x['m']:3d} {x['r']:3d} {x['rank']:10d} "
                     f"{lo:>8s} {up:>8s} {str(x['agrees']):>7s}")
    lines.append(f"deficit against the papers' bounds: {deficit(s)}; errors: {s['errors']}")
    lines.append(describe_excess(table_excess(s)))
    for paper in PAPER.values():
        lines.append(f"paper: {paper['source']}: {paper['theorem']}")
    return "\n".join(lines)
