"""Settings, claims and texts of the rectifier measurements (Cohen & Shashua, ICML 2016),
shared by the modules that compute them (:mod:`convac.experiments.rectifier`,
:mod:`convac.experiments.rectifier_laws`), the command's parser and the report that reads
them; it imports nothing that computes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["OPERATORS", "WEIGHT_RANGE", "CLAIMS", "LAWS", "BENCH", "QUICK", "FULL",
           "distribution", "RectifierMeasurements", "explain"]

OPERATORS = ("product", "relu-max", "relu-sum")
"""The operators measured: the ConvAC, ReLU+max, ReLU+average (sum)."""

WEIGHT_RANGE = (-100, 100)
"""Inclusive integer range of every weight (uniform)."""

CLAIMS = {
    "rank_vs_n": "Product pooling (ConvAC): the deep network's odd-even rank is "
                 "min(r0, M)^(N/2) almost everywhere (COLT 2016, Thm 1): shallow width "
                 "must be exponential in N. ReLU+max: depth efficiency holds (some deep "
                 "networks need exponential shallow width) (ICML 2016).",
    "incompleteness": "Product pooling: depth efficiency is complete: the deep networks a "
                      "polynomial shallow network matches form a set of measure zero. "
                      "ReLU+max: depth efficiency is not complete: a set of deep networks of "
                      "positive measure is matched by shallow networks of polynomial size "
                      "(ICML 2016).",
    "shallow_match": "Shallow width needed to match a deep network: exponential for "
                     "almost every deep ConvAC; for ReLU+max, for a positive-measure set of "
                     "deep networks, polynomial (ICML 2016).",
    "universality": "Convolutional rectifier networks are universal with max pooling but "
                    "not with average pooling (ICML 2016, abstract); shallow ConvACs are "
                    "universal (any grid tensor with enough width). Shallow ReLU+average "
                    "networks realize only additive grid tensors sum_i phi_i(t_i).",
}
"""The paper's statement beside each measurement."""


def distribution(n_seeds: int | None = None) -> str:
    """The weight law of every measurement, in words (with the seeds when given)."""
    low, high = WEIGHT_RANGE
    seeds = f", seeds 0..{n_seeds - 1}" if n_seeds else ""
    return f"weights i.i.d. uniform on the integers {low}..{high}{seeds}; templates F = I_M"


LAWS = ("int/I", "int/F", "gauss/I", "gauss/F")
"""The weight laws of the rectifier-distributions experiment (:mod:`.rectifier_laws`)."""


@dataclass
class RectifierMeasurements:
    """Everything the report section and the CLI show; see the module docstring."""

    settings: dict = field(default_factory=dict)
    rank_vs_n: list = field(default_factory=list)
    incompleteness: list = field(default_factory=list)
    shallow_match: list = field(default_factory=list)
    universality: list = field(default_factory=list)
    claims: dict = field(default_factory=lambda: dict(CLAIMS))

    def to_dict(self) -> dict:
        return asdict(self)


BENCH = {"M": 2, "r": 4, "seed": 0, "incompleteness_seeds": 50, "match_seeds": 30,
         "match_n": 8, "threshold": 1e-2, "universality_n": 4, "universality_m": 3,
         "widths": (1, 4, 16, 64), "steps": 400, "n_restarts": 1}
"""Settings of the asv suite (``benchmarks/bench_rectifier.py``), so that the report can
rebuild the measurements from its tracked numbers."""

QUICK = {"sizes": (2, 4, 8), "n_seeds": 30, "widths": (1, 4, 16, 64), "steps": 400,
         "n_restarts": 1}
"""Settings of ``convac rectifier`` (and ``measure_all(quick=True)``)."""
FULL = {"sizes": (2, 4, 8, 16), "n_seeds": 200, "widths": (1, 2, 4, 8, 16, 32, 64, 128),
        "steps": 1500, "n_restarts": 2}
"""Settings of ``convac rectifier --full``."""


def explain(summary: dict) -> str:
    """Why so many ReLU+max networks fall below the maximal rank, with the measured
    fractions of ``summary``
    (:func:`convac.experiments.rectifier_laws.summarize`)."""
    below = {(r["law"], r["shared"], r["N"]): r["fraction_below_max"]
             for r in summary["ranks"] if r["operator"] == "relu-max"}
    prod = [r for r in summary["ranks"] if r["operator"] == "product"]

    def pcts(shared: bool, n: int) -> str:
        return ", ".join(f"{law} {below[(law, shared, n)]:.1%}" for law in LAWS
                         if (law, shared, n) in below)

    return (
        "The share of ReLU+max networks below the maximal rank is a property of the "
        "architecture, not of the weight law. At N = 8 with unshared weights it is "
        f"{pcts(False, 8)}; with shared weights {pcts(True, 8)}; at N = 4 unshared "
        f"{pcts(False, 4)}. Max pooling makes the grid tensor depend on the weights only "
        "through signs and orderings (which of max(a, b, 0) wins at each node): when one "
        "child's values exceed its sibling's for every template, the node ignores the "
        "sibling and the correlations across the partition through it vanish. Such "
        "orderings have a probability bounded away from zero under any law that is "
        "symmetric in its weights, integer or Gaussian, identity or random templates. "
        "With unshared weights every node draws its own ordering, so the chance that none "
        "loses rank falls with N; with shared weights one ordering serves a whole level. "
        "The product ConvAC is below maximal in "
        f"{sum(round(r['fraction_below_max'] * r['seeds']) for r in prod)} of "
        f"{sum(r['seeds'] for r in prod)} draws: its rank drops only on an algebraic set "
        "of measure zero. So the integer law with F = I is not what puts "
        f"{below.get(('int/I', False, 8), float('nan')):.1%} of the unshared networks at "
        "N = 8 below maximal: the Gaussian law with random templates puts "
        f"{below.get(('gauss/F', False, 8), float('nan')):.1%} there; sharing the weights "
        "is what lowers the share.")
