"""The Levine min-cut grid's paper quote, its balanced partitions and the summary of its
stored results (counts, gaps, pace), read by :mod:`convac.experiments.levine_mincut` and
the report; it imports nothing that computes."""

from __future__ import annotations

import functools
import itertools

from ..validate import InvalidValueError, integer

__all__ = ["N_PATCHES", "N_CHANNELS", "PRIMES", "GRID_SIZE", "PAPER", "partitions",
           "summarize", "throughput", "format_summary"]

N_PATCHES = 16
N_CHANNELS = 2
PRIMES = (2, 3, 5, 7)

PAPER = {
    "source": "Levine, Yakira, Cohen & Shashua, \"Deep Learning and Quantum Entanglement: "
              "Fundamental Connections with Implications to Network Design\", ICLR 2018 "
              "(arXiv:1704.01552), App. D. Not verified from the paper: the figures below "
              "are those the task that asked for this reproduction gave. Searched for the "
              "appendix and not found: the stored pages (fdocuments.in, pdfslide.us, "
              "tomesphere.com: first pages only, which confirm the abstract's \"tying its "
              "expressiveness to a min-cut in its underlying graph\") and the stored public "
              "GitHub files",
    "configurations": "about 2.3 million",
    "below": "roughly 1300 (rank below the min-cut)",
    "above": "0 (the bound is a theorem)",
    "statement": "the min-cut bound is tight for generic weights in all but a tiny fraction "
                 "of the configurations",
}


@functools.cache
def partitions(n: int = N_PATCHES) -> tuple:
    """Balanced partitions of ``range(n)`` counted once: row sets ``I`` holding mode 0,
    ``C(n, n/2) / 2`` of them, in lexicographic order."""
    n = integer(n, "n", minimum=2)
    if n % 2:
        raise InvalidValueError(f"balanced partitions need an even n, got {n}")
    return tuple((0,) + rest for rest in itertools.combinations(range(1, n), n // 2 - 1))


GRID_SIZE = len(PRIMES) ** (N_PATCHES.bit_length() - 1) * len(partitions(N_PATCHES))
"""Configurations of the default grid: a prime width per level times the partitions."""


def summarize(records) -> dict:
    """Counts of tight / below / above / error overall and per width pattern.

    Returns
    -------
    dict
        ``{"total": {...}, "by_pattern": {"r0.r1.r2.r3": {...}}, "gaps": {gap: count},
        "by_weights": {"full-rank weights": {...}, "degenerate weights": {...}}}``, each
        count dict with keys ``n, tight, below, above, error``; ``gaps`` counts
        ``bound / rank`` over the ``below`` cases; ``by_weights`` splits networks whose
        weights are all nonzero with full-rank node matrices from the others.
    """
    def empty():
        return {"n": 0, "tight": 0, "below": 0, "above": 0, "error": 0}

    total, by_pattern, gaps = empty(), {}, {}
    by_weights = {"full-rank weights": empty(), "degenerate weights": empty(),
                  "weights not checked": empty()}
    for rec in records:
        ranks = rec["config"]["ranks"]
        pattern = ".".join(map(str, ranks))
        row = by_pattern.setdefault(pattern, empty())
        full = (rec["result"] or {}).get("full_rank_weights")
        shape = by_weights[{True: "full-rank weights", False: "degenerate weights",
                            None: "weights not checked"}[full]]
        verdict = rec["result"]["verdict"] if rec["status"] == "ok" else "error"
        for counts in (total, row, shape):
            counts["n"] += 1
            counts[verdict] += 1
        if verdict == "below":
            ratio = rec["result"]["bound"] / rec["result"]["rank"]
            gaps[ratio] = gaps.get(ratio, 0) + 1
    return {"total": total, "by_pattern": dict(sorted(by_pattern.items())), "gaps": gaps,
            "by_weights": by_weights}


def throughput(records, gap: float = 10.0) -> dict:
    """Configurations per second of wall time while running, from the stored finish
    times (pauses longer than ``gap`` seconds, between killed and resumed runs, are not
    counted), and the projected hours for the rest of the grid at that rate."""
    times = sorted(rec["finished"] for rec in records)
    if len(times) < 2:
        return {"runs": len(times), "active_seconds": 0.0, "per_second": 0.0,
                "remaining_hours": float("nan")}
    steps = [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
    active = sum(d for d in steps if d <= gap)
    rate = (len(times) - 1) / active if active > 0 else 0.0
    size = GRID_SIZE
    return {"runs": 1 + sum(d > gap for d in steps), "active_seconds": active,
            "per_second": rate,
            "remaining_hours": (size - len(times)) / rate / 3600 if rate else float("nan")}


def format_summary(records) -> str:
    """Plain-text table: the totals, then the width patterns with a ``below`` case."""
    s = summarize(records)
    cols = ("n", "tight", "below", "above", "error")
    lines = [f"{'widths r0.r1.r2.r3':>20s} " + " ".join(f"{c:>8s}" for c in cols)]
    rows = [("all", s["total"])] + [(k, c) for k, c in s["by_weights"].items() if c["n"]]
    rows += [(p, c) for p, c in s["by_pattern"].items() if c["below"]]
    for name, c in rows:
        lines.append(f"{name:>20s} " + " ".join(f"{c[k]:8d}" for k in cols))
    tight = s["total"]["tight"] / max(s["total"]["n"], 1)
    lines.append(f"tight fraction {tight:.5f}; bound/rank over the below cases: "
                 f"{dict(sorted(s['gaps'].items()))}")
    lines.append(f"paper: {PAPER['configurations']} configurations, {PAPER['below']} below, "
                 f"{PAPER['above']} above ({PAPER['source']})")
    return "\n".join(lines)
