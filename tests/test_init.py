"""Default weights: every conv output has geometric-mean magnitude 1 on standard-normal
features, so float32 forwards of deep trees and wide windows stay finite and of order one.

The stated test: float32 forwards of default networks, HT at N = 16 .. 1024 and CP widths
up to 256 (N = 16, 64, 256), on standard-normal features (batch 1024) are finite with
median |output| in [1e-3, 1e3], and the log-space forward (float64) agrees.
"""

import math

import pytest
import torch
from oracles import assert_order_one

import convac

BATCH = 1024


def _normal(net, seed=123, batch=BATCH):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen)  # (B, N, M)


def _check_scale(net):
    """Finite float32 outputs, median |output| in [1e-3, 1e3], float64 log space agreeing."""
    feats = _normal(net)
    with torch.no_grad():
        out = net(feats)  # float32
        log_abs, sign = net.double().forward_log(feats.double())
    net.float()
    assert_order_one(out, log_abs, sign)


SLOW = pytest.mark.slow  # the largest sizes (several seconds each on 2 shared cores)


@pytest.mark.parametrize("n", [16, 32, 64, 128, 256, pytest.param(512, marks=SLOW),
                               pytest.param(1024, marks=SLOW)])
def test_default_ht_float32_is_of_order_one(n):
    _check_scale(convac.HTNet(n, 16, 16, seed=0))


@pytest.mark.parametrize("n", [16, 64, pytest.param(256, marks=SLOW)])
@pytest.mark.parametrize("width", [1, 4, 16, 64, 256])
def test_default_cp_float32_is_of_order_one(n, width):
    _check_scale(convac.CPNet(n, 16, width, seed=0))


@pytest.mark.parametrize("windows, ranks, shared", [
    ((4, 4, 4), 16, False), ((2, 32), 16, True), ((16, 16), 16, False),
    pytest.param((4, 4, 4, 4, 4), 8, True, marks=SLOW),
    pytest.param((2,) * 10, 16, True, marks=SLOW), ((8, 2, 4), (4, 16, 8), False)])
def test_default_mixed_schedules_are_of_order_one(windows, ranks, shared):
    n = math.prod(windows)
    _check_scale(convac.ConvAC(n, 16, windows, ranks, shared=shared, seed=0))


@pytest.mark.parametrize("pooling", ["relu-max", "relu-sum"])
@pytest.mark.parametrize("windows", [(2,) * 8, (256,)])
def test_generalized_pooling_defaults_are_of_order_one(pooling, windows):
    net = convac.ConvAC(256, 16, windows, 16, pooling=pooling, seed=0)
    with torch.no_grad():
        out = net(_normal(net))
    assert torch.isfinite(out).all()
    assert 1e-3 <= float(out.abs().median()) <= 1e3


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("windows, ranks", [((2, 2, 2, 2), (3, 4, 2, 5)), ((8,), (5,)),
                                            ((2, 4), (3, 2))])
def test_seeded_weights_are_the_same_stream_scaled_per_level(windows, ranks, shared):
    """Level ``l`` is ``c_l`` times the ``N(0, 1)`` draws of one seeded stream, level after
    level, with ``c_l > 0`` one constant per level."""
    net = convac.ConvAC(math.prod(windows), 3, windows, ranks, n_outputs=2, shared=shared,
                        seed=11,
                        dtype=torch.float64)
    gen = torch.Generator().manual_seed(11)
    for w in net.weights:
        draw = torch.randn(w.shape, generator=gen, dtype=torch.float64)  # the old stream
        ratio = w.detach() / draw
        assert ratio.min() > 0
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[(0,) * w.ndim])),
                                   rtol=1e-12, atol=0)


def test_gains_give_each_level_unit_geometric_mean_on_the_probe():
    """The float64 probe forward of the rescaled weights has mean log|conv_l| = 0 at every
    level (the defining property of :func:`convac.nets.network.log_scale_gains`)."""
    net = convac.ConvAC(64, 4, (4, 2, 8), (6, 5, 3), pooling="product", dtype=torch.float64)
    draws = [torch.randn(w.shape, generator=torch.Generator().manual_seed(level),
                         dtype=torch.float64) for level, w in enumerate(net.weights)]
    gains = convac.nets.network.log_scale_gains(net.schedule, draws, net.pooling,
                                           torch.Generator().manual_seed(5))
    scaled = [d * g for d, g in zip(draws, gains, strict=True)]
    again = convac.nets.network.log_scale_gains(net.schedule, scaled, net.pooling,
                                           torch.Generator().manual_seed(5))
    again = torch.tensor(again, dtype=torch.float64)
    torch.testing.assert_close(again, torch.ones_like(again), rtol=1e-9, atol=0)
    assert len(gains) == net.schedule.n_levels + 1 and min(gains) > 0


def test_unseeded_defaults_are_of_order_one_too():
    net = convac.HTNet(256, 16, 16)
    with torch.no_grad():
        out = net(_normal(net, batch=256))
    assert torch.isfinite(out).all() and 1e-3 <= float(out.abs().median()) <= 1e3
