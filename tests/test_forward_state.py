"""One forward path: correct after every kind of state change, a clear error for
state that does not fit the schedule, and ``torch.compile`` giving the same function.

The oracle for "uses the current weights" is a deep copy of the network taken after the
change (a fresh module holds nothing from before it) and, independently, the coefficient
tensor built from the weights (``convac.coefficient_tensor``) read on one-hot inputs.
"""

import copy

import pytest
import torch
from oracles import assert_close, make_net

import convac


def _features(net, batch=7, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen, dtype=dtype)


def _one_hot_batch(net, seed=0, batch=16):
    """Random one-hot inputs and their indices, ``(B, N, M)`` and ``(B, N)``."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(net.n_channels, (batch, net.n_patches), generator=gen)
    eye = torch.eye(net.n_channels, dtype=torch.float64)
    return eye[idx], idx


def _assert_uses_current_weights(net):
    """The no-grad and autograd forwards equal a fresh copy's and the coefficient tensor."""
    feats = _features(net)
    with torch.no_grad():
        no_grad = net(feats)
    with_grad = net(feats)
    fresh = copy.deepcopy(net)(feats)
    assert_close(no_grad, fresh)
    assert_close(with_grad.detach(), fresh.detach())
    one_hot, idx = _one_hot_batch(net)
    a = convac.coefficient_tensor(net)
    with torch.no_grad():
        assert_close(net(one_hot)[:, 0], a[tuple(idx.T)])


OPTIMIZERS = {
    "adam": lambda p, **k: torch.optim.Adam(p, lr=0.1, **k),
    "adamw": lambda p, **k: torch.optim.AdamW(p, lr=0.1, **k),
    "sgd": lambda p, **k: torch.optim.SGD(p, lr=0.1, momentum=0.9, **k),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("mode", ["fused", "foreach", "for-loop"])
def test_forward_follows_optimizer_steps(name, mode):
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    kwargs = {"fused": {"fused": True}, "foreach": {"foreach": True},
              "for-loop": {"foreach": False}}[mode]
    opt = OPTIMIZERS[name](net.parameters(), **kwargs)
    feats = _features(net)
    with torch.no_grad():
        before = net(feats).clone()
    for _ in range(2):
        opt.zero_grad()
        net(feats).pow(2).mean().backward()
        opt.step()
        with torch.no_grad():
            after = net(feats)
        assert not torch.equal(after, before)
        _assert_uses_current_weights(net)
        before = after.clone()


@pytest.mark.parametrize("how", ["data", "numpy", "no_grad_inplace", "copy_"])
def test_forward_follows_direct_weight_writes(how):
    net = convac.HTNet(8, 3, 2, seed=1, dtype=torch.float64)
    feats = _features(net)
    with torch.no_grad():
        before = net(feats).clone()
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
        after = net(feats)
    # level 1 is linear in its weights: doubling them doubles each of its 4 nodes' outputs,
    # and the output is multilinear in those 4 nodes: it scales by 2**4
    assert_close(after, 16 * before)
    _assert_uses_current_weights(net)


def test_load_state_dict_of_another_net():
    net = convac.HTNet(8, 3, 2, seed=2, dtype=torch.float64)
    other = convac.HTNet(8, 3, 2, seed=3, dtype=torch.float64)
    feats = _features(net)
    with torch.no_grad():
        net(feats)  # a first call, so any state kept between calls would be stale
    net.load_state_dict(other.state_dict())
    with torch.no_grad():
        assert_close(net(feats), other(feats))
    assert_close(net(feats).detach(), other(feats).detach())
    _assert_uses_current_weights(net)


@pytest.mark.parametrize("case", ["ht", "window4", "mixed"])
def test_load_state_dict_with_another_geometry(case):
    """A mirror net's state loaded into a contiguous one: every path follows the new
    order (the label too)."""
    if case == "mixed":
        mirror = convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), geometry="mirror", seed=5)
        plain = convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), seed=6)
    else:
        mirror = make_net(case, seed=5, geometry="mirror")
        plain = make_net(case, seed=6)
    mirror, plain = mirror.double(), plain.double()
    feats = _features(plain)
    with torch.no_grad():
        plain(feats)
    assert plain.geometry == "contiguous"
    plain.load_state_dict(mirror.state_dict())
    assert plain.geometry == "mirror"
    expected = mirror(feats).detach()
    with torch.no_grad():
        assert_close(plain(feats), expected)
    with torch.inference_mode():
        assert_close(plain(feats), expected)
    assert_close(plain(feats).detach(), expected)
    assert_close(convac.coefficient_tensor(plain), convac.coefficient_tensor(mirror))


@pytest.mark.parametrize("bad", [[0, 1, 2, 3, 4, 5, 6, 9], [0, 0, 2, 3, 4, 5, 6, 7],
                                 [10**12, 1, 2, 3, 4, 5, 6, 7], [-1, 1, 2, 3, 4, 5, 6, 7]])
def test_order_not_a_permutation_is_an_error(bad):
    net = convac.HTNet(8, 2, 2, seed=0, dtype=torch.float64)
    feats = _features(net)
    state = net.state_dict()
    state["order"] = torch.tensor(bad)
    loaded = convac.HTNet(8, 2, 2, seed=0, dtype=torch.float64)
    loaded.load_state_dict(state)
    with pytest.raises(ValueError, match=r"order buffer must be a permutation of range\(8\)"):
        loaded(feats)
    with torch.no_grad(), pytest.raises(ValueError, match=r"order buffer"):
        loaded(feats)
    with torch.no_grad():  # written after construction
        net.order.copy_(torch.tensor(bad))
    with pytest.raises(ValueError, match=r"order buffer must be a permutation"):
        net(feats)


def test_order_of_another_dtype_or_shape_is_an_error():
    net = convac.HTNet(8, 2, 2, seed=0)
    net.order = torch.arange(8, dtype=torch.int32)
    with pytest.raises(ValueError, match=r"order buffer must be an int64 permutation"):
        net(torch.rand(2, 8, 2))
    net.order = torch.arange(4)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        net(torch.rand(2, 8, 2))


def test_level_of_another_dtype_is_an_error():
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    net.weights[1].data = net.weights[1].data.float()
    with pytest.raises(ValueError, match=r"weights\[1\] is torch.float32 on cpu, expected "
                                         r"torch.float64"):
        net(_features(net))
    with torch.no_grad(), pytest.raises(ValueError, match=r"weights\[1\]"):
        net(_features(net))


def test_level_of_another_shape_is_an_error():
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    net.weights[0].data = net.weights[0].data.reshape(8, 3, 2)
    with torch.no_grad(), pytest.raises(
            ValueError, match=r"weights\[0\] has shape \(8, 3, 2\), the schedule expects "
                              r"\(8, 2, 3\)"):
        net(_features(net))


def test_level_on_another_device_is_an_error():
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    net.weights[2] = torch.nn.Parameter(
        torch.empty(net.weights[2].shape, dtype=torch.float64, device="meta"))
    with pytest.raises(ValueError, match=r"weights\[2\] is torch.float64 on meta"):
        net(_features(net))


def test_features_on_another_device_or_complex_are_errors():
    net = convac.HTNet(8, 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"features are on meta, the network on cpu"):
        net(torch.empty(2, 8, 3, device="meta"))
    with pytest.raises(TypeError, match=r"features must be real, got torch.complex64"):
        net(torch.ones(2, 8, 3, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"features must be a torch.Tensor, got list"):
        net([[0.0] * 3] * 8)


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
    return torch.compile(net)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["ht", "cp", "mixed"])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_compiled_forward_is_the_same_function(case, geometry):
    """``torch.compile(net)`` (CPU inductor) against the eager forward and the one-hot
    oracle, without and with autograd (outputs and gradients)."""
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
def test_compiled_forward_checks_the_state_on_every_call():
    """Inside ``torch.compile`` the checks still run on every call (an eager graph break):
    a loaded geometry is followed, a bad order is an error naming it."""
    net = convac.HTNet(8, 3, 2, seed=9, dtype=torch.float64)
    compiled = _compile_or_skip(net)
    feats = _features(net)
    with torch.no_grad():
        compiled(feats)
        mirror = convac.HTNet(8, 3, 2, seed=9, geometry="mirror", dtype=torch.float64)
        net.load_state_dict(mirror.state_dict())
        assert_close(compiled(feats), mirror(feats))
        net.order.copy_(torch.tensor([0, 0, 2, 3, 4, 5, 6, 7]))
        with pytest.raises(ValueError, match=r"order buffer must be a permutation"):
            compiled(feats)
