"""Shallow fits of a deep network (``convac.fit``, ``convac.floor``, ``convac.sweep``).

The teacher is a seeded HT (N = 8, M = 3, ranks 2; odd-even rank 16).  Along a sweep of
CP widths K the suite tracks

- the Eckart-Young floor: no CP of width K gets a relative error below it.  A property of
  the teacher: any change beyond rounding is a bug;
- the best CP-ALS relative error over seeded restarts: lower is better;
- the fit's excess over the floor, ``error - floor >= 0``: lower is better (below 0 would
  be a bug).
"""

from __future__ import annotations

import torch

from convac import HTNet, coefficient_tensor

from ._common import require

WIDTHS = [1, 2, 4, 8, 16]
TEACHER = {"n_patches": 8, "n_channels": 3, "ranks": 2}
ALS = {"n_restarts": 2, "n_iter_max": 100, "tol": 1e-8, "seed": 0}


def teacher_tensor():
    """Coefficient tensor of the seeded teacher HT, shape ``(3,) * 8``, float64."""
    net = HTNet(**TEACHER, seed=0, dtype=torch.float64)
    return net, coefficient_tensor(net)


class WidthSweep:
    """Floor and CP-ALS error of the teacher against CP width ``K``."""

    params = (WIDTHS,)
    param_names = ["K"]
    unit = "relative error"
    timeout = 300

    def setup(self, k):
        self.fit_cp = require("convac.fit", "fit_cp")
        self.floor = require("convac.floor", "eckart_young_floor")
        self.net, self.tensor = teacher_tensor()

    def track_floor(self, k):
        """Eckart-Young floor ``max_P sqrt(sum_{i>K} sigma_i^2) / ||A||``: any change beyond
        rounding is a bug."""
        return float(self.floor(self.tensor, k).value)

    track_floor.unit = "relative floor"

    def track_fit_error(self, k):
        """Best CP-ALS relative error over seeded restarts: lower is better."""
        return float(self.fit_cp(self.tensor, k, **ALS).relative_error)

    def track_fit_excess(self, k):
        """CP-ALS error minus the floor, ``>= 0``: lower is better."""
        error = self.fit_cp(self.tensor, k, **ALS).relative_error
        return float(error - self.floor(self.tensor, k).value)


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
        self.fit_cp(self.tensor, k, n_restarts=1, n_iter_max=50, tol=0.0, seed=0)

    def peakmem_cp_als(self, k):
        """One restart, 50 sweeps, peak resident memory. Lower is better."""
        self.fit_cp(self.tensor, k, n_restarts=1, n_iter_max=50, tol=0.0, seed=0)


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
