"""Forward passes of CP and HT networks (``convac.network``), linear and log space.

Timings and peak memory: lower is better.
"""

from __future__ import annotations

import torch

from convac import CPNet, HTNet

from ._common import require, skip_if

BATCH = 256
CHANNELS = 16
RANK = 16


def make_net(kind: str, n: int, dtype=torch.float32):
    """A seeded CP (width ``RANK``) or HT (every rank ``RANK``) over ``CHANNELS`` channels."""
    if kind == "cp":
        return CPNet(n, CHANNELS, RANK, seed=0, dtype=dtype)
    if kind == "ht":
        return HTNet(n, CHANNELS, RANK, seed=0, dtype=dtype)
    raise NotImplementedError(f"unknown network kind {kind!r}, expected 'cp' or 'ht'")


class Forward:
    """``net(features)`` and ``net.forward_log(features)``, batch 256, M = r = 16, float32,
    no autograd. Lower is better."""

    params = (["cp", "ht"], [16, 64, 256])
    param_names = ["kind", "N"]

    def setup(self, kind, n):
        skip_if(kind == "cp" and n == 256, "a float32 CP product of 256 factors overflows")
        self.net = make_net(kind, n)
        gen = torch.Generator().manual_seed(0)
        self.features = torch.rand(BATCH, n, CHANNELS, generator=gen)  # (B, N, M)
        torch.set_grad_enabled(False)
        self.net(self.features)  # builds or loads the fused kernel outside the timing

    def teardown(self, kind, n):
        torch.set_grad_enabled(True)

    def time_forward(self, kind, n):
        """Linear-space forward. Lower is better."""
        self.net(self.features)

    def time_forward_log(self, kind, n):
        """Signed log-space forward (COLT 2016, Appendix E). Lower is better."""
        self.net.forward_log(self.features)

    def peakmem_forward(self, kind, n):
        """Linear-space forward, peak resident memory. Lower is better."""
        self.net(self.features)

    def peakmem_forward_log(self, kind, n):
        """Log-space forward, peak resident memory. Lower is better."""
        self.net.forward_log(self.features)


class ForwardPath:
    """HT forward at the size of issue 2 (batch 1024, N = 64, M = r = 16, float32, no
    autograd): the fused CPU pass (``convac.fused``) against the torch forward.
    Lower is better."""

    params = (["fused", "torch"],)
    param_names = ["path"]

    def setup(self, path):
        fused = require("convac.fused")
        self.net = make_net("ht", 64)
        self.features = torch.rand(1024, 64, CHANNELS,
                                   generator=torch.Generator().manual_seed(0))  # (B, N, M)
        torch.set_grad_enabled(False)
        self.net.use_fused_kernel = path == "fused"
        skip_if(path == "fused" and not fused.fused_applicable(self.net, self.features),
                f"no fused kernel: {fused.fused_build().reason}")
        self.net(self.features)

    def teardown(self, path):
        torch.set_grad_enabled(True)

    def time_forward(self, path):
        """``net(features)``. Lower is better."""
        self.net(self.features)


class ForwardBackward:
    """Forward and backward pass of an HT (training step cost), N = 64. Lower is better."""

    params = ([64, 256],)
    param_names = ["batch"]

    def setup(self, batch):
        self.net = make_net("ht", 64)
        gen = torch.Generator().manual_seed(0)
        self.features = torch.rand(batch, 64, CHANNELS, generator=gen)  # (B, N, M)

    def time_forward_backward(self, batch):
        """``net(x).sum().backward()``. Lower is better."""
        self.net.zero_grad(set_to_none=True)
        self.net(self.features).sum().backward()
