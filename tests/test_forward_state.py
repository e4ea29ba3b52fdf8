"""One forward path: correct after every kind of state change, a clear error for
state that does not fit the schedule, and ``torch.compile`` giving the same function.

The oracle for "uses the current weights" is a deep copy of the network taken after the
change (a fresh module holds nothing from before it) and, independently, the coefficient
tensor built from the weights (``convac.coefficient_tensor``) read on one-hot inputs.
"""

import copy

import pytest
import torch
from oracles import NET_CASES, assert_close, assert_close_to_reference, make_net

import convac
from convac.nets.network import (
    FUSE_MAX_IN,
    SAMPLE_GROUPS,
    materialized,
    node_conv,
    sample_groups,
    unrolled_conv,
)

# every state-change test runs on the eager module and on ``torch.compile(net,
# fullgraph=True)`` (dynamo's capture and guards, AOTAutograd; the "aot_eager" backend, as
# inductor's C++ compilation would take minutes here: the tests at the end use inductor)
MODES = ["eager", pytest.param("compiled", marks=pytest.mark.slow)]


def _forward_of(net, mode):
    """``net`` itself, or its compiled forward as one graph (``fullgraph=True``)."""
    if mode == "eager":
        return net
    # every test compiles ConvAC.forward anew: without a reset, dynamo's recompile limit
    # per code object (8) would be reached across the tests of one process
    torch._dynamo.reset()
    return torch.compile(net, fullgraph=True, backend="aot_eager")


def _raises(mode, error, match):
    """The error an invalid state gives: ``error`` eagerly; compiled with
    ``fullgraph=True`` dynamo reports the same message inside its own exception (without
    ``fullgraph`` it falls back to the eager call, which raises ``error`` itself)."""
    return pytest.raises(error if mode == "eager" else Exception, match=match)


def _features(net, batch=7, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen, dtype=dtype)


def _one_hot_batch(net, seed=0, batch=16):
    """Random one-hot inputs and their indices, ``(B, N, M)`` and ``(B, N)``."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(net.n_channels, (batch, net.n_patches), generator=gen)
    eye = torch.eye(net.n_channels, dtype=torch.float64)
    return eye[idx], idx


def _assert_uses_current_weights(net, forward=None):
    """The no-grad and autograd forwards (of ``forward``: the module, or its compiled
    form) equal a fresh copy's and the coefficient tensor."""
    forward = net if forward is None else forward
    feats = _features(net)
    with torch.no_grad():
        no_grad = forward(feats)
    with_grad = forward(feats)
    fresh = copy.deepcopy(net)(feats)
    assert_close(no_grad, fresh)
    assert_close(with_grad.detach(), fresh.detach())
    one_hot, idx = _one_hot_batch(net)
    a = convac.coefficient_tensor(net)
    with torch.no_grad():
        assert_close(forward(one_hot)[:, 0], a[tuple(idx.T)])


OPTIMIZERS = {
    "adam": lambda p, **k: torch.optim.Adam(p, lr=0.1, **k),
    "adamw": lambda p, **k: torch.optim.AdamW(p, lr=0.1, **k),
    "sgd": lambda p, **k: torch.optim.SGD(p, lr=0.1, momentum=0.9, **k),
}


@pytest.mark.parametrize("forward_mode", MODES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("mode", ["fused", "foreach", "for-loop"])
def test_forward_follows_optimizer_steps(name, mode, forward_mode):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    forward = _forward_of(net, forward_mode)
    kwargs = {"fused": {"fused": True}, "foreach": {"foreach": True},
              "for-loop": {"foreach": False}}[mode]
    opt = OPTIMIZERS[name](net.parameters(), **kwargs)
    feats = _features(net)
    with torch.no_grad():
        before = forward(feats).clone()
    for _ in range(2):
        opt.zero_grad()
        forward(feats).pow(2).mean().backward()
        opt.step()
        with torch.no_grad():
            after = forward(feats)
        assert not torch.equal(after, before)
        _assert_uses_current_weights(net, forward)
        before = after.clone()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["data", "numpy", "no_grad_inplace", "copy_"])
def test_forward_follows_direct_weight_writes(how, mode):
    net = convac.HTNet(8, 3, 2, seed=1, dtype=torch.float64)
    forward = _forward_of(net, mode)
    feats = _features(net)
    with torch.no_grad():
        before = forward(feats).clone()
    w = net.weights[1]
    if how == "data":
        w.data.mul_(2)
    elif how == "numpy":
        w.detach().numpy()[...] *= 2
    elif how == "no_grad_inplace":
        with torch.no_grad():
            w.mul_(2)
    else:
        with torch.no_grad():
            w.copy_(2 * w)
    with torch.no_grad():
        after = forward(feats)
    # level 1 is linear in its weights: doubling them doubles each of its 4 nodes' outputs,
    # and the output is multilinear in those 4 nodes: it scales by 2**4
    assert_close(after, 16 * before)
    _assert_uses_current_weights(net, forward)


@pytest.mark.parametrize("mode", MODES)
def test_load_state_dict_of_another_net(mode):
    net = convac.HTNet(8, 3, 2, seed=2, dtype=torch.float64)
    forward = _forward_of(net, mode)
    other = convac.HTNet(8, 3, 2, seed=3, dtype=torch.float64)
    feats = _features(net)
    with torch.no_grad():
        forward(feats)  # a first call, so any state kept between calls would be stale
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        assert_close(forward(feats), other(feats))
    assert_close(forward(feats).detach(), other(feats).detach())
    _assert_uses_current_weights(net, forward)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ["ht", "window4", "mixed"])
def test_load_state_dict_with_another_geometry(case, mode):
    """A mirror net's state loaded into a contiguous one: every path follows the new
    order (the label too)."""
    if case == "mixed":
        mirror = convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), geometry="mirror", seed=5)
        plain = convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), seed=6)
    else:
        mirror = make_net(case, seed=5, geometry="mirror")
        plain = make_net(case, seed=6)
    mirror, plain = mirror.double(), plain.double()
    forward = _forward_of(plain, mode)
    feats = _features(plain)
    with torch.no_grad():
        forward(feats)
    assert plain.geometry == "contiguous"
    plain.load_state_dict(mirror.state_dict())
    assert plain.geometry == "mirror"
    expected = mirror(feats).detach()
    with torch.no_grad():
        assert_close(forward(feats), expected)
    with torch.inference_mode():
        assert_close(forward(feats), expected)
    assert_close(forward(feats).detach(), expected)
    assert_close(convac.coefficient_tensor(plain), convac.coefficient_tensor(mirror))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [[0, 1, 2, 3, 4, 5, 6, 9], [0, 0, 2, 3, 4, 5, 6, 7],
                                 [10**12, 1, 2, 3, 4, 5, 6, 7], [-1, 1, 2, 3, 4, 5, 6, 7]])
def test_order_not_a_permutation_is_an_error(bad, mode):
    net = convac.HTNet(8, 2, 2, seed=0, dtype=torch.float64)
    feats = _features(net)
    state = net.state_dict()
    state["order"] = torch.tensor(bad)
    loaded = convac.HTNet(8, 2, 2, seed=0, dtype=torch.float64)
    forward = _forward_of(loaded, mode)
    loaded.load_state_dict(state)
    with _raises(mode, ValueError, r"order buffer must be a permutation of range\(8\)"):
        forward(feats)
    with torch.no_grad(), _raises(mode, ValueError, r"order buffer"):
        forward(feats)
    forward = _forward_of(net, mode)
    with torch.no_grad():
        forward(feats)  # compiled for the valid order
        net.order.copy_(torch.tensor(bad))  # written in place after construction
    if mode == "eager":  # the version counter shows the write: revalidated
        with pytest.raises(ValueError, match=r"order buffer must be a permutation"):
            forward(feats)
    else:  # the compiled graph asserts on the device that the values are still the same
        with pytest.raises(RuntimeError, match=r"order buffer was written in place"):
            forward(feats)
    with pytest.raises(ValueError, match=r"order buffer must be a permutation"):
        net.check_state()


@pytest.mark.parametrize("mode", MODES)
def test_order_of_another_dtype_or_shape_is_an_error(mode):
    net = convac.HTNet(8, 2, 2, seed=0)
    forward = _forward_of(net, mode)
    net.order = torch.arange(8, dtype=torch.int32)
    with _raises(mode, ValueError, r"order buffer must be an int64 permutation"):
        forward(torch.rand(2, 8, 2))
    net.order = torch.arange(4)
    with _raises(mode, ValueError, r"shape \(4,\)"):
        forward(torch.rand(2, 8, 2))
    net.order = torch.arange(8)  # a valid order again: the forward works
    with torch.no_grad():
        assert_close(forward(torch.ones(2, 8, 2)), net(torch.ones(2, 8, 2)),
                     dtype=torch.float32)


@pytest.mark.parametrize("mode", MODES)
def test_level_of_another_dtype_is_an_error(mode):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    forward = _forward_of(net, mode)
    forward(_features(net))
    net.weights[1].data = net.weights[1].data.float()
    with _raises(mode, ValueError, r"weights\[1\] is torch.float32 on cpu, expected "
                                   r"torch.float64"):
        forward(_features(net))
    with torch.no_grad(), _raises(mode, ValueError, r"weights\[1\]"):
        forward(_features(net))


@pytest.mark.parametrize("mode", MODES)
def test_level_of_another_shape_is_an_error(mode):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    forward = _forward_of(net, mode)
    net.weights[0].data = net.weights[0].data.reshape(8, 3, 2)
    with torch.no_grad(), _raises(
            mode, ValueError, r"weights\[0\] has shape \(8, 3, 2\), the schedule expects "
                              r"\(8, 2, 3\)"):
        forward(_features(net))


@pytest.mark.parametrize("mode", MODES)
def test_level_on_another_device_is_an_error(mode):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    forward = _forward_of(net, mode)
    net.weights[2] = torch.nn.Parameter(
        torch.empty(net.weights[2].shape, dtype=torch.float64, device="meta"))
    with _raises(mode, ValueError, r"weights\[2\] is torch.float64 on meta"):
        forward(_features(net))


@pytest.mark.parametrize("mode", MODES)
def test_features_on_another_device_or_complex_are_errors(mode):
    net = convac.HTNet(8, 3, 2, seed=0)
    forward = _forward_of(net, mode)
    with _raises(mode, ValueError, r"features are on meta, the network on cpu"):
        forward(torch.empty(2, 8, 3, device="meta"))
    with _raises(mode, TypeError, r"features must be real, got torch.complex64"):
        forward(torch.ones(2, 8, 3, dtype=torch.complex64))
    with _raises(mode, TypeError, r"features must be a torch.Tensor, got list"):
        forward([[0.0] * 3] * 8)


def test_no_native_code_in_the_package():
    """Acceleration goes through torch only: no ctypes, no compiler calls, no
    shared libraries shipped or loaded by convac itself."""
    from pathlib import Path

    root = Path(convac.__file__).parent
    sources = {p: p.read_text() for p in root.rglob("*.py")}
    assert not [p for p, text in sources.items() if "ctypes" in text]
    assert not [p for p, text in sources.items() if "subprocess" in text and "cc" in text
                and "compile" in text.lower() and "gcc" in text]
    assert not list(root.rglob("*.so")) and not list(root.rglob("*.c"))


# -- torch.compile ------------------------------------------------------------------------

def _compile_or_skip(net):
    try:
        import torch._inductor.config  # noqa: F401
    except Exception as exc:  # pragma: no cover - torch without inductor
        pytest.skip(f"torch.compile unavailable: {exc}")
    torch._dynamo.reset()  # see _forward_of
    return torch.compile(net, fullgraph=True)  # one graph: no break, no eager fallback


@pytest.mark.slow
@pytest.mark.parametrize("case", ["ht", "cp", "mixed"])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_compiled_forward_is_the_same_function(case, geometry):
    """``torch.compile(net, fullgraph=True)`` (CPU inductor) against the eager forward and
    the one-hot oracle, without and with autograd (outputs and gradients)."""
    shared = case == "mixed"
    net = make_net(case, seed=7, shared=shared, geometry=geometry)
    compiled = _compile_or_skip(net)
    feats = _features(net, batch=9)
    with torch.no_grad():
        assert_close(compiled(feats), net(feats))
        one_hot, idx = _one_hot_batch(net, batch=9)
        a = convac.coefficient_tensor(net)
        assert_close(compiled(one_hot)[:, 0], a[tuple(idx.T)])
    out = compiled(feats)
    assert_close(out.detach(), net(feats).detach())
    grads = torch.autograd.grad(out.sum(), list(net.parameters()))
    eager = torch.autograd.grad(net(feats).sum(), list(net.parameters()))
    for g, e in zip(grads, eager, strict=True):
        assert_close(g, e)


@pytest.mark.slow
def test_compiled_forward_for_every_sample_grouping():
    """One compiled module called with batches of four, two and one sample per step
    (recompiled for a dynamic batch) against the eager forward, sample by sample."""
    net = make_net("ht", seed=5)
    compiled = _compile_or_skip(net)
    with torch.no_grad():
        for batch in (8, 12, 6, 5, 1):
            feats = _features(net, batch=batch, seed=batch)
            assert_close(compiled(feats), net(feats))


@pytest.mark.slow
def test_compiled_forward_follows_weight_changes():
    """The compiled module reads the live parameters: a step of a fused optimizer changes
    its outputs exactly as it changes the eager ones."""
    net = convac.HTNet(8, 3, 2, seed=8, dtype=torch.float64)
    compiled = _compile_or_skip(net)
    feats = _features(net)
    opt = torch.optim.Adam(net.parameters(), lr=0.1, fused=True)
    for _ in range(2):
        opt.zero_grad()
        compiled(feats).pow(2).mean().backward()
        opt.step()
        with torch.no_grad():
            assert_close(compiled(feats), copy.deepcopy(net)(feats))


@pytest.mark.slow
def test_compiled_forward_follows_state_changes():
    """Inside ``torch.compile(fullgraph=True)`` (inductor) the state is checked where it
    changes: a loaded geometry and a conversion with ``.to`` are followed, a bad order
    written in place is an error naming the buffer (a device-side assert)."""
    net = convac.HTNet(8, 3, 2, seed=9)
    compiled = _compile_or_skip(net)
    feats = _features(net, dtype=torch.float32)
    with torch.no_grad():
        compiled(feats)
        net.double()  # _apply: the graph is guarded on the weights' dtype
        assert_close(compiled(feats.double()), net(feats.double()))
        mirror = convac.HTNet(8, 3, 2, seed=9, geometry="mirror", dtype=torch.float64)
        net.load_state_dict(mirror.state_dict())
        assert_close(compiled(feats.double()), mirror(feats.double()))
        net.order.copy_(torch.tensor([0, 0, 2, 3, 4, 5, 6, 7]))
        with pytest.raises(RuntimeError, match=r"order buffer was written in place"):
            compiled(feats.double())


@pytest.mark.parametrize("mode", MODES)
def test_forward_follows_to(mode):
    """``.to`` / ``.double`` / ``.float`` (``_apply``) after calls: the forward follows."""
    net = convac.HTNet(8, 3, 2, seed=4, geometry="mirror")
    forward = _forward_of(net, mode)
    feats = _features(net)
    with torch.no_grad():
        forward(feats.float())
        net.double()
        assert_close(forward(feats), copy.deepcopy(net)(feats))
        net.float()
        assert_close(forward(feats.float()), copy.deepcopy(net)(feats.float()),
                     dtype=torch.float32)


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_a_meta_network_has_no_values_to_check(geometry):
    """``.to("meta")`` validates nothing (no values) and its forward gives shapes only."""
    net = convac.HTNet(8, 2, 2, seed=0, geometry=geometry).to("meta")
    assert net(torch.empty(3, 8, 2, device="meta")).shape == (3, 1)


# -- the fused formulation of the compiled CPU forward ---------------------------------------

@pytest.mark.parametrize("shared", [False, True])
def test_unrolled_conv_is_node_conv(shared):
    """The conv as ``r_in`` broadcast multiply-adds against one bmm (or matmul if shared)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 7, 4, generator=gen, dtype=torch.float64)  # (nodes, batch, r_in)
    w = torch.randn(*(() if shared else (5,)), 3, 4, generator=gen, dtype=torch.float64)
    weight_t = materialized(w.transpose(-1, -2))
    assert weight_t.is_contiguous() and torch.equal(weight_t, w.transpose(-1, -2))
    assert_close(unrolled_conv(x, weight_t), node_conv(x, w))


@pytest.mark.parametrize("case", sorted(NET_CASES))
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_fused_forward_is_the_forward(case, shared, geometry):
    """The formulation the compiled CPU forward traces (run eagerly here; its compiled run
    is in the slow tier) against the level-by-level forward, for every schedule (windows
    above ``FUSE_MAX_WINDOW`` keep the matmul) and pooling operator."""
    for pooling in ("product", "relu-max", "relu-sum"):
        net = NET_CASES[case](5, shared, geometry).double()
        net.pooling = convac.nets.pooling.resolve_pooling(pooling)
        feats = _features(net, batch=6)
        with torch.no_grad():
            weights, order = net._state()
            identity = net._checked(feats, weights, order)
            assert_close(net._fused_forward(feats, weights, order, identity), net(feats))


def test_sample_groups_divide_the_batch():
    """The compiled forward's samples per step: the largest power of two up to
    ``SAMPLE_GROUPS`` that divides the batch (against a scan of every power of two)."""
    for batch in range(1, 70):
        expected = max(g for g in (1, 2, 4, 8, 16, 32) if g <= SAMPLE_GROUPS and batch % g == 0)
        assert sample_groups(batch) == expected


@pytest.mark.parametrize("batch", [1, 3, 4, 6, 8, 12])
@pytest.mark.parametrize("case", ["ht", "mixed"])
def test_fused_forward_for_every_sample_grouping(case, batch):
    """Every batch size, whatever its samples per step (1, 2 or 4 interleaved groups),
    gives each sample its own outputs in the batch's order, also through a level that keeps
    the matmul."""
    for net in (NET_CASES[case](5, False, "mirror").double(),
                convac.HTNet(4, FUSE_MAX_IN + 3, (FUSE_MAX_IN + 1, 2), seed=1).double()):
        feats = _features(net, batch=batch)
        # the same features laid out patch-major: the batch dimension strided
        strided = feats.transpose(0, 1).contiguous().transpose(0, 1)
        with torch.no_grad():
            weights, order = net._state()
            identity = net._checked(feats, weights, order)
            for x in (feats, strided):
                assert_close(net._fused_forward(x, weights, order, identity), net(feats))


def test_fused_forward_keeps_the_matmul_for_wide_inputs():
    """Inputs wider than ``FUSE_MAX_IN`` go through ``node_conv`` at their level (the same
    function: the other levels still fuse)."""
    net = convac.HTNet(4, FUSE_MAX_IN + 3, (FUSE_MAX_IN + 1, 2), seed=1).double()
    feats = _features(net, batch=5)
    with torch.no_grad():
        weights, order = net._state()
        assert_close(net._fused_forward(feats, weights, order, True), net(feats))


@pytest.mark.slow
def test_compiled_benchmark_forward_matches_float64():
    """The benchmarked network (HT, N = 64, M = r = 16, float32) compiled with inductor (the
    fused loops) against the float64 eager forward of the same weights."""
    net = convac.HTNet(64, 16, 16, seed=0)
    feats = _features(net, batch=300, dtype=torch.float32)
    compiled = _compile_or_skip(net)
    with torch.no_grad():
        reference = copy.deepcopy(net).double()(feats.double())
        assert torch.isfinite(reference).all()
        assert_close_to_reference(compiled(feats), reference, torch.float32)
        assert_close_to_reference(net(feats), reference, torch.float32)
