"""Shallow fits of a deep network (``convac.fit.cp``, ``convac.fit.floor``,
``convac.fit.certificate``, ``convac.fit.sweep``).

The teacher is a seeded HT (N = 8, M = 3, ranks 2; odd-even rank 16).  Along a sweep of
CP widths K the suite tracks

- the Eckart-Young floor: no CP of width K gets a relative error below it.  A property of
  the teacher: any change beyond rounding is a bug;
- the best relative error of ``fit_cp(method="best")`` (every solver from seeded starts,
  stopping once one is exact to rounding): lower is better;
- the fit's excess over the floor, ``error - floor >= 0``: lower is better (below 0 would
  be a bug);
- which solver won (how many of ``convac.fit.cp.BEST_ORDER`` came before it): any change is
  a new winner, to be looked at;
- the Haeffele-Vidal certificate of the regularized fit at ``lam = LAM * ||A||``: upper and
  lower bounds on the polar (upper <= 1: certified global optimum; lower > 1: not optimal).

Every fit is computed once, in ``setup_cache`` (about 40 CPU s: within the config's default
timeout of 300 s; a few seconds in the quick profile).
"""

from __future__ import annotations

import numpy as np

from ._common import cache_each, cached, declared_unit, ht_net, ht_tensor, quick, require

WIDTHS = [1, 2, 4, 8, 12, 16]
TEACHER = {"n_patches": 8, "n_channels": 3, "ranks": 2}
FIT = {"n_restarts": 3, "n_iter_max": 500, "tol": 1e-10, "seed": 0, "method": "best"}
QUICK_FIT = {"n_restarts": 1, "n_iter_max": 50}
"""What the quick profile changes in :data:`FIT`."""
LAM = 1e-3
"""Regularization weight of the certified fits, relative to ``||A||_F``."""


def teacher_tensor():
    """The cached seeded teacher HT and its coefficient tensor, shape ``(3,) * 8``,
    float64 (``benchmarks._common``: shared, never modify either)."""
    return ht_net(**TEACHER), ht_tensor(**TEACHER)


def sweep_row(k: int) -> dict:
    """Floor, best fit, winning solver and certificate at width ``k``: ``{name: value}``."""
    fit_cp, order = require("convac.fit.cp", "fit_cp", "BEST_ORDER")
    floor = require("convac.fit.floor", "eckart_young_floor")
    arr = teacher_tensor()[1].numpy()  # a view: fit_cp and the floor only read it
    fit = fit_cp(arr, k, **{**FIT, **quick({}, QUICK_FIT)})
    row = {"floor": float(floor(arr, k).value), "fit_error": float(fit.relative_error),
           "solver": float(order.index(fit.method))}
    try:
        certificate = require("convac.fit.certificate")
    except NotImplementedError:
        return row
    lam = LAM * float(np.linalg.norm(arr))
    init = [f.copy() for f in fit.factors]
    init[0] = init[0] * fit.weights  # (M, K)
    reg = certificate.fit_regularized(arr, k, lam, init=init)
    cert = certificate.certify(reg, arr, lam)
    row.update(upper=cert.upper, lower=cert.lower, gap=cert.gap / lam)
    return row


class WidthSweep:
    """Floor, best CP fit, winning solver and certificate bounds against CP width ``K``."""

    params = (WIDTHS,)
    param_names = ["K"]
    unit = declared_unit("relative error")

    def setup_cache(self):
        return cache_each(((k,) for k in self.params[0]), sweep_row)

    def setup(self, cache, k):
        self.row = cached(cache, (k,))

    def track_floor(self, cache, k):
        """Eckart-Young floor ``max_P sqrt(sum_{i>K} sigma_i^2) / ||A||``: any change beyond
        rounding is a bug."""
        return self.row["floor"]

    track_floor.unit = declared_unit("relative floor")

    def track_fit_error(self, cache, k):
        """Best relative error of ``fit_cp(method="best")``: lower is better."""
        return self.row["fit_error"]

    def track_fit_excess(self, cache, k):
        """Best fit error minus the floor, ``>= 0``: lower is better."""
        return self.row["fit_error"] - self.row["floor"]

    def track_solvers_before_winner(self, cache, k):
        """How many solvers of ``BEST_ORDER`` came before the one that won (0: gn won):
        any change is a new winner, to be looked at."""
        return self.row["solver"]

    track_solvers_before_winner.unit = declared_unit("count")

    def _certificate(self, name):
        if name not in self.row:
            raise NotImplementedError("convac.fit.certificate is not in this commit")
        return self.row[name]

    def track_certificate_upper(self, cache, k):
        """Upper bound on the polar of the regularized fit's scaled residual: <= 1
        certifies a global optimum; lower is better."""
        return self._certificate("upper")

    track_certificate_upper.unit = declared_unit("spectral norm")

    def track_certificate_lower(self, cache, k):
        """Lower bound on the same polar (> 1: not optimal): lower is better."""
        return self._certificate("lower")

    track_certificate_lower.unit = declared_unit("spectral norm")


class CPALS:
    """Wall time and peak memory of CP-ALS on the teacher tensor. Lower is better."""

    params = ([2, 8, 16],)
    param_names = ["K"]

    def setup(self, k):
        self.fit_cp = require("convac.fit.cp", "fit_cp")
        self.net, self.tensor = teacher_tensor()

    def time_cp_als(self, k):
        """One restart, 50 sweeps (no early stop). Lower is better."""
        self.fit_cp(self.tensor, k, n_restarts=1, n_iter_max=50, tol=0.0, seed=0, target=0.0)

    def peakmem_cp_als(self, k):
        """One restart, 50 sweeps, peak resident memory. Lower is better."""
        self.fit_cp(self.tensor, k, n_restarts=1, n_iter_max=50, tol=0.0, seed=0, target=0.0)


class Floor:
    """Wall time of the Eckart-Young floor of the teacher (all default partitions).
    Lower is better."""

    params = ([4],)
    param_names = ["K"]

    def setup(self, k):
        self.floor = require("convac.fit.floor", "eckart_young_floor")
        self.net, self.tensor = teacher_tensor()

    def time_eckart_young_floor(self, k):
        """Dense floor over odd-even, left-right and 8 seeded partitions. Lower is better."""
        self.floor(self.tensor, k)


class Sweep:
    """Wall time of ``convac.fit.sweep.width_sweep`` over a few widths. Lower is better."""

    params = ([(1, 4, 16)],)
    param_names = ["widths"]

    def setup(self, widths):
        self.width_sweep = require("convac.fit.sweep", "width_sweep")
        self.net, _ = teacher_tensor()

    def time_width_sweep(self, widths):
        """``width_sweep(teacher, widths)`` with its defaults. Lower is better."""
        self.width_sweep(self.net, list(widths))
