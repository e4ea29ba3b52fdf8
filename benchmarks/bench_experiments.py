"""Published experiments (``convac.experiments``) at their seeded quick sizes.

Tracked, each designed lower-is-better: the Levine et al. sample's count of ranks above
the min-cut bound (0; anything else is a bug) and its non-tight fraction; the COLT 2016
depth sweep's deficit below Thm 3 (0); the ICLR 2017 pooling-geometry reproduction's
count of tasks the paper's geometry fails to win (0 reproduces the paper).  Timed: one
batch of Levine configurations through the runner's worker function (the throughput a
cluster worker gets).
"""

from __future__ import annotations

from ._common import cache_each, cached, declared_unit, require


def _need():
    for mod in ("flint",):
        try:
            __import__(mod)
        except ImportError as exc:
            raise NotImplementedError(f"{mod} is not installed") from exc
    return require("convac.experiments.runner", "evaluate", "compute_batch")


class LevineMinCut:
    """A seeded sample of 200 configurations of the Levine et al. grid (counted once, in
    ``setup_cache``)."""

    unit = declared_unit("count")

    def setup_cache(self):
        return cache_each([()], self._counts)

    @staticmethod
    def _counts():
        _need()
        return require("convac.experiments.levine_mincut").quick_counts(200, 0)

    def setup(self, cache):
        self.counts = cached(cache, ())
        _, self.compute_batch = _need()
        lev = require("convac.experiments.levine_mincut")
        exp = lev.experiment()
        self.batch = [(exp.key(c), c) for c in (exp.config(i) for i in range(0, 6435, 322))]
        self.compute = exp.compute

    def track_levine_above_bound(self, cache):
        """Ranks above the min-cut bound in the sample: 0, anything else is a bug."""
        return self.counts["above"]

    def track_levine_not_tight(self, cache):
        """Configurations whose exact rank is below the bound (lower is better)."""
        return self.counts["below"] + self.counts["error"]

    def time_levine_batch(self, cache):
        """20 configurations of one width pattern, as a worker computes them."""
        self.compute_batch(self.compute, self.batch)


class DepthSweep:
    """COLT 2016 Thm 3 at N <= 16: certified rank vs ``min(r0, M)^(N / 2^d)``."""

    unit = declared_unit("rank deficit")

    def setup(self):
        _need()
        self.rows = require("convac.experiments.depth_sweep").quick_rows()

    def track_depth_sweep_deficit(self):
        """Sum of ``max(paper - certified rank, 0)``: 0, anything else contradicts Thm 3."""
        return sum(max(r["paper"] - r["rank"], 0) for r in self.rows)


class PoolingGeometry:
    """ICLR 2017 at the quick size (one seed, 200 steps on 600 images per task)."""

    unit = declared_unit("count")

    def setup(self):
        _need()
        rows = require("convac.experiments.pooling_geometry").quick_table()
        self.acc = {(r["task"], r["geometry"]): r["accuracy"] for r in rows}

    def track_pooling_geometry_wrong_winner(self):
        """Tasks where the paper's geometry (square: closedness, mirror: symmetry) does
        not have the higher accuracy: 0 reproduces the paper; lower is better."""
        wins = [self.acc[("closedness", "square")] > self.acc[("closedness", "mirror")],
                self.acc[("symmetry", "mirror")] > self.acc[("symmetry", "square")]]
        return sum(not w for w in wins)
