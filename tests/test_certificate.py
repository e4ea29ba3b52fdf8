"""Haeffele-Vidal certificate: the matrix case against singular value soft-thresholding,
growth stopping at the rank of an orthogonally decomposable CP teacher, and a stationary
point that is not optimal being refused."""

import numpy as np
import pytest

from convac.fit.certificate import certify, fit_regularized, grow_cp, polar_bounds
from convac.fit.cp import fit_cp

ROUND = 1e-9  # rounding of the SVDs and of a first-order point reached by L-BFGS


def svt(matrix, lam):
    """Solution of ``min 0.5 ||T - X||^2 + lam ||X||_*``: soft-thresholded singular values."""
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    return (u * np.maximum(s - lam, 0.0)) @ vt, s


def odeco(shape_m, weights, seed):
    """``sum_r w_r a_r ⊗ b_r ⊗ c_r`` with orthonormal columns; factors returned too."""
    rng = np.random.default_rng(seed)
    k = len(weights)
    facs = [np.linalg.qr(rng.standard_normal((shape_m, shape_m)))[0][:, :k] for _ in range(3)]
    return np.einsum("r,ir,jr,kr->ijk", np.asarray(weights, float), *facs), facs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matrix_case_agrees_with_the_nuclear_norm_solution(seed):
    """N = 2: Omega is the nuclear norm, the polar the spectral norm (bounds coincide)."""
    t = np.random.default_rng(seed).standard_normal((6, 5))
    s = np.linalg.svd(t, compute_uv=False)
    lam = float((s[1] + s[2]) / 2)
    growth = grow_cp(t, lam)
    x, _ = svt(t, lam)
    assert growth.certificate.status == "certified"
    assert growth.width == 2  # two singular values above lam
    np.testing.assert_allclose(growth.fit.to_tensor(), x, atol=1e-8 * np.linalg.norm(x))
    for step in growth.path:
        assert step.upper == pytest.approx(step.lower, rel=1e-10)  # exact for matrices
        assert step.gap >= -ROUND
    assert [step.status for step in growth.path] == ["not optimal"] * 2 + ["certified"]
    assert growth.path[-1].gap < ROUND
    # the objective of the SVT solution is the global minimum
    optimum = 0.5 * np.linalg.norm(t - x) ** 2 + lam * np.sum(np.maximum(s - lam, 0))
    assert growth.fit.objective == pytest.approx(optimum, rel=1e-10)


def test_growth_stops_at_the_rank_of_an_odeco_teacher():
    """For an orthogonally decomposable tensor the regularized solution soft-thresholds
    the weights (its polar and every matricization's spectral norm are the largest
    weight), so growth stops at the number of weights above lam."""
    weights, lam = [5.0, 3.0, 2.0], 0.5
    t, facs = odeco(4, weights, seed=3)
    growth = grow_cp(t, lam)
    assert [step.width for step in growth.path] == [0, 1, 2, 3]
    assert growth.certificate.status == "certified"
    expected = np.einsum("r,ir,jr,kr->ijk", np.array(weights) - lam, *facs)
    np.testing.assert_allclose(growth.fit.to_tensor(), expected, atol=1e-8)
    # polar of T / lam at width 0 is the largest weight over lam
    assert growth.path[0].upper == pytest.approx(weights[0] / lam, rel=1e-10)
    assert growth.path[-1].gap < ROUND


def test_refuses_a_stationary_point_that_is_not_optimal():
    """Width 1 holding the second odeco component is a first-order point (a local
    minimum of the width-1 problem) but not the optimum: the certificate says so and
    returns the first component as the direction of descent."""
    weights, lam = [5.0, 3.0], 0.5
    t, facs = odeco(4, weights, seed=4)
    c = (weights[1] - lam) ** (1 / 3)
    stuck = [c * f[:, 1:2] for f in facs]
    cert = certify(stuck, t, lam)
    assert cert.status == "not optimal"
    assert cert.alignment == pytest.approx(1.0, rel=1e-12)  # it is a first-order point
    assert cert.lower == pytest.approx(weights[0] / lam, rel=1e-10)
    for d, f in zip(cert.direction, facs, strict=True):
        assert abs(d @ f[:, 0]) == pytest.approx(1.0, abs=1e-10)
    assert cert.gap > 1.0
    # and the regularized fit started there moves away once the direction is added
    grown = grow_cp(t, lam)
    assert grown.fit.objective < cert.objective - 1.0


def test_polar_bounds_bracket_the_spectral_norm():
    """Lower <= upper always; for a rank-one tensor both equal its norm."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 4, 2, 3))
    upper, _, lower, direction = polar_bounds(z)
    assert lower <= upper + ROUND
    d = np.einsum("i,j,k,l->ijkl", *direction)
    assert np.vdot(z, d) == pytest.approx(lower, rel=1e-12)
    vecs = [rng.standard_normal(m) for m in (3, 4, 2)]
    one = np.einsum("i,j,k->ijk", *vecs)
    up, _, lo, _ = polar_bounds(one)
    assert up == pytest.approx(np.linalg.norm(one), rel=1e-12)
    assert lo == pytest.approx(np.linalg.norm(one), rel=1e-12)


def test_regularized_fit_is_stationary_and_balanced():
    t, _ = odeco(3, [2.0, 1.0], seed=6)
    fit = fit_regularized(t, 2, 0.3, seed=1)
    assert fit.gradient_norm < 1e-6
    norms = np.stack([np.linalg.norm(f, axis=0) for f in fit.factors])  # (N, K)
    np.testing.assert_allclose(norms, norms[:1].repeat(3, axis=0), rtol=1e-12)
    cert = certify(fit, t, 0.3)
    assert cert.status == "certified" and cert.gap < 1e-8


def test_certify_accepts_a_cp_fit():
    t, _ = odeco(3, [2.0], seed=7)
    cert = certify(fit_cp(t, 1), t, 0.1)
    # the unregularized exact fit has a zero residual (polar 0) but is not a first-order
    # point of the regularized objective: it overshoots by lam along its component
    assert cert.upper < 1e-12 and cert.status == "not stationary"
    # true excess: F = lam * 2 here, min F = 0.5 lam^2 + lam (2 - lam) (soft threshold)
    excess = 0.1 * 2.0 - (0.5 * 0.1**2 + 0.1 * 1.9)
    assert cert.objective == pytest.approx(0.2, rel=1e-9)
    assert cert.gap >= excess - ROUND


@pytest.mark.parametrize("kwargs, match", [
    ({"lam": 0.0}, "lam must be > 0.0"), ({"lam": float("nan")}, "lam must be finite"),
    ({"rtol": 2.0}, "rtol must be <= 1.0")])
def test_bad_arguments(kwargs, match):
    t = np.ones((2, 2))
    args = {"lam": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        certify([np.ones((2, 1)), np.ones((2, 1))], t, **args)
