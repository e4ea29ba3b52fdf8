"""Coefficient tensors (``convac.tensors``), built from the weights.

Timings and peak memory: lower is better.
"""

from __future__ import annotations

import torch

from convac import CPNet, HTNet, coefficient_tensor

from ._common import skip_if


class CoefficientTensor:
    """Dense coefficient tensor ``A^y`` (float64, ``M^N`` entries) of a seeded CP (width 4)
    or HT (ranks 2), M = 3. Lower is better."""

    params = (["cp", "ht"], [8, 12, 16])
    param_names = ["kind", "N"]
    timeout = 300

    def setup(self, kind, n):
        skip_if(kind == "ht" and n & (n - 1) != 0, f"an HT needs N a power of 2, got {n}")
        if kind == "cp":
            self.net = CPNet(n, 3, 4, seed=0, dtype=torch.float64)
        else:
            self.net = HTNet(n, 3, 2, seed=0, dtype=torch.float64)

    def time_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``. Lower is better."""
        coefficient_tensor(self.net)

    def peakmem_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``, peak resident memory. Lower is better."""
        coefficient_tensor(self.net)
