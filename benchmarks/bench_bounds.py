"""Rank bounds (``convac.rank.bounds``): min-cut upper bounds and CP-rank bounds.

Tracked: ``min-cut bound - measured rank`` (>= 0 always; 0 expected for generic weights,
Levine et al. 2018; lower is better) and the CP-rank lower bound itself (any change is a
bug).  Both ranks are certified (exact over GF(p)): at N=16 float64 cannot decide them.
"""

from __future__ import annotations

from convac import matricization_rank

from ._common import declared_unit, ht_net, require, require_rank_method


class MinCutGap:
    """``min_cut_bound(net, partition) - rank`` for seeded HT networks (M = 2, r = 2).

    0 expected; lower is better (a negative value would be a bug in either).
    """

    params = ([4, 8, 16], ["odd-even", "left-right"])
    param_names = ["N", "partition"]
    unit = declared_unit("rank deficit")

    def setup(self, n, partition):
        self.bound = require("convac.rank.bounds", "min_cut_bound")
        require_rank_method("exact")
        self.net = ht_net(n, 2, 2)

    def track_min_cut_gap(self, n, partition):
        """Min-cut bound minus the certified rank: 0 expected; lower is better."""
        rank = int(matricization_rank(self.net, partition, method="exact").rank)
        return int(self.bound(self.net, partition)) - rank


class CPRankBounds:
    """``cp_rank_bounds(net).lower`` for seeded HT networks: any change is a bug."""

    params = ([4, 8, 16],)
    param_names = ["N"]
    unit = declared_unit("rank")

    def setup(self, n):
        self.bounds = require("convac.rank.bounds", "cp_rank_bounds")
        self.net = ht_net(n, 2, 2)

    def track_cp_rank_lower_bound(self, n):
        """Certified lower bound on the CP rank (exact over GF(p), the default). Any
        change is a bug."""
        return int(self.bounds(self.net, method="exact").lower)
