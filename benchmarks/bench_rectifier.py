"""Generalized ConvACs (``convac.nets.pooling``, ``convac.tensors.grid``,
``convac.experiments.rectifier``): Cohen & Shashua, "Convolutional Rectifier Networks as
Generalized Tensor Decompositions", ICML 2016.

asv counts every number as lower-is-better, so each tracked number is one of:

- *any change is a bug*: exact ranks and rank counts of seeded integer-weight networks
  (computed without tolerance; a change means the forward, the operators or the rank
  changed), counts of seeded networks below the maximal rank (ConvAC: 0 by theorem), rank
  deficits, and the certified width bounds derived from the ranks;
- *lower is better*: fit errors (training got better) and ``error - floor`` of shallow
  ReLU+average fits (>= 0 by theorem).

Units come from the metrics contract (:mod:`convac.bench.metrics`), which gives ``convac gate``
its rule for each.

Weights: i.i.d. uniform integers -100..100 (seeded); templates ``F = I_M``.
"""

from __future__ import annotations

import itertools

from ._common import (
    assert_finite,
    cache_each,
    cached,
    declared_unit,
    deep_net,
    quick,
    require,
    skip_if,
)

OPS = ["product", "relu-max", "relu-sum"]
WHICH = ["lowest rank", "highest rank"]
WIDTHS = [1, 4, 16, 64]
"""Shallow widths fitted; the settings live in ``convac.experiments.rectifier.BENCH`` (the
report rebuilds the measurements from these results with them)."""


def _fit_settings() -> dict:
    """The shallow fits' settings: the experiment's ``BENCH`` (the quick profile trains
    40 steps)."""
    b = require("convac.experiments.rectifier", "BENCH")
    return {"widths": tuple(WIDTHS), "steps": quick(b["steps"], 40),
            "n_restarts": b["n_restarts"]}


class GridRank:
    """(a) Odd-even grid-tensor rank of a seeded random deep (HT) network, M=2, r=4.

    ``track_rank``: exact rank, any change is a bug.  ``track_deficit``:
    ``min(r0, M)^(N/2) - rank``; 0 for product pooling (COLT 2016, Thm 1, lower is
    better), for ReLU pooling a measured value where any change is a bug.
    """

    params = (OPS, [2, 4, 8, 16])
    param_names = ["operator", "N"]
    unit = declared_unit("rank")

    def setup_cache(self):
        return cache_each(itertools.product(*self.params), self._row)

    @staticmethod
    def _row(op, n):
        rank_vs_n, b = require("convac.experiments.rectifier", "rank_vs_n", "BENCH")
        return rank_vs_n((n,), b["M"], b["r"], b["seed"], operators=(op,))[0]

    def setup(self, rows, op, n):
        self.row = cached(rows, (op, n))

    def track_rank(self, rows, op, n):
        return self.row["rank"]

    def track_deficit(self, rows, op, n):
        return self.row["theorem"] - self.row["rank"]

    track_deficit.unit = declared_unit("rank deficit")

    def track_not_exact(self, rows, op, n):
        """1 when the rank needed a floating-point tolerance, else 0 (0 expected)."""
        return 0 if self.row["method"].startswith("exact") else 1

    track_not_exact.unit = declared_unit("count")

    def track_width_lower_bound(self, rows, op, n):
        """Smallest shallow width whose grid tensors reach the rank (certified from the
        exact rank); NaN where no width suffices (ReLU+average above rank 2).  Any change
        is a bug."""
        bound = self.row["width_lower_bound"]
        return float("nan") if bound is None else bound

    track_width_lower_bound.unit = declared_unit("width")


class Incompleteness:
    """(b) Of 50 seeded deep networks (M=2, r=4), how many have odd-even grid rank below
    M^(N/2).  Product: 0 (complete depth efficiency); ReLU+max and ReLU+sum: measured,
    exact ranks of seeded integer networks, so any change is a bug."""

    params = (OPS, [4, 8])
    param_names = ["operator", "N"]
    unit = declared_unit("count")

    def setup_cache(self):
        return cache_each(itertools.product(*self.params), self._row)

    @staticmethod
    def _row(op, n):
        incompleteness, bench = require("convac.experiments.rectifier", "incompleteness", "BENCH")
        return incompleteness((n,), bench["M"], bench["r"], bench["incompleteness_seeds"],
                              operators=(op,))[0]

    def setup(self, rows, op, n):
        self.row = cached(rows, (op, n))

    def track_below_max(self, rows, op, n):
        return self.row["below_max"]

    def track_constant(self, rows, op, n):
        """Constant grid tensors (a width-1 shallow network realizes them)."""
        return self.row["constant"]

    def track_not_exact(self, rows, op, n):
        """Ranks that needed a floating-point tolerance (0 expected)."""
        return self.row["n_seeds"] - self.row["exact"]


class WidthLowerBound:
    """(c) Certified shallow width of the lowest- and highest-rank deep network among 30
    seeds (N=8, M=2, r=4), from the exact rank: product ``rank``, ReLU+max
    ``ceil(rank / (M N/2))``.  Any change is a bug.  (ReLU+sum has no finite bound above
    rank 2: its shallow grid tensors are additive.)"""

    params = (["product", "relu-max"], WHICH)
    param_names = ["operator", "which"]
    unit = declared_unit("width")

    def setup_cache(self):
        # one draw of the 30 seeds gives both the lowest and the highest rank
        return cache_each(((op,) for op in self.params[0]), self._extremes)

    @staticmethod
    def _extremes(op):
        """``{which: (rank, width bound)}`` of the lowest- and highest-rank network."""
        extreme, b = require("convac.experiments.rectifier", "extreme_networks", "BENCH")
        bound = require("convac.rank.grid", "shallow_width_lower_bound")
        drawn = extreme(op, b["match_n"], b["M"], b["r"], b["match_seeds"])
        return {which: (res.rank, bound(res.rank, op, "odd-even", b["match_n"], b["M"]))
                for which, (res, _, _) in zip(WHICH, drawn, strict=True)}

    def setup(self, cache, op, which):
        self.rank, self.bound = cached(cache, (op,))[which]

    def track_width_lower_bound(self, cache, op, which):
        return self.bound

    def track_deep_rank(self, cache, op, which):
        return self.rank


class ShallowMatch:
    """(c) Relative fit error of shallow networks of the same operator, trained on the
    grid tensor of the lowest- and highest-rank deep network among 30 seeds (N=8, M=2,
    r=4), against width.  Lower is better (gradient training: an upper bound on the best
    error of the width)."""

    params = (OPS, WHICH, WIDTHS)
    param_names = ["operator", "which", "width"]
    unit = declared_unit("relative error")

    def setup_cache(self):
        return cache_each([()], self._rows)

    @staticmethod
    def _rows():
        shallow_match = require("convac.experiments.rectifier", "shallow_match")
        b = require("convac.experiments.rectifier", "BENCH")
        rows = shallow_match(b["match_n"], b["M"], b["r"], b["match_seeds"],
                             threshold=b["threshold"], **_fit_settings())
        return {(r["operator"], r["which"]): r for r in rows}

    def setup(self, rows, op, which, width):
        row = cached(rows, ())[(op, which)]
        self.error = row["errors"][row["widths"].index(width)]

    def track_fit_error(self, rows, op, which, width):
        return self.error


class Universality:
    """(d) Shallow fit error on a seeded random grid tensor (N=4, M=3, N(0,1) entries)
    against width.  ``track_fit_error``: lower is better.  ``track_error_minus_floor``:
    error minus the additive floor (ReLU+sum; 0 for the others): >= 0 by theorem, lower
    is better."""

    params = (OPS, WIDTHS)
    param_names = ["operator", "width"]
    unit = declared_unit("relative error")

    def setup_cache(self):
        return cache_each([()], self._rows)

    @staticmethod
    def _rows():
        universality = require("convac.experiments.rectifier", "universality")
        b = require("convac.experiments.rectifier", "BENCH")
        rows = universality(b["universality_n"], b["universality_m"], b["seed"],
                            **_fit_settings())
        return {r["operator"]: r for r in rows}

    def setup(self, rows, op, width):
        row = cached(rows, ())[op]
        skip_if(width not in row["widths"], f"width {width} not measured")
        self.row = row
        self.error = self.row["errors"][self.row["widths"].index(width)]

    def track_fit_error(self, rows, op, width):
        return self.error

    def track_error_minus_floor(self, rows, op, width):
        return self.error - self.row["floor"]


class GridTensorTime:
    """Wall time of the grid tensor of a deep network (M=2, r=4): 2^N forward evaluations
    in batches, from the weights for product pooling. Lower is better."""

    params = (OPS, [8, 16])
    param_names = ["operator", "N"]

    def setup(self, op, n):
        b = require("convac.experiments.rectifier", "BENCH")
        self.grid_tensor = require("convac.tensors.grid", "grid_tensor")
        self.net = deep_net(op, n, b["M"], b["r"], b["seed"])
        if n == 8:  # the grid tensor's forward, checked once at the smaller size
            assert_finite(self.grid_tensor(self.net).values, f"{op} N={n} grid tensor")

    def time_grid_tensor(self, op, n):
        self.grid_tensor(self.net)
