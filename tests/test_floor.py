"""Eckart-Young floor: never above an ALS error, brute-force oracle, partitions, paths."""

import itertools
import math

import numpy as np
import pytest
import torch

import convac
from convac.fit.cp import fit_cp
from convac.fit.floor import default_partitions, eckart_young_floor, eckart_young_floors

# Float64 rounding of two relative errors of order one (not a modelling tolerance).
ROUNDING = 1e-12


def case_tensor(kind, shape, seed):
    if kind == "gaussian":
        return np.random.default_rng(seed).standard_normal(shape)
    n, m = len(shape), shape[0]
    windows = convac.ht_windows(n, 2)
    net = convac.ConvAC(n, m, windows, 2, seed=seed, dtype=torch.float64)
    return convac.coefficient_tensor(net).numpy()


CASES = [(kind, shape, seed)
         for kind, shapes in (("gaussian", [(3, 3, 3), (2, 3, 4), (2, 2, 2, 2, 2), (3, 3, 3, 3)]),
                              ("ht", [(2,) * 4, (3,) * 4, (2,) * 8]))
         for shape in shapes for seed in range(3)]


@pytest.mark.parametrize("kind, shape, seed", CASES)
def test_floor_never_exceeds_als_error(kind, shape, seed):
    tensor = case_tensor(kind, shape, seed)
    widths = [1, 2, 3, 5]
    floors = eckart_young_floors(tensor, widths, seed=seed)
    for width, floor in zip(widths, floors, strict=True):
        fit = fit_cp(tensor, width, n_restarts=2, seed=seed, n_iter_max=60, tol=1e-8)
        assert floor.value <= fit.relative_error + ROUNDING, (width, floor, fit.relative_error)
        assert floor.width == width


def brute_force_floor(tensor, width):
    """Max over every partition (up to complement) of the SVD tail, through matricize."""
    n = tensor.ndim
    norm = np.linalg.norm(tensor)
    best = 0.0
    for size in range(1, n // 2 + 1):
        for rows in itertools.combinations(range(n), size):
            sv = convac.singular_values(tensor, list(rows))
            best = max(best, math.sqrt(float(np.sum(sv[width:] ** 2))) / norm)
    return best


@pytest.mark.parametrize("width", [1, 2, 4])
def test_floor_over_all_partitions_matches_brute_force(width):
    tensor = np.random.default_rng(width).standard_normal((2, 3, 2, 3))
    every = [rows for size in (1, 2) for rows in itertools.combinations(range(4), size)]
    got = eckart_young_floor(tensor, width, partitions=every)
    np.testing.assert_allclose(got.value, brute_force_floor(tensor, width), rtol=1e-12)
    sv = convac.singular_values(tensor, got.partition)
    np.testing.assert_allclose(got.absolute, math.sqrt(float(np.sum(sv[width:] ** 2))),
                               rtol=1e-12)
    np.testing.assert_allclose(got.norm, np.linalg.norm(tensor), rtol=1e-12)


def test_floor_of_a_cp_vanishes_at_its_rank_and_not_below():
    rng = np.random.default_rng(0)
    factors = [rng.standard_normal((3, 2)) for _ in range(4)]  # (M, R) each
    tensor = np.einsum("ar,br,cr,dr->abcd", *factors)  # (3, 3, 3, 3), CP-rank 2
    assert eckart_young_floor(tensor, 2).value < 1e-14
    assert eckart_young_floor(tensor, 1).value > 1e-3


def test_network_and_its_tensor_give_the_same_floor():
    net = convac.HTNet(8, 2, 2, seed=3, dtype=torch.float64)
    from_net = eckart_young_floor(net, 3, seed=1)
    from_tensor = eckart_young_floor(convac.coefficient_tensor(net), 3, seed=1)
    np.testing.assert_allclose(from_net.value, from_tensor.value, rtol=1e-12)
    assert from_net.partition == from_tensor.partition and from_net.method == "dense"


def test_ht_floor_is_largest_on_odd_even():
    # odd-even rank of HT(N=8, M=3, r=2) is 2^4 = 16 while left-right rank <= 2
    net = convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64)
    result = eckart_young_floor(net, 2, partitions=["odd-even", "left-right"])
    assert result.partition.rows == (0, 2, 4, 6)
    assert eckart_young_floor(net, 2, partitions=["left-right"]).value < 1e-12


def test_default_partitions():
    parts = default_partitions(8, n_samples=5, seed=3)
    assert parts[0].rows == (0, 2, 4, 6) and parts[1].rows == (0, 1, 2, 3)
    assert len(parts) == 7
    assert all(len(p.rows) == 4 and 0 in p.rows for p in parts)
    assert len({p.rows for p in parts}) == len(parts)
    assert default_partitions(8, 5, 3) == parts
    # only 3 balanced partitions of 4 modes up to complement: all are taken
    assert len(default_partitions(4, n_samples=10)) == 3
    assert default_partitions(2) == (convac.resolve_partition([0], 2),)


def test_structured_path_agrees_with_the_dense_one():
    """Above max_bytes the floor takes convac.rank.structured's singular values."""
    net = convac.HTNet(8, 2, 2, seed=0, dtype=torch.float64)
    got = eckart_young_floor(net, 3, max_bytes=1)
    assert got.method == "structured"
    np.testing.assert_allclose(got.value, eckart_young_floor(net, 3).value, rtol=1e-8,
                               atol=1e-12)


@pytest.mark.parametrize("width", [0, -1, 2.0, True])
def test_bad_width(width):
    with pytest.raises(ValueError, match=r"width must be (an integer|>= 1)"):
        eckart_young_floor(np.ones((2, 2)), width)


def test_bad_tensor():
    with pytest.raises(ValueError, match=r"order >= 2, got shape \(3,\)"):
        eckart_young_floor(np.ones(3), 1)
    bad = np.ones((2, 2))
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="finite entries"):
        eckart_young_floor(bad, 1)
    with pytest.raises(ValueError, match="partition"):
        eckart_young_floor(np.ones((2, 2, 2)), 1, partitions=[[0, 1, 2]])
