"""Shallow fits of a deep network (``convac.fit``, ``convac.floor``, ``convac.certificate``,
``convac.sweep``).

The teacher is a seeded HT (N = 8, M = 3, ranks 2; odd-even rank 16).  Along a sweep of
CP widths K the suite tracks

- the Eckart-Young floor: no CP of width K gets a relative error below it.  A property of
  the teacher: any change beyond rounding is a bug;
- the best relative error of ``fit_cp(method="best")`` (every solver from seeded starts,
  stopping once one is exact to rounding): lower is better;
- the fit's excess over the floor, ``error - floor >= 0``: lower is better (below 0 would
  be a bug);
- which solver won (its index in ``convac.fit.BEST_ORDER``): any change is a change of
  winner, not a regression;
- the Haeffele-Vidal certificate of the regularized fit at ``lam = LAM * ||A||``: upper and
  lower bounds on the polar (upper <= 1: certified global optimum; lower > 1: not optimal)
  and the duality gap (lower is better).

Every fit is computed once, in ``setup_cache`` (issue 12, point 5).
"""

from __future__ import annotations

import numpy as np
import torch

from convac import HTNet, coefficient_tensor

from ._common import require

WIDTHS = [1, 2, 4, 8, 12, 16]
TEACHER = {"n_patches": 8, "n_channels": 3, "ranks": 2}
FIT = {"n_restarts": 2, "n_iter_max": 200, "tol": 1e-10, "seed": 0, "method": "best"}
LAM = 1e-3
"""Regularization weight of the certified fits, relative to ``||A||_F``."""


def teacher_tensor():
    """Coefficient tensor of the seeded teacher HT, shape ``(3,) * 8``, float64."""
    net = HTNet(**TEACHER, seed=0, dtype=torch.float64)
    return net, coefficient_tensor(net)


def sweep_numbers(widths=WIDTHS) -> dict:
    """Floor, best fit, winning solver and certificate per width: ``{K: {name: value}}``."""
    fit_cp, order = require("convac.fit", "fit_cp", "BEST_ORDER")
    floor = require("convac.floor", "eckart_young_floor")
    _, tensor = teacher_tensor()
    arr = tensor.numpy()
    out = {}
    for k in widths:
        fit = fit_cp(arr, k, **FIT)
        row = {"floor": float(floor(arr, k).value), "fit_error": float(fit.relative_error),
               "solver": float(order.index(fit.method))}
        try:
            certificate = require("convac.certificate")
        except NotImplementedError:
            certificate = None
        if certificate is not None:
            lam = LAM * float(np.linalg.norm(arr))
            init = [f.copy() for f in fit.factors]
            init[0] = init[0] * fit.weights  # (M, K)
            reg = certificate.fit_regularized(arr, k, lam, init=init)
            cert = certificate.certify(reg, arr, lam)
            row.update(upper=cert.upper, lower=cert.lower, gap=cert.gap / lam)
        out[k] = row
    return out


class WidthSweep:
    """Floor, best CP fit, winning solver and certificate bounds against CP width ``K``."""

    params = (WIDTHS,)
    param_names = ["K"]
    unit = "relative error"
    timeout = 600

    def setup_cache(self):
        return sweep_numbers()

    def setup(self, cache, k):
        if k not in cache:
            raise NotImplementedError(f"width {k} not in the cached sweep")

    def track_floor(self, cache, k):
        """Eckart-Young floor ``max_P sqrt(sum_{i>K} sigma_i^2) / ||A||``: any change beyond
        rounding is a bug."""
        return cache[k]["floor"]

    track_floor.unit = "relative floor"

    def track_fit_error(self, cache, k):
        """Best relative error of ``fit_cp(method="best")``: lower is better."""
        return cache[k]["fit_error"]

    def track_fit_excess(self, cache, k):
        """Best fit error minus the floor, ``>= 0``: lower is better."""
        return cache[k]["fit_error"] - cache[k]["floor"]

    def track_solver(self, cache, k):
        """Index in ``BEST_ORDER`` of the solver that won: a change is a new winner."""
        return cache[k]["solver"]

    track_solver.unit = "solver index"

    def _certificate(self, cache, k, name):
        if name not in cache[k]:
            raise NotImplementedError("convac.certificate is not in this commit")
        return cache[k][name]

    def track_certificate_upper(self, cache, k):
        """Upper bound on the polar of the regularized fit's scaled residual: <= 1
        certifies a global optimum; lower is better."""
        return self._certificate(cache, k, "upper")

    track_certificate_upper.unit = "polar value"

    def track_certificate_lower(self, cache, k):
        """Lower bound on the same polar (> 1: not optimal): lower is better."""
        return self._certificate(cache, k, "lower")

    track_certificate_lower.unit = "polar value"

    def track_certificate_gap(self, cache, k):
        """Duality gap of the regularized fit over ``lam``: how far above the global
        minimum it may be; lower is better."""
        return self._certificate(cache, k, "gap")

    track_certificate_gap.unit = "gap / lam"


class CPALS:
    """Wall time and peak memory of CP-ALS on the teacher tensor. Lower is better."""

    params = ([2, 8, 16],)
    param_names = ["K"]
    timeout = 300

    def setup(self, k):
        self.fit_cp = require("convac.fit", "fit_cp")
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
        self.floor = require("convac.floor", "eckart_young_floor")
        self.net, self.tensor = teacher_tensor()

    def time_eckart_young_floor(self, k):
        """Dense floor over odd-even, left-right and 8 seeded partitions. Lower is better."""
        self.floor(self.tensor, k)


class Sweep:
    """Wall time of ``convac.sweep.width_sweep`` over a few widths. Lower is better."""

    params = ([(1, 4, 16)],)
    param_names = ["widths"]
    timeout = 300

    def setup(self, widths):
        self.width_sweep = require("convac.sweep", "width_sweep")
        self.net, _ = teacher_tensor()

    def time_width_sweep(self, widths):
        """``width_sweep(teacher, widths)`` with its defaults. Lower is better."""
        self.width_sweep(self.net, list(widths))
