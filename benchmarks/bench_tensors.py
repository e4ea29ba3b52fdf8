"""Coefficient tensors (``convac.tensors.coefficient``), built from the weights.

Timings and peak memory: lower is better.
"""

from __future__ import annotations

import torch

from convac import coefficient_tensor

from ._common import assert_finite, cp_net, ht_net


class CoefficientTensor:
    """Dense coefficient tensor ``A^y`` (float64, ``M^N`` entries) of a seeded CP (width 4)
    or HT (ranks 2), M = 3. Lower is better."""

    params = (["cp", "ht"], [8, 12, 16])
    param_names = ["kind", "N"]

    def setup(self, kind, n):
        self.net = cp_net(n, 3, 4) if kind == "cp" else ht_net(n, 3, 2)
        # the tensor is the forward on one-hot inputs: check 64 of them (not all M^N)
        idx = torch.randint(3, (64, n), generator=torch.Generator().manual_seed(0))
        assert_finite(self.net(torch.eye(3, dtype=torch.float64)[idx]), f"{kind} N={n}")

    def time_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``. Lower is better."""
        coefficient_tensor(self.net)

    def peakmem_coefficient_tensor(self, kind, n):
        """``coefficient_tensor(net)``, peak resident memory. Lower is better."""
        coefficient_tensor(self.net)
