"""Default scale of the architectures beside the balanced ConvACs: any pooling tree
(irregular arity, per-node ranks), tensor trains (``TTNet``), recurrent circuits (``RAC``,
shallow and deep) and mixed networks (``MixedConvAC``).

The guarantee (as for HT and CP, ``tests/test_init.py``): on standard-normal features
(batch 1024, seed 123) the float32 forward of a default network is finite, its median
|output| in [1e-3, 1e3], and it agrees with the float64 log-space forward.  Deep RACs keep
it only for short sequences: their outputs spread over the inputs like ``exp(c T^(L-1/2))``
(measured below), which no constant can undo; their log-space forward stays finite.

Monte-Carlo checks use a tolerance of ``Z`` standard errors of the checked mean, each
standard error estimated from the draws (i.i.d. by construction), ``Z = 5``: a false
failure has probability below 1e-6 per comparison under the normal approximation.
"""

import math

import numpy as np
import pytest
import torch
from oracles import assert_order_one

import convac
from convac.nets.mixed import MixedConvAC, common_nodes, dilated_order, swapped_dilations
from convac.nets.network import PROBE_BATCH, fan_in_draws, signed_log, signed_log_conv
from convac.nets.recurrent import (
    PROBE_BURN_IN,
    PROBE_FLOPS,
    PROBE_STEPS,
    _log_layer,
    rac_scale_gains,
)
from convac.nets.tree import caterpillar, fold

BATCH = 1024
Z = 5.0
SLOW = pytest.mark.slow


def _normal(batch, n, m, seed=123, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, m, generator=gen, dtype=dtype)  # (B, N or T, M)


def _random_tree(leaves, rng):
    """A seeded tree over ``leaves`` with 2 to 5 children per node, split at random."""
    if len(leaves) == 1:
        return leaves[0]
    arity = int(rng.integers(2, min(5, len(leaves)) + 1))
    cuts = np.sort(rng.choice(np.arange(1, len(leaves)), size=arity - 1, replace=False))
    parts = np.split(np.asarray(leaves), cuts)
    return tuple(_random_tree(part.tolist(), rng) for part in parts)


def _irregular_net(n, seed, m=16, dtype=None):
    """A ConvAC over a random irregular tree with per-node ranks 2..16 (seeded)."""
    rng = np.random.default_rng(seed)
    tree = _random_tree(list(range(n)), rng)
    ranks = {}

    def rank(subtree):
        return ranks.setdefault(subtree, int(rng.integers(2, 17)))

    return convac.ConvAC(n, m, tree=tree, ranks=rank, seed=seed, dtype=dtype)


def _check_convac(net):
    feats = _normal(BATCH, net.n_patches, net.n_channels)
    with torch.no_grad():
        out = net(feats)  # float32
        log_abs, sign = net.double().forward_log(feats.double())
    net.float()
    assert_order_one(out, log_abs, sign)


# -- float32 forwards of default networks ---------------------------------------------

@pytest.mark.parametrize("n", [16, 64, 256, pytest.param(1024, marks=SLOW)])
@pytest.mark.parametrize("seed", [0, 1])
def test_irregular_trees_are_of_order_one(n, seed):
    net = _irregular_net(n, seed)
    assert net.is_tree  # irregular: folded node by node, one gain per node
    _check_convac(net)


@pytest.mark.parametrize("n", [16, 64, 256, 1024])
def test_tensor_trains_are_of_order_one(n):
    # N = 1024: a caterpillar is as deep as it is long, past Python's recursion limit;
    # the tree helpers walk it with explicit stacks
    _check_convac(convac.TTNet(n, 16, 16, seed=0))


def _rac_check(rac, t, log_space=True):
    """float32 outputs and the float64 reference as ``(log|y|, sign y)``: the log-space
    forward, or (``log_space=False``, where float64 holds every state) the linear one."""
    feats = _normal(BATCH, t, rac.n_channels)
    with torch.no_grad():
        out = rac(feats)  # float32
        if log_space:
            log_abs, sign = rac.double().forward_log(feats.double())
        else:
            reference = rac.double()(feats.double())
            log_abs, sign = reference.abs().log(), reference.sign()
    rac.float()
    return out, log_abs, sign


@pytest.mark.parametrize("t", [16, 64, 256, 1024])
def test_shallow_rac_is_of_order_one_at_any_length(t):
    # the linear float64 reference: a shallow RAC's log|h_t| spreads like 0.36 sqrt(t)
    # over inputs (11 at t = 1024), far inside float64; the log-space forward is checked
    # against it below, and costs 50x more at this length
    assert_order_one(*_rac_check(convac.RAC(16, 16, seed=0), t, log_space=t <= 64))


def test_deep_rac_is_of_order_one_over_short_sequences():
    assert_order_one(*_rac_check(convac.RAC(16, 16, 2, seed=0), 16))


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("t", [16, 64, 256, pytest.param(1024, marks=SLOW)])
def test_deep_rac_log_space_is_finite(depth, t):
    _, log_abs, sign = _rac_check(convac.RAC(16, 16, depth, seed=0), t)
    assert torch.isfinite(log_abs).all() and (sign != 0).all()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rac_log_space_matches_the_linear_forward(depth):
    rac = convac.RAC(3, (4, 5, 3)[:depth], depth, n_outputs=2, seed=depth, dtype=torch.float64)
    feats = _normal(64, 12, 3, dtype=torch.float64)
    with torch.no_grad():
        log_abs, sign = rac.forward_log(feats)
        torch.testing.assert_close(sign * torch.exp(log_abs), rac(feats), rtol=1e-10, atol=0)


def test_deep_rac_spread_grows_like_a_power_of_the_length():
    """Why no constant keeps deep RACs in float32: the standard deviation of log|y| over
    inputs grows like ``T^(1/2)`` at depth 1 (a random walk of per-step log growths),
    ``T^(3/2)`` at depth 2 (the layer below's walk summed over the steps)."""
    def spread(depth, t):
        _, log_abs, _ = _rac_check(convac.RAC(16, 16, depth, seed=0), t)
        return float(log_abs.std())

    for depth, power in ((1, 0.5), (2, 1.5)):
        slope = math.log(spread(depth, 256) / spread(depth, 16)) / math.log(16)
        assert abs(slope - power) < 0.25, (depth, slope)


def _mixed(n, seed=0):
    levels = round(math.log2(n))
    nets = [convac.ConvAC(n, 16, (2,) * levels, 16, seed=seed + i,
                          geometry=dilated_order(swapped_dilations(levels, group)))
            for i, group in enumerate((1, 2) if levels % 2 == 0 else (1, levels))]
    mixed = MixedConvAC(nets[0], nets[1], common_nodes(*nets))
    mixed.reset_parameters(seed)
    return mixed


@pytest.mark.parametrize("n", [16, 64, 256])
def test_mixed_networks_are_of_order_one(n):
    mixed = _mixed(n)
    assert mixed.mixture  # the two trees exchange channels somewhere
    feats = _normal(BATCH, n, 16)
    with torch.no_grad():
        out = mixed(feats)
        log_abs, sign = mixed.double().forward_log(feats.double())
    assert_order_one(out, log_abs, sign)


# -- Monte-Carlo checks of the rule --------------------------------------------------

def _node_outputs(net, feats, weights=None):
    """Every node's conv output ``(B, rank_out)`` of a tree network, by key (float64)."""
    w = [x.detach().double() for x in (weights or net.weights)]
    x = feats.double().transpose(0, 1)  # (N, B, M)
    outs = {}

    def keep(tn, value):
        outs[tn.key] = value
        return value

    root = fold(net.schedule, lambda tn: keep(tn, x[tn.index] @ w[tn.key].t()),
                lambda tn, kids: keep(tn, net.pooling.pool_children(kids) @ w[tn.key].t()))
    return outs, root


def test_unit_fan_in_draws_give_second_moment_one():
    """``N(0, 1 / fan_in)`` at every node (the draws before the gains) gives the nodes of
    an irregular tree with per-node ranks second moment 1 in expectation over weights and
    standard-normal features: a conv of inputs of second moment 1 has second moment 1, a
    product of independent children the product of theirs.  Checked at the leaves and the
    inner nodes above them: higher up the products are so heavy-tailed that the sample
    standard deviation understates the spread (|z| up to 4.7 over 30 streams of 20000
    draws two levels up), and the tolerance would not be justified; every node's
    geometric mean is checked below."""
    tree = ((0, 1, 2), ((3, 4), 5), (6, (7, 8, 9, 10)))
    net = convac.ConvAC(11, 3, tree=tree, ranks=(2, 4, 3, 5, 2, 3), dtype=torch.float64)
    draws, gen = 20000, torch.Generator().manual_seed(7)
    # one independent network and feature sample per draw, all draws at once
    weights = [torch.randn((draws, *w.shape), generator=gen, dtype=torch.float64)
               / w.shape[1] ** 0.5 for w in net.weights]  # (D, r_out, r_in) each
    feats = torch.randn(draws, 11, 3, generator=gen, dtype=torch.float64)  # (D, N, M)
    outs = {}

    def conv(tn, x):  # (D, r_in) -> (D, r_out)
        out = torch.einsum("di,doi->do", x, weights[tn.key])
        if tn.level <= 1:
            outs[tn.key] = out
        return out

    fold(net.schedule, lambda tn: conv(tn, feats[:, tn.index]),
         lambda tn, kids: conv(tn, net.pooling.pool_children(kids)))
    assert len(outs) > net.n_patches  # inner nodes too
    stats = torch.stack([out.square().mean(1) for out in outs.values()], 1)  # (D, nodes) i.i.d.
    mean, err = stats.mean(0), stats.std(0) / draws**0.5
    assert (abs(mean - 1) < Z * err).all(), (mean, err)


@pytest.mark.parametrize("seed", [0, 3])
def test_tree_gains_give_fresh_features_unit_geometric_mean_at_every_node(seed):
    """On fresh standard-normal features, every node's mean log|output| is 0 within the
    sampling error of the probe (``PROBE_BATCH`` samples) and of the check (``K``
    samples): per-sample means over the channels are i.i.d. given the weights."""
    net = _irregular_net(64, seed, m=4, dtype=torch.float64)
    k = 4096
    outs, _ = _node_outputs(net, _normal(k, 64, 4, seed=99, dtype=torch.float64))
    for key, out in outs.items():
        per_sample = out.abs().log().mean(1)  # (K,)
        err = float(per_sample.std()) * (1 / PROBE_BATCH + 1 / k) ** 0.5
        assert abs(float(per_sample.mean())) < Z * err, (key, float(per_sample.mean()), err)


def test_tensor_train_node_outputs_match_the_forward():
    """The node-by-node oracle the Monte-Carlo checks read is the network's forward."""
    net = convac.ConvAC(6, 3, tree=caterpillar(6), ranks=4, seed=2, dtype=torch.float64)
    feats = _normal(8, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(_node_outputs(net, feats)[1], net(feats), rtol=1e-12, atol=0)


@pytest.mark.parametrize("depth", [1, 2])
def test_rac_states_have_unit_geometric_mean_and_no_drift(depth):
    """Fresh standard-normal sequences of the probe's length: every layer's states after
    the burn-in have mean log|h_t| = 0, and the mean over the last half of the steps
    equals that over the first half (no drift), each within ``Z`` standard errors of
    the probe's and the check's estimates (per-sequence means are i.i.d.)."""
    rac = convac.RAC(4, 6, depth, seed=5, dtype=torch.float64)
    k, gen = 2048, torch.Generator().manual_seed(17)
    x = torch.randn(PROBE_STEPS, k, 4, generator=gen, dtype=torch.float64)  # (T, K, M)
    probe = max(16, min(256, convac.nets.recurrent.PROBE_FLOPS // max(rac.widths) ** 2))
    log_abs, sign = x.abs().log(), x.sign()
    for w_in, w_h, h0 in zip(*rac.weight_groups()[:3], strict=True):
        # log space: the states of a deep layer spread beyond float64 over the probe
        log_abs, sign = _log_layer(log_abs, sign, w_in.detach(), w_h.detach(), h0.detach())
        logs = log_abs[PROBE_BURN_IN:].mean(2)  # (T', K)
        half = logs.shape[0] // 2
        for stat in (logs.mean(0), logs[half:].mean(0) - logs[:half].mean(0)):  # (K,)
            err = float(stat.std()) * (1 / probe + 1 / k) ** 0.5
            assert abs(float(stat.mean())) < Z * err, (float(stat.mean()), err)


def test_rac_seed_keeps_the_stream_up_to_one_constant_per_matrix():
    """A seed draws the earlier ``N(0, 1 / fan_in)`` weights (input, hidden, output, in
    this order) times one positive constant per matrix; initial states are constant."""
    rac = convac.RAC(3, (4, 5), 2, n_outputs=2, seed=11, dtype=torch.float64)
    gen = torch.Generator().manual_seed(11)
    for w in [*rac.input_weights, *rac.hidden_weights, rac.output_weight]:
        ratio = w.detach() / torch.randn(w.shape, generator=gen, dtype=torch.float64)
        assert ratio.min() > 0
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])),
                                   rtol=1e-12, atol=0)
    for h0 in rac.initial_states:
        h0 = h0.detach()
        assert h0.min() > 0 and torch.equal(h0, torch.full_like(h0, float(h0[0])))


def test_mixed_reset_is_the_seeded_stream_scaled_per_level():
    """``MixedConvAC.reset_parameters(seed)``: ``first``'s levels then ``second``'s, each
    ``N(0, 1 / fan_in)`` draws of one seeded stream times one positive constant."""
    mixed = _mixed(16, seed=4)
    gen = torch.Generator().manual_seed(4)
    for w in [*mixed.first.weights, *mixed.second.weights]:
        ratio = w.detach().double() / torch.randn(w.shape, generator=gen, dtype=torch.float64)
        assert ratio.min() > 0
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio.flatten()[0])),
                                   rtol=1e-6, atol=0)  # float32 weights


def test_shared_weights_bias_the_second_moment_of_later_steps():
    """Why the RAC's constants come from a probe: with ``N(0, 1 / fan_in)`` weights shared
    over time, ``E h_1^2 = 1`` but ``E h_2^2 = 1 + 2/R^2 + 2 (R + 2) / (M R^2)`` (the
    same hidden row and input row meet twice), over weights and standard-normal inputs."""
    m, r, draws = 4, 4, 20000
    gen = torch.Generator().manual_seed(3)
    w_in = torch.randn(draws, r, m, generator=gen, dtype=torch.float64) / m**0.5
    w_h = torch.randn(draws, r, r, generator=gen, dtype=torch.float64) / r**0.5
    x = torch.randn(2, draws, m, 1, generator=gen, dtype=torch.float64)
    h1 = w_h.sum(2) * (w_in @ x[0])[..., 0]  # (draws, R), h_0 = ones
    h2 = (w_h @ h1[..., None])[..., 0] * (w_in @ x[1])[..., 0]
    for h, expected in ((h1, 1.0), (h2, 1 + 2 / r**2 + 2 * (r + 2) / (m * r**2))):
        stat = h.square().mean(1)  # (draws,) i.i.d.
        assert abs(float(stat.mean()) - expected) < Z * float(stat.std()) / draws**0.5


def _log_space_gains(input_weights, hidden_weights, output_weight, gen):
    """The RAC probe's gains from the signed log-space recurrence (:func:`_log_layer`,
    a log-sum-exp per product): the oracle of the renormalized linear probe."""
    def mean_finite(x):
        x = x[torch.isfinite(x)]
        return float(x.mean()) if x.numel() else 0.0

    batch = max(16, min(256, PROBE_FLOPS // max(w.shape[0] for w in hidden_weights) ** 2))
    probe = torch.randn(PROBE_STEPS, batch, input_weights[0].shape[1], generator=gen,
                        dtype=torch.float64)
    log_abs, sign = signed_log(probe)
    steps = torch.arange(1, PROBE_STEPS + 1, dtype=torch.float64)[:, None, None]
    gains_in, gains_h, starts = [], [], []
    for w_in, w_h in zip(input_weights, hidden_weights, strict=True):
        gains_in.append(math.exp(-mean_finite(signed_log_conv(log_abs, sign, w_in)[0])))
        log_abs, sign = _log_layer(log_abs, sign, w_in, w_h,
                                   torch.ones(w_h.shape[0], dtype=torch.float64))
        level = [mean_finite(x) for x in log_abs]
        growth = (level[-1] - level[PROBE_BURN_IN - 1]) / (PROBE_STEPS - PROBE_BURN_IN)
        gains_h.append(math.exp(-growth) / gains_in[-1])
        log_abs = log_abs - growth * steps
        starts.append(math.exp(-mean_finite(log_abs[PROBE_BURN_IN:])))
        log_abs = log_abs + math.log(starts[-1])
    out = signed_log_conv(log_abs[PROBE_BURN_IN:], sign[PROBE_BURN_IN:], output_weight)[0]
    return gains_in, gains_h, starts, math.exp(-mean_finite(out))


@pytest.mark.parametrize("m, widths, seed", [(4, (6,), 0), (3, (4, 5), 1), (16, (16, 16, 16), 2),
                                             (2, (64, 8), 3), (5, (1, 3), 4)])
def test_rac_probe_matches_the_log_space_recurrence(m, widths, seed):
    """The renormalized linear probe gives the gains of the log-space recurrence (the
    same means of log-magnitudes, computed without a log-sum-exp per product)."""
    rac = convac.RAC(m, widths, len(widths), n_outputs=2, seed=0, dtype=torch.float64)
    weights = [*rac.input_weights, *rac.hidden_weights, rac.output_weight]
    draws = fan_in_draws(weights, torch.Generator().manual_seed(seed))
    d = len(widths)
    args = draws[:d], draws[d:2 * d], draws[-1]
    got = rac_scale_gains(*args, torch.Generator().manual_seed(100 + seed))
    want = _log_space_gains(*args, torch.Generator().manual_seed(100 + seed))
    for g, w in zip(got[:3], want[:3], strict=True):
        torch.testing.assert_close(torch.tensor(g), torch.tensor(w), rtol=1e-9, atol=0)
    assert got[3] == pytest.approx(want[3], rel=1e-9)
