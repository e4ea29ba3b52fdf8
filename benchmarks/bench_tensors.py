"""Coefficient tensors (``convac.tensors.coefficient``), built from the weights.

Timings and peak memory: lower is better.
"""

from __future__ import annotations

from convac import coefficient_tensor

from ._common import cp_net, ht_net


class CoefficientTensor:
    """Dense coefficient tensor ``A^y`` (float64, ``M^N`` entries) of a seeded CP (width 4)
    or HT (ranks 2), M = 3. Lower is better."""

    params = (["cp", "ht"], [8, 12, 16])
    param_names = ["kind", "N"]

    def setup(self, kind, n):
        self.net = cp_net(n, 3, 4) if kind == "cp" else ht_net(n, 3, 2)

    def time_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``. Lower is better."""
        coefficient_tensor(self.net)

    def peakmem_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``, peak resident memory. Lower is better."""
        coefficient_tensor(self.net)
