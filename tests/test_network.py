"""ConvAC modules: shapes, dtypes, devices, log-space forward, validation."""

import pytest
import torch
from oracles import assert_close, make_net

import convac
from convac.nets import network

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_shape_dtype_device(net_case, dtype, device):
    net = make_net(net_case, seed=0).to(device=device, dtype=dtype)
    feats = torch.randn(5, net.n_patches, net.n_channels, dtype=dtype, device=device)
    out = net(feats)
    assert out.shape == (5, net.n_outputs)
    assert out.dtype == dtype and out.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_forward_matches_coefficient_tensor_on_device(device):
    net = convac.HTNet(4, 3, 2, n_outputs=2, geometry="mirror", seed=4).double().to(device)
    a = convac.coefficient_tensor(net, 1)
    eye = torch.eye(3, dtype=torch.float64, device=device)
    feats = eye[torch.tensor([[0, 2, 1, 1]], device=device)]  # (1, 4, 3) one-hot
    assert_close(net(feats)[0, 1].cpu(), a[0, 2, 1, 1])


def test_inference_path_matches_autograd_path(net_case):
    """Under no_grad the forward pools in place; it must give the same outputs, leave the
    input untouched, and still allow gradients when they are asked for."""
    net = make_net(net_case, seed=6, shared=net_case == "mixed")
    feats = torch.randn(9, net.n_patches, net.n_channels, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(1))
    before = feats.clone()
    with_grad = net(feats)
    with torch.no_grad():
        no_grad = net(feats)
    with torch.inference_mode():
        inference = net(feats)
    assert_close(no_grad, with_grad)
    assert_close(inference, with_grad)
    assert torch.equal(feats, before)
    with_grad.sum().backward()
    assert all(w.grad is not None for w in net.weights)


@pytest.mark.parametrize("batch", [1, 3, 7, 9])
def test_chunked_forward_matches_one_pass(net_case, batch, monkeypatch):
    """The no-grad CPU forward goes through a batch in passes of ``_batch_chunk`` samples
    (at least ``CHUNK_MIN``): passes of 3 samples, the last one shorter or alone, give
    the outputs of one pass."""
    net = make_net(net_case, seed=2)
    feats = torch.randn(batch, net.n_patches, net.n_channels, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        whole = net(feats)
        assert net._batch_chunk(feats) >= network.CHUNK_MIN >= batch  # one pass
        per_sample = net.n_patches * max(net.n_channels, net.ranks[0]) * feats.element_size()
        monkeypatch.setattr(network, "CHUNK_MIN", 1)
        monkeypatch.setattr(network, "CHUNK_BYTES", 3 * per_sample)
        assert net._batch_chunk(feats) == 3
        chunked = net(feats)
        assert chunked.shape == whole.shape
        assert_close(chunked, whole)
        if net.is_tree or batch <= 3:
            return
        # the levels from _whole_batch_level on run over the whole batch: every split
        s = net.schedule
        for top in range(1, s.n_levels + 2):
            level_bytes = (s.nodes[top - 1] * s.widths[top - 1] * batch * feats.element_size()
                           if top <= s.n_levels else 0)
            monkeypatch.setattr(network, "WHOLE_BATCH_BYTES", level_bytes)
            assert net._whole_batch_level(feats) <= top
            split = net(feats)
            assert split.shape == whole.shape
            assert_close(split, whole)


def test_seed_reproducible_and_distinct():
    a = convac.HTNet(8, 3, 2, seed=3)
    b = convac.HTNet(8, 3, 2, seed=3)
    c = convac.HTNet(8, 3, 2, seed=4)
    for wa, wb, wc in zip(a.weights, b.weights, c.weights, strict=True):
        assert torch.equal(wa, wb) and not torch.equal(wa, wc)


@pytest.mark.parametrize("shared", [False, True])
def test_log_space_forward_matches_plain(net_case, shared):
    net = make_net(net_case, seed=2, shared=shared)
    feats = torch.randn(7, net.n_patches, net.n_channels, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(0))
    out = net(feats)
    log_abs, sign = net.forward_log(feats)
    assert_close(sign * torch.exp(log_abs), out)
    assert torch.equal(sign, torch.sign(out))


def test_log_space_survives_long_products_where_float32_fails():
    """N=256: the float32 product of 256 patch values underflows; log space does not.

    Positive weights and features, so the float64 reference has no cancellation and
    float32 rounding alone cannot explain a difference.
    """
    gen = torch.Generator().manual_seed(0)
    net = convac.HTNet(256, 4, 4, seed=1)  # float32
    with torch.no_grad():
        for w in net.weights:
            w.abs_()
    feats = 0.05 * torch.rand(16, 256, 4, generator=gen)
    reference = net.double()(feats.double())  # float64, far below float32's range
    net.float()
    assert torch.all(reference > 0) and torch.all(torch.isfinite(reference))
    ref_log = torch.log(reference)
    assert ref_log.max() < -200  # float32's smallest subnormal is about e^-103
    plain32 = net(feats)
    assert torch.all(plain32 == 0)  # the plain float32 forward has lost everything
    log_abs, sign = net.forward_log(feats)
    assert log_abs.dtype == torch.float32 and torch.all(sign == 1)
    # |log h32 - log h64| < 1e-3: relative error below 0.1% on values near e^-250
    torch.testing.assert_close(log_abs.double(), ref_log, rtol=0, atol=1e-3)


@pytest.mark.parametrize("n_patches", [256, 1024])
def test_log_space_past_float64_range_by_homogeneity(n_patches):
    """h(c x) = c^N h(x): with c = 1e-3 and N = 1024 the output is about 1e-3072, far
    below float64, yet log space gives N log c + log|h(x)| (signed weights)."""
    gen = torch.Generator().manual_seed(n_patches)
    net = convac.HTNet(n_patches, 3, 3, seed=2).double()
    feats = torch.randn(8, n_patches, 3, dtype=torch.float64, generator=gen)
    base = net(feats)
    scale = 1e-3
    log_abs, sign = net.forward_log(scale * feats)
    expected = n_patches * torch.log(torch.tensor(scale, dtype=torch.float64)) + torch.log(
        torch.abs(base))
    torch.testing.assert_close(log_abs, expected, rtol=1e-12, atol=1e-9)
    assert torch.equal(sign, torch.sign(base))
    if n_patches == 1024:
        assert torch.all(net(scale * feats) == 0)  # plain float64 underflows


def test_log_space_zero_output():
    net = convac.CPNet(4, 2, 2, seed=0).double()
    log_abs, sign = net.forward_log(torch.zeros(3, 4, 2, dtype=torch.float64))
    assert torch.all(log_abs == -torch.inf) and torch.all(sign == 0)


def test_level_weights_views():
    net = convac.ConvAC(12, 3, (2, 3, 2), (4, 5, 6), n_outputs=2, shared=True, seed=0)
    assert [tuple(net.level_weights(l).shape) for l in range(4)] == [
        (12, 4, 3), (6, 5, 4), (2, 6, 5), (1, 2, 6)]
    with pytest.raises(ValueError, match=r"level must be in 0\.\.3, got 4"):
        net.level_weights(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": (2, 3)}, r"windows \(2, 3\) multiply to 6, expected n_patches=8"),
        ({"windows": (8,), "ranks": 0}, r"ranks\[0\] must be >= 1, got 0"),
        ({"windows": (2, 4), "ranks": (2,)}, r"sequence of 2 ints.*got \(2,\)"),
        ({"windows": (1, 8)}, r"windows\[0\] must be >= 2, got 1"),
        ({"windows": (8,), "n_outputs": 0}, r"n_outputs must be >= 1, got 0"),
        ({"windows": (8,), "geometry": "spiral"},
         r"unknown geometry 'spiral'; expected one of: 'contiguous', 'mirror'"),
        ({"windows": (8,), "geometry": [0, 1, 2]}, r"permutation of range\(8\)"),
        ({"windows": (8,), "geometry": [0] * 8}, r"permutation of range\(8\)"),
        ({"windows": (8,), "shared": "yes"}, r"shared must be True or False, got 'yes'"),
        ({"windows": 8}, r"windows must be a sequence of window sizes, got 8"),
    ],
)
def test_bad_configuration(kwargs, message):
    args = {"n_patches": 8, "n_channels": 3, "ranks": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        convac.ConvAC(**args)


def test_bad_constructors():
    with pytest.raises(ValueError, match=r"n_patches=12 is not a power of window=2"):
        convac.HTNet(12, 3, 2)
    with pytest.raises(ValueError, match=r"width|ranks\[0\] must be >= 1, got 0"):
        convac.CPNet(4, 3, 0)
    with pytest.raises(ValueError, match=r"mirror geometry needs an even number of patches"):
        convac.CPNet(5, 3, 2, geometry="mirror")


@pytest.mark.parametrize("shape", [(4, 8, 2), (4, 7, 3), (8, 3), (2, 8, 3, 1)])
def test_features_of_wrong_shape(shape):
    net = convac.HTNet(8, 3, 2)
    with pytest.raises(ValueError, match=r"features must have shape \(batch, n_patches=8, "
                                         r"n_channels=3\), got " + str(shape).replace("(", r"\(")
                       .replace(")", r"\)")):
        net(torch.zeros(shape))
    with pytest.raises(ValueError, match="features must have shape"):
        net.forward_log(torch.zeros(shape))
