"""The depth sweep's paper quote and the summary of its stored results (COLT 2016, Thm 3),
read by :mod:`convac.experiments.depth_sweep` and the report; it imports nothing that
computes."""

from __future__ import annotations

__all__ = ["PAPER", "summarize", "format_summary"]

PAPER = {
    "source": "Cohen, Sharir & Shashua, On the Expressive Power of Deep Learning: A Tensor "
              "Analysis, COLT 2016 (arXiv:1509.05009), Thm 3: not verified from the paper "
              "(the statement's form, min(r_0, M)^(N/2^d), is the one convac assumes). "
              "Searched for and not found: the stored pages (pdfslide.net, paperzz.com, "
              "koineu.com, mlanthology.org: first pages only, which confirm the abstract's "
              "\"besides a negligible set, all functions that can be implemented by a deep "
              "network of polynomial size, require exponential size in order to be "
              "realized (or even approximated) by a shallow network\") and the stored "
              "public GitHub files",
    "statement": "a network truncated to d levels needs top width >= min(r_0, M)^(N / 2^d) "
                 "to realise almost every function of the deep network",
}


def summarize(records) -> list:
    """One row per configuration, sorted by ``(N, r, d)``, with ``agrees``: the deep
    network's certified rank is at least the paper's bound."""
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            continue
        row = {**rec["config"], **rec["result"]}
        row["agrees"] = row["rank"] >= row["paper"]
        row["equal"] = row["rank"] == row["paper"]
        rows.append(row)
    return sorted(rows, key=lambda x: (x["n"], x["m"], x["r"], x["depth"]))


def format_summary(records) -> str:
    """Plain-text table of :func:`summarize` and the paper's statement."""
    cols = ("n", "m", "r", "depth", "rank", "paper", "agrees", "deep_params", "trunc_params")
    rows = summarize(records)
    lines = ["  ".join(f"{c:>12s}" for c in cols)]
    lines += ["  ".join(f"{str(r[c]):>12s}" for c in cols) for r in rows]
    lines.append(f"paper: {PAPER['statement']} ({PAPER['source']})")
    return "\n".join(lines)
