"""The mixed-dilated experiment's paper quotes, Corollary 8's widths (a closed form) and
the summary of its stored results, read by :mod:`convac.experiments.mixed_dilated` and the
report; it imports nothing that computes."""

from __future__ import annotations

from ..theory import mixed_width_needed

__all__ = ["PAPER", "NETWORKS", "summarize", "corollary_rows", "format_summary"]

PAPER = {
    "source": "N. Cohen, R. Tamari, A. Shashua, \"Boosting Dilated Convolutional Networks "
              "with Mixed Tensor Decompositions\", ICLR 2018, arXiv 1703.06846v3, sec. 6 "
              "(text read from a stored copy of the arXiv v3 PDF's text)",
    "theorem_7": "the ranks of the grid tensor matricizations are: no greater than "
                 "r^min{|Theta(I;T)|,|Theta(I^c;T)|}; at least r^|{(nu1,nu2) in Theta(I;T) x "
                 "Theta(I^c;T): nu1 and nu2 are siblings in T with depth>1}| almost always",
    "example": "the tree decomposition of T generates grid tensors whose matricizations "
               "w.r.t. I have rank r^(N/4+N/8) [...] This also leads to matricized grid "
               "tensors of rank r^(N/4+N/8) [for T-bar]. On the other hand, the hybrid mode "
               "tree H tiles I and I^c entirely into singletons [...] leading (by theorem 7) "
               "to grid tensor matricization ranks of r^(N/2)",
    "corollary_8": "all functions realized by M with r channels in the layers of each "
                   "interconnected network, cannot be realized by N or N-bar (or a summation "
                   "thereof) if the number of channels in each layer is less than "
                   "(r/2)^(2/(1+2^(1-k)))",
    "corollary_example": "if k = 4 and the number of channels r in each interconnected "
                         "network is 128 [...] over 1500 channels in each layer are required",
}

NETWORKS = ("baseline", "swapped", "hybrid", "mixed")


def summarize(records) -> dict:
    """``rows``: one per configuration, sorted by ``(N, M, r, network)``, with
    ``certified`` (what it establishes) and ``matches_paper`` (the rank, or the value it
    is determined to almost everywhere, is the paper's figure; for the mixed network: at
    least it); ``corollary``: Corollary 8's widths."""
    rows = [{**rec["config"], **rec["result"]} for rec in records if rec["status"] == "ok"]
    rows.sort(key=lambda x: (x["levels"], x["m"], x["r"], NETWORKS.index(x["network"])))
    return {"rows": rows, "corollary": corollary_rows()}


def corollary_rows(ranks=(8, 32, 128), groups=(2, 3, 4, 6)) -> list:
    """Corollary 8's width ``(r/2)^(2/(1+2^(1-k)))`` for each ``(r, k)``."""
    return [{"r": r, "k": k, "width": mixed_width_needed(r, k)} for r in ranks for k in groups]


def format_summary(records) -> str:
    s = summarize(records)
    cols = ("n", "m", "r", "network", "paper", "lower", "upper", "min_cut", "exact",
            "certified")
    lines = ["  ".join(f"{c:>12s}" for c in cols)]
    lines += ["  ".join(f"{str(r[c]):>12s}" for c in cols) for r in s["rows"]]
    lines += [f"Corollary 8: r={c['r']} k={c['k']}: {c['width']:.1f} channels"
              for c in s["corollary"]]
    return "\n".join(lines)
