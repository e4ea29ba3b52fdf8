"""ICML 2016 as distributions: exact grid tensors against convac's, exact ranks, the
weight laws, the reachable spaces of shallow networks and their floors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

pytest.importorskip("flint")

from convac import ConvAC, integer_weights_  # noqa: E402
from convac.experiments import rectifier_laws as rl  # noqa: E402
from convac.fit.shallow import additive_floor, fit_shallow  # noqa: E402
from convac.nets.pooling import (  # noqa: E402
    PRODUCT,
    RELU_MAX,
    RELU_SUM,
    pooling_operator,
)
from convac.rank.grid import grid_rank  # noqa: E402
from convac.tensors.grid import grid_tensor  # noqa: E402
from convac.validate import InvalidValueError  # noqa: E402


@pytest.mark.parametrize("law", rl.LAWS)
@pytest.mark.parametrize("operator", rl.OPERATORS)
@pytest.mark.parametrize("shared", [False, True])
def test_exact_grid_tensor_is_convacs_where_that_is_exact(law, operator, shared):
    for n, seed in ((4, 0), (4, 5), (8, 1)):
        net = rl.deep_network(law, operator, n, shared, seed)
        f = rl.templates(law, seed)
        exact = rl.exact_grid_tensor(net, f)
        ref = grid_tensor(net, torch.tensor(f.astype(float).tolist(), dtype=torch.float64))
        assert exact.shape == (2,) * n
        if ref.exact:  # float64 certified exact: every entry must agree
            assert np.array_equal(exact.astype(float), ref.values.numpy())
            assert rl.odd_even_rank(exact) == grid_rank(ref, "odd-even").rank
        else:  # beyond 2^53: agree to float rounding
            np.testing.assert_allclose(exact.astype(float), ref.values.numpy(), rtol=1e-9)


def test_integer_law_reproduces_convacs_rectifier_networks():
    from convac.experiments.rectifier import deep_network

    for op in rl.OPERATORS:
        a = rl.deep_network("int/I", op, 8, False, 3)
        b = deep_network(op, 8, 2, 4, 3)
        for wa, wb in zip(a.weights, b.weights, strict=True):
            assert torch.equal(wa, wb)


def test_templates_are_invertible_and_laws_checked():
    import flint

    for law in rl.LAWS:
        for seed in range(5):
            f = rl.templates(law, seed)
            assert f.shape == (2, 2) and flint.fmpz_mat(f.tolist()).rank() == 2
    assert (rl.templates("int/I", 0) == np.eye(2)).all()
    with pytest.raises(InvalidValueError, match="law"):
        rl.templates("uniform", 0)


def test_gaussian_law_is_gaussian_rounded():
    net = rl.deep_network("gauss/F", "relu-max", 8, False, 0)
    w = torch.cat([p.detach().reshape(-1) for p in net.weights]) / rl.GAUSS_SCALE
    assert (w * rl.GAUSS_SCALE == torch.round(w * rl.GAUSS_SCALE)).all()
    assert abs(float(w.std()) - 1) < 0.25 and w.numel() > 50


@pytest.mark.parametrize("operator", rl.OPERATORS)
def test_exact_grid_tensor_of_any_tree_and_order_is_convacs(operator):
    """The same fold on an irregular tree with arities 2 and 3 and a permuted leaf order."""
    net = integer_weights_(ConvAC(6, 2, tree=((5, (0, 3)), (1, 4, 2)), ranks=(2, 3, 1, 2),
                                  pooling=operator, dtype=torch.float64), -3, 3, seed=1)
    f = rl.templates("int/I", 0)
    exact = rl.exact_grid_tensor(net, f)
    ref = grid_tensor(net, torch.tensor(f.astype(float).tolist(), dtype=torch.float64))
    assert ref.exact and np.array_equal(exact.astype(float), ref.values.numpy())


# a user operator exact on integers: g(a, b) = a + b + a b (associative: (1 + g) is the
# product of the (1 + a)), after the activation x -> x^2; both written with + and *, so
# the same functions run on torch tensors (forward) and on Python integers (exact path)
SQUARE_SPREAD = pooling_operator("square-spread", lambda a, b: a + b + a * b,
                                 lambda x: x * x)


@pytest.mark.parametrize("operator", [*rl.OPERATORS, SQUARE_SPREAD], ids=lambda o: getattr(
    o, "name", o))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_grid_tensor_of_every_operator_is_the_float64_forward(operator, seed):
    """Random integer networks of each operator, the user's included: the exact grid
    tensor equals the float64 forward on every combination of templates (every value is
    below 2^53 at these sizes, so float64 is exact and equality is asserted)."""
    rng = np.random.default_rng(seed)
    # an irregular tree (arities 3 and 2, leaves at two depths) over a permuted order
    net = integer_weights_(ConvAC(4, 2, tree=((0, 2, 3), 1), ranks=2, pooling=operator,
                                  dtype=torch.float64), -2, 2, seed=seed)
    f = rng.integers(-2, 3, (3, 2))
    exact = rl.exact_grid_tensor(net, f.astype(object))
    assert exact.shape == (3,) * 4
    assert max(abs(int(v)) for v in exact.flat) < 2**53
    assert len(set(exact.flat)) > 1  # not a constant: the comparison has content
    points = torch.tensor(list(itertools.product(range(3), repeat=4)))  # (81, 4)
    x = torch.tensor(f, dtype=torch.float64)[points]  # (81, N, M): patch i reads F[t_i]
    with torch.no_grad():
        forward = net(x)[:, 0].numpy().reshape((3,) * 4)
    assert np.array_equal(exact.astype(float), forward)


def test_registered_operators_pool_python_integers_beyond_int64():
    big = np.array([[2**70, -(2**70)]], dtype=object)
    other = np.array([[3, 5]], dtype=object)
    assert PRODUCT.pool_children([big, other]).tolist() == [[3 * 2**70, -5 * 2**70]]
    assert RELU_MAX.pool_children([big, other]).tolist() == [[2**70, 5]]
    assert RELU_SUM.pool_children([big, other]).tolist() == [[2**70 + 3, 5]]


def test_exact_grid_tensor_refuses_what_it_cannot_do():
    net = rl.deep_network("int/I", "relu-max", 4, False, 0)
    with torch.no_grad():
        net.weights[0][0, 0, 0] = 0.5
    with pytest.raises(InvalidValueError, match="integer"):
        rl.exact_grid_tensor(net, rl.templates("int/I", 0))
    # a torch-only function cannot run on Python integers; a halving is not integral
    for op, match in ((pooling_operator("tmax", torch.maximum), "numpy object arrays"),
                      (pooling_operator("mean", lambda a, b: (a + b) / 2, check=False),
                       "not an integer")):
        user = integer_weights_(ConvAC(4, 2, (2, 2), 2, pooling=op, dtype=torch.float64),
                                -3, 3, seed=0)
        with pytest.raises(InvalidValueError, match=match):
            rl.exact_grid_tensor(user, rl.templates("int/I", 0))


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("operator", rl.OPERATORS)
def test_reachable_space_dimension_and_floor(operator, shared):
    basis = rl.reachable_basis(4, 2, shared, operator)
    k = np.linalg.matrix_rank(basis)
    expected = {("relu-sum", False): 5, ("relu-sum", True): 2, ("product", False): 16,
                ("product", True): 5, ("relu-max", False): 16, ("relu-max", True): 3}
    assert k == expected[(operator, shared)]
    assert rl.analytic_floor(4, 2, shared, operator) == pytest.approx(np.sqrt(1 - k / 16))
    # a tensor in the space has floor 0; the floor's mean square over Gaussian targets
    # is 1 - k / M^N (seeded Monte Carlo: the standard error is below 0.005)
    rng = np.random.default_rng(0)
    inside = (basis @ rng.standard_normal(basis.shape[1])).reshape((2,) * 4)
    assert rl.reachable_floor(inside, shared, operator) < 1e-12
    sq = [rl.reachable_floor(rng.standard_normal((2,) * 4), shared, operator) ** 2
          for _ in range(2000)]
    assert np.mean(sq) == pytest.approx(1 - k / 16, abs=0.02)


def test_unshared_relu_sum_floor_is_the_additive_floor():
    g = np.random.default_rng(3).standard_normal((2,) * 5)
    assert rl.reachable_floor(g, False, "relu-sum") == pytest.approx(additive_floor(g))


@pytest.mark.parametrize("operator", rl.OPERATORS)
def test_shared_shallow_fits_never_beat_their_floor(operator):
    target = torch.randn((2,) * 4, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    floor = rl.reachable_floor(target.numpy(), True, operator)
    fit = fit_shallow(target, 16, operator, shared=True, steps=300, n_restarts=1)
    assert fit.rel_error >= floor - 1e-9


def test_grid_has_the_seeds_asked_for():
    exp = rl.experiment()
    configs = [exp.config(i) for i in range(exp.size)]
    ranks = [c for c in configs if c["what"] == "rank"]
    assert len(ranks) == 4 * 3 * 2 * (200 + 200 + 20)
    assert len([c for c in configs if c["what"] == "fit"]) == 3 * 2 * 8
    assert len({exp.key(c) for c in configs}) == exp.size


@pytest.mark.slow
def test_quick_records_summarise():
    records = rl.quick_records()
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records][:3]
    s = rl.summarize(records)
    for r in s["ranks"]:
        assert 0 <= r["min"] <= r["median"] <= r["highest"] <= r["max"]  # 0: every unit dead
        if r["operator"] == "product":  # generic weights: maximal rank (COLT 2016, Thm 1)
            assert r["fraction_below_max"] == 0
    for rec in records:  # no shallow network fits below its reachable space
        if rec["config"]["what"] == "fit":
            assert min(rec["result"]["errors"]) >= rec["result"]["floor"] - 1e-9
    assert {(r["operator"], r["shared"]) for r in s["fits"]} == {
        (op, sh) for op in rl.OPERATORS for sh in (False, True)}
    assert "failed configurations" in rl.format_summary(records)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("operator", rl.OPERATORS + ("relu-avg",))
def test_reachable_dimension_closed_form_is_the_basis_rank(operator, shared):
    """The report's floor uses the closed form of ``k``; the oracle is the rank of the
    spanning columns, at every small size."""
    for n in range(1, 6):
        for m in (2, 3):
            basis = rl.reachable_basis(n, m, shared, operator)
            assert rl.reachable_dimension(n, m, shared, operator) == int(
                np.linalg.matrix_rank(basis)), (n, m)
