"""Patches and representation layers; end to end on images."""

import numpy as np
import pytest
import torch

import convac


def test_quadtree_order_is_z_order():
    order = convac.quadtree_order(4, 4)
    # the first four patches are the top-left 2x2 block, in raster numbering
    assert order[:4].tolist() == [0, 1, 4, 5]
    assert sorted(order.tolist()) == list(range(16))
    # every window of 4 is a 2x2 block; every window of 16 a 4x4 block (whole grid)
    for j in range(4):
        rows, cols = np.divmod(order[4 * j : 4 * j + 4], 4)
        assert rows.max() - rows.min() == 1 and cols.max() - cols.min() == 1


def test_patches_shapes_and_content():
    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    raster = convac.Patches(2, order="raster")(images)
    assert raster.shape == (2, 16, 4)
    assert raster[0, 1].tolist() == images[0, 0, 0:2, 2:4].reshape(-1).tolist()
    quad = convac.Patches(2)(images)
    # quad-tree patch 2 is the patch at grid (row 1, col 0)
    assert quad[0, 2].tolist() == images[0, 0, 2:4, 0:2].reshape(-1).tolist()


@pytest.mark.parametrize("kind", ["identity", "linear", "relu", "gaussian"])
def test_end_to_end_on_images(kind):
    torch.manual_seed(0)
    images = torch.randn(3, 2, 16, 16)
    patch_dim = 2 * 4 * 4
    rep = (convac.Representation(kind) if kind == "identity"
           else convac.Representation(kind, patch_dim, 6))
    channels = patch_dim if kind == "identity" else 6
    net = torch.nn.Sequential(convac.Patches(4), rep, convac.HTNet(16, channels, 3, window=4))
    out = net(images)
    assert out.shape == (3, 1) and torch.all(torch.isfinite(out))
    out.sum().backward()  # gradients flow to every layer
    assert all(p.grad is not None for p in net.parameters())


def test_gaussian_is_similarity():
    rep = convac.Gaussian(3, 2, sigma=1.0)
    with torch.no_grad():
        rep.means.copy_(torch.tensor([[0.0, 0, 0], [1.0, 0, 0]]))
    x = torch.tensor([[[0.0, 0, 0]]])
    torch.testing.assert_close(rep(x), torch.tensor([[[1.0, np.exp(-0.5)]]], dtype=torch.float32))


def test_one_hot_gives_coefficient_entries():
    net = convac.HTNet(4, 3, 2, seed=0).double()
    idx = torch.tensor([[2, 0, 1, 1]])
    feats = convac.OneHot(3)(idx).double()
    torch.testing.assert_close(net(feats)[0, 0], convac.coefficient_tensor(net)[2, 0, 1, 1])


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"images must have shape \(batch, channels, H, W\)"):
        convac.Patches(2)(torch.zeros(8, 8))
    with pytest.raises(ValueError, match=r"images of 6x6 pixels give a 3x3 grid of 2x2 patches "
                                         r".*square grid with a power-of-two side"):
        convac.Patches(2)(torch.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"unknown patch order 'spiral'"):
        convac.Patches(2, order="spiral")
    with pytest.raises(ValueError, match=r"unknown representation 'sigmoid'; expected one of"):
        convac.Representation("sigmoid", 4, 2)
    with pytest.raises(ValueError, match=r"integer indices"):
        convac.OneHot(3)(torch.zeros(2, 4))
