"""Forward passes of CP, HT and TT networks (``convac.nets.network``), linear and log space.

Timings and peak memory: lower is better.
"""

from __future__ import annotations

import copy
import time

import torch

from convac import multiply_adds

from ._common import assert_finite, cp_net, declared_unit, ht_net, quick, tt_net

BATCH = 256
CHANNELS = 16
RANK = 16


def make_net(kind: str, n: int, dtype=torch.float32):
    """The cached seeded CP (width ``RANK``) or HT (every rank ``RANK``) over ``CHANNELS``
    channels (:mod:`benchmarks._common`: shared, never modify it)."""
    if kind == "cp":
        return cp_net(n, CHANNELS, RANK, 0, dtype)
    if kind == "ht":
        return ht_net(n, CHANNELS, RANK, 0, dtype)
    raise NotImplementedError(f"unknown network kind {kind!r}, expected 'cp' or 'ht'")


def normal_features(batch: int, n: int) -> torch.Tensor:
    """Seeded standard-normal features ``(batch, n, CHANNELS)``, float32: the features
    the default weights keep of order one (``ConvAC.reset_parameters``)."""
    return torch.randn(batch, n, CHANNELS, generator=torch.Generator().manual_seed(0))


class Forward:
    """``net(features)`` and ``net.forward_log(features)``, batch 256, M = r = 16, float32,
    standard-normal features, no autograd. Lower is better."""

    params = (["cp", "ht"], [16, 64, 256])
    param_names = ["kind", "N"]

    def setup(self, kind, n):
        self.net = make_net(kind, n)
        self.features = normal_features(BATCH, n)  # (B, N, M)
        torch.set_grad_enabled(False)
        assert_finite(self.net(self.features), f"{kind} N={n} forward")
        assert_finite(self.net.forward_log(self.features)[0], f"{kind} N={n} forward_log")

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


def _bmm_baseline(net, batch: int):
    """One ``torch.bmm`` with the multiply-adds of a forward pass of ``net`` over
    ``batch`` samples: ``(groups, batch, 16) @ (groups, 16, 16)``."""
    gen = torch.Generator().manual_seed(0)
    groups = round(multiply_adds(net, batch) / (batch * 16 * 16))
    a = torch.rand(groups, batch, 16, generator=gen)
    b = torch.rand(groups, 16, 16, generator=gen)
    return lambda: torch.bmm(a, b)


def _best_seconds(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


class TreeForward:
    """``net(features)`` and ``net.forward_log(features)`` of a tensor train (the
    caterpillar tree, folded node by node), batch 256, M = r = 16, float32,
    standard-normal features, no autograd. Lower is better."""

    params = ([16, 64, 256],)
    param_names = ["N"]

    def setup(self, n):
        self.net = tt_net(n, CHANNELS, RANK, 0, torch.float32)
        self.features = normal_features(BATCH, n)  # (B, N, M)
        torch.set_grad_enabled(False)
        assert_finite(self.net(self.features), f"tt N={n} forward")

    def teardown(self, n):
        torch.set_grad_enabled(True)

    def time_forward(self, n):
        """Linear-space forward. Lower is better."""
        self.net(self.features)

    def time_forward_log(self, n):
        """Signed log-space forward. Lower is better."""
        self.net.forward_log(self.features)


class ForwardPath:
    """HT forward (batch 1024, N = 64, M = r = 16, float32, standard-normal features),
    the one forward path run three ways: ``eager`` and ``compiled``
    (``torch.compile(net, fullgraph=True)``, CPU inductor: one graph, no break, each
    level's convs and pooling one fused loop) without autograd, and ``train`` (eager
    forward + backward).

    ``track_time_per_bmm``: its best time over that of one ``torch.bmm`` with the same
    multiply-adds (three for ``train``: forward, and two products per conv backward),
    both timed in the same process (best of 20 each, of 3 in the quick profile).  Lower is
    better; the goals are ``<= 1/0.6`` eager, ``<= 1/0.9`` compiled, ``<= 1/0.5`` train.
    The ratio depends on the CPU: asv's machine description records its model and vector
    extensions (``make bench-machine``).
    """

    params = (["eager", "compiled", "train"],)
    param_names = ["path"]
    unit = declared_unit("time ratio")
    BATCH = 1024

    def setup(self, path):
        net = make_net("ht", 64)
        if path == "train":
            net = copy.deepcopy(net)  # gradients are written into it
        features = normal_features(self.BATCH, 64)  # (B, N, M)
        with torch.no_grad():
            assert_finite(net(features), "HT N=64 forward")
        self.bmm = _bmm_baseline(net, self.BATCH)
        if path == "train":
            def step():
                net.zero_grad(set_to_none=True)
                net(features).sum().backward()
            self.run, self.bmm_calls = step, 3
        else:
            model = torch.compile(net, fullgraph=True) if path == "compiled" else net
            if path == "compiled":  # its own loops (the fused levels): finite as well
                with torch.no_grad():
                    assert_finite(model(features), "HT N=64 compiled forward")

            def forward():
                with torch.no_grad():
                    model(features)
            self.run, self.bmm_calls = forward, 1
        for _ in range(3):  # compiles, and warms the allocator
            self.bmm()
            self.run()

    def time_path(self, path):
        """One call. Lower is better."""
        self.run()

    def track_time_per_bmm(self, path):
        """Best time of the path over ``bmm_calls`` bmm times (same process). Lower is
        better."""
        repeat = quick(20, 3)
        baseline = _best_seconds(self.bmm, repeat) * self.bmm_calls
        return _best_seconds(self.run, repeat) / baseline


class ForwardBackward:
    """Forward and backward pass of an HT (training step cost), N = 64. Lower is better."""

    params = ([64, 256],)
    param_names = ["batch"]

    def setup(self, batch):
        self.net = copy.deepcopy(make_net("ht", 64))  # gradients are written into it
        self.features = normal_features(batch, 64)  # (B, N, M)
        with torch.no_grad():
            assert_finite(self.net(self.features), "HT N=64 forward")

    def time_forward_backward(self, batch):
        """``net(x).sum().backward()``. Lower is better."""
        self.net.zero_grad(set_to_none=True)
        self.net(self.features).sum().backward()
