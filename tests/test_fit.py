"""CP-ALS through tensorly: exactness at the known CP-rank, seeds, loading into a CPNet."""

import numpy as np
import pytest
import tensorly as tl
import torch
from tensorly.decomposition import parafac

import convac
from convac.fit.cp import fit_cp, load_cp_factors
from convac.fit.solvers import balance

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
    fit = fit_cp(tensor, 3, n_restarts=1, seed=7, tol=1e-9, n_iter_max=60, init="random")
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


@pytest.mark.parametrize("width, match", [(0, "width must be >= 1, got 0"),
                                          (-2, "got -2"),
                                          (1.5, "width must be an integer, got 1.5")])
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
    with pytest.raises(ValueError, match="n_restarts must be >= 1, got 0"):
        fit_cp(tensor, 1, n_restarts=0)
    with pytest.raises(ValueError, match="tol must be >= 0.0, got -1"):
        fit_cp(tensor, 1, tol=-1.0)
    with pytest.raises(ValueError, match="unknown CP method 'newton'; expected one of: 'als'"):
        fit_cp(tensor, 1, method="newton")
    with pytest.raises(ValueError, match="unknown CP init 'ones'"):
        fit_cp(tensor, 1, init="ones")
    with pytest.raises(ValueError, match=r"init factors must have shapes \[\(2, 1\), \(2, 1\)\]"):
        fit_cp(tensor, 1, init=(np.ones(1), [np.ones((2, 2)), np.ones((2, 1))]))


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


# --- solvers -------------------------------------------------------------------------

SOLVER_NAMES = ("als", "als-ls", "gn", "lbfgs", "best")
# iteration limits per solver: one L-BFGS step costs one gradient (N MTTKRPs, an ALS
# sweep's work); preconditioned, it needs 38-224 of them on the 20 teachers below (900-2500
# before its preconditioner), 1300-2300 per start on the wide ones
BUDGET = {"als": 500, "als-ls": 500, "gn": 500, "lbfgs": 3000, "best": 500}
STRICT = 1e-8  # the "exact" for the solvers
HARD_SEEDS = (17, 18)  # seeds where fit_cp (3 random restarts, ALS) missed before


def cp_teacher_tensor(n, m, width, seed):
    net = convac.CPNet(n, m, width=width, seed=seed, dtype=torch.float64)
    return convac.coefficient_tensor(net).numpy()  # (m,) * n


@pytest.mark.parametrize("method", ["als", "als-ls", "gn", "best"])
@pytest.mark.parametrize("seed", HARD_SEEDS)
def test_every_solver_exact_on_hard_cp_teachers(method, seed):
    tensor = cp_teacher_tensor(6, 4, 3, seed)
    fit = fit_cp(tensor, 3, method=method, n_iter_max=BUDGET[method])
    assert fit.relative_error < STRICT, (method, seed, fit.relative_error)
    direct = np.linalg.norm(tensor - fit.to_tensor()) / np.linalg.norm(tensor)
    np.testing.assert_allclose(fit.relative_error, direct, rtol=1e-9, atol=1e-17)


def test_lbfgs_exact_on_one_cp_teacher():
    fit = fit_cp(cp_teacher_tensor(6, 4, 3, 3), 3, method="lbfgs", n_iter_max=3000)
    assert fit.relative_error < STRICT and fit.method == "lbfgs"


@pytest.mark.slow
@pytest.mark.parametrize("method", SOLVER_NAMES)
def test_every_solver_exact_on_twenty_cp_teachers(method):
    """CPNet(6, 4, width=3, seed=s), s = 0..19: every solver under its budget."""
    errors = [fit_cp(cp_teacher_tensor(6, 4, 3, s), 3, method=method,
                     n_iter_max=BUDGET[method]).relative_error for s in range(20)]
    print(f"\n{method}: " + " ".join(f"{e:.1e}" for e in errors))
    assert max(errors) < STRICT, errors


# the wide teachers' budgets: 3000 iterations per start in all (kicks included), 3 starts;
# measured 0.03-10.7 s CPU per fit on one thread, seeds 0-4 (the solvers' measurements)
WIDE_BUDGET = {**BUDGET, "als": 3000, "als-ls": 3000, "lbfgs": 3000}


@pytest.mark.slow
@pytest.mark.parametrize("case", [(10, 2, 8), (6, 4, 16), (10, 2, 16)])
@pytest.mark.parametrize("method", SOLVER_NAMES)
def test_wide_and_long_cp_teachers(method, case):
    """Widths up to 16, N up to 10: teacher components whose norms spread over four
    decades, where plain ALS and L-BFGS (and Gauss-Newton from some starts) stall at
    1e-4..1e-3 with the smallest component missing (the kicks of
    convac.fit.solvers.run_solver find it)."""
    n, m, width = case
    fit = fit_cp(cp_teacher_tensor(n, m, width, 0), width, method=method,
                 n_iter_max=WIDE_BUDGET[method])
    assert fit.relative_error < STRICT, fit.relative_error


def test_best_is_no_worse_than_any_solver_from_the_same_starts():
    """With target 0 "best" runs every solver from every start, so it is at most the
    error of each solver alone (same seeds, same starts, deterministic solvers)."""
    tensor = np.random.default_rng(9).standard_normal((3, 4, 3))
    best = fit_cp(tensor, 2, method="best", target=0.0, n_restarts=2, n_iter_max=60)
    singles = {m: fit_cp(tensor, 2, method=m, target=0.0, n_restarts=2, n_iter_max=60)
               for m in ("als", "als-ls", "gn", "lbfgs")}
    assert len(best.runs) == 8
    assert {r.method for r in best.runs} == set(singles)
    for fit in singles.values():
        assert best.relative_error <= fit.relative_error
    winner = singles[best.method]
    assert best.relative_error == winner.relative_error
    assert best.solver_errors() == pytest.approx(
        {m: f.relative_error for m, f in singles.items()})


def test_best_stops_at_target():
    fit = fit_cp(cp_teacher_tensor(6, 4, 3, 0), 3, method="best", target=1e-12)
    assert fit.relative_error <= 1e-12 and fit.runs[-1].error <= 1e-12
    assert fit.requested == "best" and fit.method == fit.runs[-1].method


def test_gauss_newton_jacobian_against_finite_differences():
    from convac.fit.solvers import cp_jacobian

    rng = np.random.default_rng(2)
    factors = [rng.standard_normal((m, 2)) for m in (2, 3, 2)]
    jac = cp_jacobian(factors)  # (12, 14)
    with tl.backend_context("numpy"):
        def vec(fs):
            return tl.cp_to_tensor((None, fs)).ravel()
        col = 0
        for k, f in enumerate(factors):
            for idx in np.ndindex(f.shape):
                bumped = [g.copy() for g in factors]
                bumped[k][idx] += 1.0  # the CP is affine in each entry: exact difference
                np.testing.assert_allclose(vec(bumped) - vec(factors), jac[:, col],
                                           atol=1e-12)
                col += 1


def test_structured_gramian_is_the_jacobians_gramian():
    from convac.fit.solvers import cp_gramian, cp_jacobian

    rng = np.random.default_rng(3)
    factors = [rng.standard_normal((m, 3)) for m in (2, 4, 3, 2)]
    jac = cp_jacobian(factors)  # (48, 33)
    np.testing.assert_allclose(cp_gramian(factors), jac.T @ jac, rtol=1e-12, atol=1e-12)


def test_width_beyond_the_memory_budget_is_refused_before_allocating():
    from convac.validate import BudgetError

    with pytest.raises(BudgetError, match="CP factors"):
        fit_cp(np.ones((3, 3, 3)), 10**9)
    with pytest.raises(BudgetError, match="Khatri-Rao"):
        fit_cp(np.ones((4,) * 10), 2000, max_bytes=2**20)


def test_a_kick_merges_a_split_component_and_adds_the_missing_one():
    """T = c + d; the fit holds c split in two (0.6 c, 0.4 c) and lacks d: the kick merges
    the pair and puts the residual d, an exact rank one, in the freed column."""
    from convac.fit.solvers import redundancy_order, replace_component

    rng = np.random.default_rng(4)
    c = [rng.standard_normal(m) for m in (3, 4, 2)]
    d = [rng.standard_normal(m) for m in (3, 4, 2)]
    with tl.backend_context("numpy"):
        tensor = tl.cp_to_tensor((None, [np.stack([u, v], 1) for u, v in zip(c, d, strict=True)]))
        split = [np.stack([u, u], 1) for u in c]  # (M_k, 2) each
        split[0] = split[0] * np.array([0.6, 0.4])
        assert list(redundancy_order(split)) == [1, 0]
        kicked = replace_component(tensor, split)
        np.testing.assert_allclose(tl.cp_to_tensor((None, kicked)), tensor, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["als", "als-ls", "gn", "lbfgs"])
def test_kicks_find_two_tiny_teacher_components(method):
    """CPNet(10, 2, width=16, seed=3) has two components of relative norm 3.5e-5 and 5.1e-5:
    kicks that all restarted from the best point found one at most (3.3e-5, 5.8e-5 left);
    kicks from where each run stalls find both."""
    fit = fit_cp(cp_teacher_tensor(10, 2, 16, 3), 16, method=method,
                 n_iter_max=WIDE_BUDGET[method])
    assert fit.relative_error < STRICT, fit.relative_error


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
def test_mttkrp_and_reconstruction_match_tensorly(backend):
    """convac's Khatri-Rao kernels (the ALS sweeps' inner loop) against tensorly's,
    in both backends, on a tensor with unequal modes."""
    import tensorly as tl
    from tensorly.cp_tensor import unfolding_dot_khatri_rao

    from convac.fit.solvers import _mttkrp, _reconstruct

    rng = np.random.default_rng(3)
    shape, width = (2, 3, 4, 5), 3
    conv = torch.from_numpy if backend == "pytorch" else np.asarray
    tensor = conv(rng.normal(size=shape))
    factors = [conv(rng.normal(size=(m, width))) for m in shape]
    with tl.backend_context(backend):
        for k in range(len(shape)):
            ref = unfolding_dot_khatri_rao(tensor, (None, factors), k)
            np.testing.assert_allclose(np.asarray(_mttkrp(tensor, factors, k)),
                                       np.asarray(ref), rtol=1e-12, atol=1e-12)
        ref = tl.cp_to_tensor((None, factors))
    np.testing.assert_allclose(np.asarray(_reconstruct(factors)), np.asarray(ref),
                               rtol=1e-12, atol=1e-12)


def test_rank_one_is_a_fixed_point_of_power_iteration():
    """``rank_one`` recovers a rank-one tensor exactly, and on a generic tensor its
    vectors are a fixed point of one more sweep of power iteration."""
    from convac.fit.solvers import _mttkrp, rank_one

    rng = np.random.default_rng(4)
    vecs = [rng.normal(size=m) for m in (3, 4, 5)]
    exact = np.einsum("i,j,k->ijk", *vecs)
    sigma, found = rank_one(exact)
    np.testing.assert_allclose(sigma * np.einsum("i,j,k->ijk", *found), exact, atol=1e-12)
    tensor = rng.normal(size=(3, 3, 3, 3))
    sigma, found = rank_one(tensor, n_iter=500)
    for k in range(4):
        v = _mttkrp(tensor, [u[:, None] for u in found], k)[:, 0]
        assert np.max(np.abs(v / np.linalg.norm(v) - found[k])) <= 1e-12
    assert sigma == pytest.approx(np.linalg.norm(v), rel=1e-12)


def test_rank_one_refuses_a_vector():
    from convac.fit.solvers import rank_one

    with pytest.raises(ValueError, match=r"order >= 2, got shape \(3,\)"):
        rank_one(np.ones(3))


def _count_kicks(monkeypatch):
    import convac.fit.solvers as solvers

    kicks = []
    original = solvers.replace_component

    def spy(tensor, factors):
        kicks.append(1)
        return original(tensor, factors)

    monkeypatch.setattr(solvers, "replace_component", spy)
    return kicks


def test_no_kick_at_the_eckart_young_floor(monkeypatch):
    """A matrix: the best width-K CP is the truncated SVD, whose error is the floor; ALS
    stalls there and no kick is spent."""
    from convac.fit.floor import eckart_young_floor

    kicks = _count_kicks(monkeypatch)
    mat = np.random.default_rng(0).standard_normal((9, 7))
    fit = fit_cp(mat, 2, method="als", n_restarts=3, n_iter_max=500)
    floor = eckart_young_floor(mat, 2).value
    assert fit.relative_error == pytest.approx(floor, rel=1e-6)
    assert not kicks


def test_a_futile_kick_is_not_repeated(monkeypatch):
    """Width 2 on the HT teacher of the benchmarks (rank > 2, floor not reached): every
    start stalls at the same local minimum; one kick fails there and no other start kicks
    from it, and the fit is as good as with every kick spent (8 per start)."""
    import convac.fit.solvers as solvers

    kicks = _count_kicks(monkeypatch)
    teacher = convac.coefficient_tensor(convac.HTNet(8, 3, 2, seed=0, dtype=torch.float64))
    fit = fit_cp(teacher.numpy(), 2, method="als", n_restarts=3, n_iter_max=500)
    spent = len(kicks)
    monkeypatch.setattr(solvers, "KICK_GAIN", -np.inf)  # every kick "pays": all are spent
    monkeypatch.setattr(solvers, "_kick_futile", lambda *args: False)
    every = fit_cp(teacher.numpy(), 2, method="als", n_restarts=3, n_iter_max=500)
    assert spent <= 3 < len(kicks) - spent
    assert fit.relative_error <= every.relative_error * (1 + 1e-9)


@pytest.mark.parametrize("drop_zero", [False, True])
def test_balance_keeps_the_cp_and_equalizes_the_norms(drop_zero):
    rng = np.random.default_rng(7)
    factors = [rng.standard_normal((m, 3)) * s for m, s in ((2, 1e3), (3, 1.0), (4, 1e-2))]
    factors[1][:, 2] = 0.0  # component 2 is zero
    out = balance(factors, drop_zero=drop_zero)
    full = tl.cp_to_tensor((np.ones(3), factors))
    np.testing.assert_allclose(tl.cp_to_tensor((np.ones(3), out)), full, rtol=1e-12,
                               atol=1e-12 * np.abs(full).max())
    norms = np.stack([np.linalg.norm(f, axis=0) for f in out])  # (3, 3)
    np.testing.assert_allclose(norms[:, :2], norms[:1, :2].repeat(3, 0), rtol=1e-12)
    assert (norms[:, 2] == 0).all() == drop_zero
