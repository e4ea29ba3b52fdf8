"""Coefficient and grid tensors against the one-hot forward pass (the brute-force oracle)."""

import itertools

import numpy as np
import pytest
import tensorly as tl
import torch
from oracles import assert_close, make_net

import convac


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_coefficient_tensor_equals_one_hot_forward(net_case, shared, geometry, seed):
    net = make_net(net_case, seed, shared, geometry)
    for y in range(net.n_outputs):
        expected = convac.coefficient_tensor_by_forward(net, y)
        actual = convac.coefficient_tensor(net, y)
        assert actual.shape == (net.n_channels,) * net.n_patches
        assert actual.dtype == torch.float64
        assert_close(actual, expected)


def test_custom_geometry_moves_modes_with_patches():
    order = [3, 1, 0, 2]
    net = convac.HTNet(4, 3, 2, geometry=order, seed=5).double()
    plain = convac.HTNet(4, 3, 2, seed=5).double()
    a_perm = convac.coefficient_tensor(net)
    a_plain = convac.coefficient_tensor(plain)
    # tree position p reads patch order[p]: mode order[p] of a_perm is mode p of a_plain
    inverse = np.argsort(order)
    assert_close(a_perm, a_plain.permute(*inverse.tolist()))
    assert_close(a_perm, convac.coefficient_tensor_by_forward(net))


def test_float32_network_gives_float64_tensor():
    net = convac.HTNet(4, 3, 2, seed=0)  # float32 parameters
    a = convac.coefficient_tensor(net)
    assert a.dtype == torch.float64
    assert_close(a, convac.coefficient_tensor_by_forward(net), torch.float32)


def test_output_contracts_with_features():
    """h_y(X) = <A^y, f(x_1) ⊗ .. ⊗ f(x_N)> on random (not one-hot) features."""
    net = convac.ConvAC(6, 3, (3, 2), (2, 3), n_outputs=2, geometry="mirror", seed=3).double()
    feats = torch.randn(5, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = net(feats)
    for y in range(2):
        a = convac.coefficient_tensor(net, y)
        expected = torch.stack([
            torch.einsum("abcdef,a,b,c,d,e,f->", a, *f) for f in feats  # () per sample
        ])
        assert_close(out[:, y], expected)


@pytest.mark.parametrize("n_templates", [3, 4])
def test_grid_tensor_is_forward_on_template_grid_and_mode_products(n_templates):
    gen = torch.Generator().manual_seed(1)
    net = convac.HTNet(4, 3, (2, 2), shared=True, geometry="mirror", seed=2).double()
    templates = torch.randn(n_templates, 3, dtype=torch.float64, generator=gen)
    grid = convac.grid_tensor(net, templates).values
    assert grid.shape == (n_templates,) * 4
    # oracle 1: forward pass on every combination of templates
    combos = list(itertools.product(range(n_templates), repeat=4))
    feats = templates[torch.tensor(combos)]  # (T^4, 4, 3)
    assert_close(grid, net(feats)[:, 0].reshape((n_templates,) * 4))
    # oracle 2: A x_1 F .. x_N F with tensorly
    a = convac.coefficient_tensor(net).numpy()
    expected = tl.tenalg.multi_mode_dot(a, [templates.numpy()] * 4)
    assert_close(grid, torch.as_tensor(expected))


def test_grid_tensor_keeps_ranks_for_invertible_templates():
    net = convac.HTNet(8, 3, 2, seed=4).double()
    f = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    grid = convac.grid_tensor(net, f).values
    for part in ("odd-even", "left-right", [0, 3, 5]):
        assert (convac.matricization_rank(grid, part).rank
                == convac.matricization_rank(net, part).rank)


def test_memory_budget_error_names_size_and_budget():
    net = convac.HTNet(16, 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"3\^16 = 4\.3\d*e\+07 entries.*max_bytes=1000000"):
        convac.coefficient_tensor(net, max_bytes=10**6)
    with pytest.raises(ValueError, match=r"grid tensor would hold 5\^16"):
        convac.grid_tensor(net, np.ones((5, 3)), max_bytes=10**6)


def test_bad_output_and_templates():
    net = convac.HTNet(4, 3, 2, n_outputs=2, seed=0)
    with pytest.raises(ValueError, match=r"output must be in 0\.\.1, got 2"):
        convac.coefficient_tensor(net, 2)
    with pytest.raises(ValueError, match=r"n_channels=3\), got \(4, 2\)"):
        convac.grid_tensor(net, np.ones((4, 2)))
    with pytest.raises(ValueError, match="expected a convac.ConvAC network, got Linear"):
        convac.coefficient_tensor(torch.nn.Linear(2, 2))
