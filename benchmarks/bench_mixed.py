"""Mixed dilated networks (Cohen, Tamari & Shashua, ICLR 2018; ``convac.rank.mixed``).

Tracked, on the paper's example at ``N = 16``, ``M = 2`` (the baseline and dilation-swapped
trees and the hybrid of width 2, the mixed network of width 4): the paper's figure minus
convac's certified rank (exact over GF(p), equal to the min-cut bound), 0 expected (any
change is a bug), and the min-cut bound by exact max-flow (any change is a bug).
"""

from __future__ import annotations

from ._common import declared_unit, require

WIDTHS = {"baseline": 2, "swapped": 2, "hybrid": 2, "mixed": 4}


class MixedExample:
    """The paper's example (sec. 6) at ``N = 16``: ``r^(N/4+N/8)`` for the two trees,
    ``r^(N/2)`` for the hybrid, ``(r/2)^(N/2)`` reached by the mixed network."""

    params = (list(WIDTHS),)
    param_names = ["network"]
    unit = declared_unit("rank deficit")

    def setup(self, network):
        compute = require("convac.experiments.mixed_dilated", "compute")
        self.result = compute({"levels": 4, "m": 2, "r": WIDTHS[network], "network": network,
                               "seed": 0})

    def track_paper_minus_certified_rank(self, network):
        """The paper's figure minus the certified rank: 0 expected; any change is a bug."""
        return int(self.result["paper"]) - int(self.result["exact"])


class MixedMinCut:
    """Min-cut bound (exact integer max-flow over networkx) of the example's networks at
    ``N = 16``; for the mixed network the smaller of the sum over its hybrid trees and
    the bound of its own tensor network (``convac.rank.mincut.mixed_min_cut_bound``)."""

    params = (list(WIDTHS),)
    param_names = ["network"]
    unit = declared_unit("rank")

    def setup(self, network):
        compute = require("convac.experiments.mixed_dilated", "compute")
        self.result = compute({"levels": 4, "m": 2, "r": WIDTHS[network], "network": network,
                               "seed": 0})

    def track_min_cut(self, network):
        """The min-cut bound: any change is a bug."""
        return int(self.result["min_cut"])
