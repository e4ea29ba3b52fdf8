"""CP-ALS through tensorly: exactness at the known CP-rank, seeds, loading into a CPNet."""

import numpy as np
import pytest
import tensorly as tl
import torch
from tensorly.decomposition import parafac

import convac
from convac.fit import fit_cp, load_cp_factors

# ALS error estimate precision is about sqrt(eps); the threshold for "exact"
EXACT = 1e-6


def cp_tensor(shape, rank, seed):
    """A tensor built as a CP of ``rank`` random Gaussian components, shape ``shape``."""
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((m, rank)) for m in shape]  # (M_i, R) each
    with tl.backend_context("numpy"):
        return tl.cp_to_tensor((np.ones(rank), factors))


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
@pytest.mark.parametrize("shape, rank", [((3, 3, 3), 2), ((4, 3, 3, 2), 3), ((3, 3, 3, 3), 2),
                                         ((2, 2, 2, 2, 2), 2)])
def test_exact_at_known_cp_rank(shape, rank, backend):
    tensor = cp_tensor(shape, rank, seed=sum(shape) + rank)
    fit = fit_cp(tensor, rank, n_restarts=3, seed=0, backend=backend)
    assert fit.relative_error < EXACT
    assert fit.width == rank and len(fit.factors) == len(shape)
    assert [f.shape for f in fit.factors] == [(m, rank) for m in shape]
    below = fit_cp(tensor, rank - 1, n_restarts=2, seed=0, backend=backend)
    assert below.relative_error > EXACT


def test_relative_error_is_measured_from_the_reconstruction():
    tensor = cp_tensor((3, 4, 3), 3, seed=1)
    fit = fit_cp(tensor, 2, n_restarts=3, seed=5)
    direct = np.linalg.norm(tensor - fit.to_tensor()) / np.linalg.norm(tensor)
    np.testing.assert_allclose(fit.relative_error, direct, rtol=1e-12)
    assert fit.relative_error == min(fit.restart_errors)
    assert fit.restart_errors[fit.restart] == fit.relative_error
    assert fit.tol == 1e-10 and fit.n_iter_max == 500 and fit.backend == "numpy"


def test_restart_zero_is_parafac_with_the_same_seed():
    tensor = np.random.default_rng(3).standard_normal((4, 4, 4))
    fit = fit_cp(tensor, 3, n_restarts=1, seed=7, tol=1e-9, n_iter_max=60)
    cp = parafac(tensor, 3, init="random", random_state=7, tol=1e-9, n_iter_max=60)
    with tl.backend_context("numpy"):
        expected = tl.cp_to_tensor(cp)
    np.testing.assert_allclose(fit.to_tensor(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
def test_same_seed_same_numbers(backend):
    tensor = np.random.default_rng(0).standard_normal((3, 4, 5))
    a = fit_cp(tensor, 3, n_restarts=2, seed=11, backend=backend, n_iter_max=50)
    b = fit_cp(torch.as_tensor(tensor), 3, n_restarts=2, seed=11, backend=backend,
               n_iter_max=50)
    assert a.relative_error == b.relative_error
    assert a.restart_errors == b.restart_errors
    assert a.iterations == b.iterations and a.converged == b.converged
    for fa, fb in zip(a.factors, b.factors, strict=True):
        np.testing.assert_array_equal(fa, fb)


def test_iterations_and_convergence_are_reported():
    tensor = np.random.default_rng(1).standard_normal((4, 4, 4))
    capped = fit_cp(tensor, 3, n_restarts=1, n_iter_max=3, tol=1e-14)
    assert capped.iterations == 3 and not capped.converged
    exact = fit_cp(cp_tensor((3, 3, 3), 1, 2), 1, n_restarts=1, tol=1e-8, n_iter_max=500)
    assert exact.converged and exact.iterations < 500


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_loaded_cpnet_coefficient_tensor_is_the_reconstruction(geometry):
    tensor = cp_tensor((3,) * 4, 2, seed=4)
    fit = fit_cp(tensor, 2, seed=0)
    net = convac.CPNet(4, 3, 2, n_outputs=2, geometry=geometry, seed=1, dtype=torch.float64)
    load_cp_factors(net, fit, output=1)
    got = convac.coefficient_tensor(net, output=1).numpy()
    np.testing.assert_allclose(got, fit.to_tensor(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        convac.coefficient_tensor(fit.to_cpnet()).numpy(), fit.to_tensor(), rtol=1e-12,
        atol=1e-12)
    # and the network's outputs on one-hot inputs are the fitted entries
    np.testing.assert_allclose(convac.coefficient_tensor_by_forward(net, output=1).numpy(),
                               fit.to_tensor(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("width, match", [(0, "width must be an integer >= 1, got 0"),
                                          (-2, "got -2"), (1.5, "got 1.5")])
def test_bad_width(width, match):
    with pytest.raises(ValueError, match=match):
        fit_cp(np.ones((2, 2, 2)), width)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries(bad):
    tensor = np.ones((2, 3, 2))
    tensor[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"finite entries, got .* at index \(1, 2, 0\)"):
        fit_cp(tensor, 1)


@pytest.mark.parametrize("shape", [(5,), ()])
def test_order_below_two(shape):
    with pytest.raises(ValueError, match=r"order >= 2, got shape"):
        fit_cp(np.ones(shape), 1)


def test_bad_options():
    tensor = np.ones((2, 2))
    with pytest.raises(ValueError, match="unknown tensorly backend 'jax'"):
        fit_cp(tensor, 1, backend="jax")
    with pytest.raises(ValueError, match="n_restarts must be an integer >= 1, got 0"):
        fit_cp(tensor, 1, n_restarts=0)
    with pytest.raises(ValueError, match="tol must be a finite float >= 0, got -1"):
        fit_cp(tensor, 1, tol=-1.0)


def test_backend_is_left_unchanged():
    before = tl.get_backend()
    fit_cp(np.ones((2, 2, 2)), 1, backend="pytorch")
    assert tl.get_backend() == before


def test_load_mismatch():
    fit = fit_cp(np.ones((2, 2, 2)), 1)
    with pytest.raises(ValueError, match=r"fit of shape \(2, 2, 2\) and width 1 .* width 2"):
        load_cp_factors(convac.CPNet(3, 2, 2), fit)
    with pytest.raises(ValueError, match="expected a CP network"):
        load_cp_factors(convac.HTNet(4, 2, 1), fit)


def test_warm_start_from_an_exact_cp():
    tensor = cp_tensor((3, 3, 3, 3), 2, seed=8)
    exact = fit_cp(tensor, 2, n_restarts=3, seed=0)
    warm = fit_cp(tensor, 2, n_restarts=1, init=(exact.weights, list(exact.factors)),
                  n_iter_max=5)
    assert warm.relative_error < EXACT
    # the caller's factors are not modified in place
    direct = np.linalg.norm(tensor - exact.to_tensor()) / np.linalg.norm(tensor)
    np.testing.assert_allclose(exact.relative_error, direct, rtol=1e-6)
