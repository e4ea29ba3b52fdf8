"""Grid tensors of generalized networks, their exact and dense ranks, the shallow-width
bounds as theorems on random networks, fits, measurements, report and CLI."""

import itertools
import json

import numpy as np
import pytest
import torch
from oracles import assert_close, fraction_rank
from test_pooling import brute_force

import convac
from convac.cli import main
from convac.experiments.rectifier import (
    deep_network,
    incompleteness,
    network_rank,
    rank_vs_n,
    shallow_match,
    universality,
)
from convac.fit.shallow import additive_floor, fit_shallow
from convac.nets.pooling import pooling_operator
from convac.rank.exact import integer_weights_
from convac.rank.grid import grid_rank, shallow_rank_per_unit, shallow_width_lower_bound
from convac.tensors.grid import (
    EXACT_LIMIT,
    exact_bound,
    grid_tensor,
    identity_templates,
    neuron_templates,
)
from convac.tensors.matricization import matricize, resolve_partition

OPS = ["product", "relu-max", "relu-sum"]


def grid_by_brute_force(net, features):
    """``G[t] = h(F[t_1], .., F[t_N])`` point by point through the Python-loop oracle."""
    t, n = features.shape[0], net.n_patches
    points = list(itertools.product(range(t), repeat=n))
    x = features[torch.tensor(points)]  # (T^N, N, M)
    return brute_force(net, x)[:, 0].reshape((t,) * n)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", [("ht", 4, 2, 2), ("cp", 3, 2, 3), ("mixed", 6, 2, 2)])
def test_grid_tensor_matches_brute_force(op, shape):
    kind, n, m, r = shape
    if kind == "ht":
        net = convac.HTNet(n, m, r, seed=1, dtype=torch.float64, pooling=op)
    elif kind == "cp":
        net = convac.CPNet(n, m, r, seed=1, dtype=torch.float64, pooling=op)
    else:
        net = convac.ConvAC(n, m, (2, 3), (r, r), seed=1, dtype=torch.float64, pooling=op,
                            geometry=[5, 0, 3, 1, 4, 2])
    f = torch.randn(3, m, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grid = grid_tensor(net, f)
    assert grid.values.shape == (3,) * n and not grid.exact and grid.pooling == op
    assert_close(grid.values, grid_by_brute_force(net, f))
    # batching changes only the summation order: other batch sizes may dispatch other kernels
    assert_close(grid_tensor(net, f, batch_size=1).values, grid.values)


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_product_grid_tensor_matches_weight_contraction(geometry):
    """For product pooling, the forward-built grid equals convac.tensors.grid_tensor (built
    from the weights by tree contraction): two independent constructions."""
    net = convac.HTNet(8, 2, 3, seed=2, dtype=torch.float64, geometry=geometry)
    f = torch.tensor([[1.0, 0.5], [-0.3, 2.0], [0.7, 0.7]], dtype=torch.float64)
    assert_close(grid_tensor(net, f).values, convac.grid_tensor(net, f))
    assert_close(grid_tensor(net).values, convac.coefficient_tensor(net))


@pytest.mark.parametrize("op", ["relu-max", "relu-sum"])
@pytest.mark.parametrize("seed", range(4))
def test_exact_rank_matches_fractions_and_dense_svd(op, seed):
    net = deep_network(op, 4, 3, 3, seed)  # integer weights, F = I
    grid = grid_tensor(net)
    assert grid.exact and grid.bound < EXACT_LIMIT
    assert float(grid.values.abs().max()) <= grid.bound  # the bound is a bound
    assert torch.equal(grid.values, torch.round(grid.values))
    exact = grid_rank(grid, "odd-even")
    dense = grid_rank(grid, "odd-even", method="dense")
    mat = matricize(grid.values, "odd-even")
    assert exact.method == "exact" and exact.rtol is None
    assert exact.rank == fraction_rank(mat.numpy())
    assert not dense.ambiguous and dense.rank == exact.rank


def test_seeded_relu_max_is_submaximal_where_product_is_maximal():
    """Seed 0 (N=4, M=2, r=4, integer weights -100..100): the ReLU+max network's grid
    tensor has odd-even rank below M^(N/2) = 4 -- certified by an elimination over
    Fractions on the brute-force grid -- while the product network of the same weights
    reaches 4 = min(r0, M)^(N/2), the maximum."""
    relu = deep_network("relu-max", 4, 2, 4, seed=0)
    prod = deep_network("product", 4, 2, 4, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(relu.weights, prod.weights, strict=True))
    f = identity_templates(2)
    relu_mat = matricize(grid_by_brute_force(relu, f), "odd-even")
    prod_mat = matricize(grid_by_brute_force(prod, f), "odd-even")
    assert fraction_rank(relu_mat.numpy()) < 4
    assert fraction_rank(prod_mat.numpy()) == 4
    assert grid_rank(grid_tensor(relu)).rank == fraction_rank(relu_mat.numpy())
    assert grid_rank(grid_tensor(prod)).rank == 4


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("partition", ["odd-even", "left-right", [0, 3]])
def test_shallow_rank_bounds_hold_on_random_shallow_networks(seed, partition):
    """Theorems behind the width bounds: a shallow network of width Z has grid rank <= Z
    (product), <= Z * T * min(|I|, |J|) (ReLU+max), <= 2 whatever Z (ReLU+sum: additive,
    additive floor 0)."""
    n, m, z = 4, 3, 2
    part = resolve_partition(partition, n)
    for op in OPS:
        net = integer_weights_(convac.CPNet(n, m, z, dtype=torch.float64, pooling=op),
                               seed=seed)
        grid = grid_tensor(net)
        rank = grid_rank(grid, partition).rank
        if op == "relu-sum":
            assert rank <= 2
            assert additive_floor(grid.values) < 1e-12
            assert shallow_width_lower_bound(rank, op, partition, n, m) in (0, 1)
        else:
            per_unit = shallow_rank_per_unit(op, partition, n, m)
            assert per_unit == (1 if op == "product" else m * min(len(part.rows),
                                                                   len(part.cols)))
            assert rank <= z * per_unit
            assert shallow_width_lower_bound(rank, op, partition, n, m) <= z


@pytest.mark.parametrize("seed", range(3))
def test_deep_relu_sum_is_additive_across_the_top_window(seed):
    """Average (sum) pooling at the top adds one function of each half: the left-right
    rank of a ReLU+sum HT network is <= 2 at any width, so deep ReLU+average networks are
    not universal either (the 2x2 grid of any M >= 3 tensor of left-right rank 3 escapes)."""
    net = deep_network("relu-sum", 8, 3, 4, seed)
    grid = grid_tensor(net)
    assert grid.exact
    assert grid_rank(grid, "left-right").rank <= 2
    assert grid_rank(grid, "odd-even").rank > 2  # not additive across every partition


def test_width_bound_for_relu_sum_above_rank_two_is_none():
    assert shallow_width_lower_bound(3, "relu-sum", "odd-even", 4, 2) is None
    assert shallow_width_lower_bound(16, "relu-max", "odd-even", 8, 2) == 2
    assert shallow_width_lower_bound(16, "product", "odd-even", 8, 2) == 16
    assert shallow_rank_per_unit("logaddexp", "odd-even", 4, 2) is None


def test_additive_floor_against_least_squares():
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(3, 2, 4, generator=gen, dtype=torch.float64)
    basis = [torch.ones_like(g)]
    for i, t in enumerate(g.shape):
        for k in range(t):
            e = torch.zeros(t, dtype=torch.float64)
            e[k] = 1.0
            shape = [1] * g.ndim
            shape[i] = t
            basis.append(e.reshape(shape).expand_as(g))
    a = torch.stack([b.reshape(-1) for b in basis], dim=1)  # (entries, basis)
    coef = torch.linalg.lstsq(a, g.reshape(-1, 1), driver="gelsd").solution
    residual = torch.linalg.vector_norm(a @ coef - g.reshape(-1, 1)) / torch.linalg.vector_norm(g)
    assert additive_floor(g) == pytest.approx(float(residual), rel=1e-10)
    additive = g.mean(dim=(1, 2), keepdim=True) + g.mean(dim=(0, 2), keepdim=True)
    assert additive_floor(additive) < 1e-12
    assert additive_floor(torch.zeros(2, 2)) == 0.0


def test_exactness_certificate():
    f = identity_templates(2)
    float_net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64, pooling="relu-max")
    assert not grid_tensor(float_net).exact and grid_tensor(float_net).bound is None
    big = deep_network("product", 16, 2, 4, seed=0)  # products outgrow 2^53
    bound = exact_bound(big, f)
    assert bound is not None and bound >= EXACT_LIMIT
    user = convac.HTNet(4, 2, 2, pooling=pooling_operator("m", torch.maximum))
    integer_weights_(user)
    assert exact_bound(user, f) is None  # growth unknown: no certificate
    # a product network whose grid is not certified falls back to the structured exact rank
    res = network_rank(deep_network("product", 8, 2, 4, seed=0))
    assert res.method == "exact" and res.rank == 16 and "GF(" in res.certified


def test_grid_rank_and_grid_tensor_refuse_bad_input():
    net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"features must have shape \(n_templates >= 1, "):
        grid_tensor(net, torch.ones(3, 3))
    with pytest.raises(ValueError, match="memory budget"):
        grid_tensor(convac.HTNet(16, 2, 2), torch.eye(2).repeat(8, 1), max_bytes=1024)
    with pytest.raises(ValueError, match="method='exact' needs"):
        grid_rank(grid_tensor(net), method="exact")
    with pytest.raises(ValueError, match="unknown grid rank method 'svd'"):
        grid_rank(torch.ones(2, 2), method="svd")
    with pytest.raises(ValueError, match="order >= 2"):
        grid_rank(torch.ones(3))
    with pytest.raises(TypeError, match="expected a convac.ConvAC"):
        grid_tensor("net")
    with pytest.raises(ValueError, match="expected templates"):
        neuron_templates(np.ones((3, 2)), np.ones((2, 3)), np.ones(2))


def test_neuron_templates_are_relu_neurons_with_bias():
    x = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0]])
    w = np.array([[1.0, 1.0], [1.0, -1.0]])
    b = np.array([-1.0, 0.5])
    f = neuron_templates(x, w, b)
    expected = np.maximum(0.0, x @ w.T + b)
    assert np.array_equal(f.numpy(), expected)


def test_fit_shallow_product_respects_floor_and_fits_a_cp_tensor():
    """Width 1 cannot beat the Eckart-Young floor (a theorem); width 2 represents the
    width-2 CP target exactly and Adam with least-squares output weights gets within 2%
    in 400 steps (a training-quality threshold, measured 0.0074)."""
    target = convac.coefficient_tensor(convac.CPNet(3, 2, 2, seed=5, dtype=torch.float64))
    one = fit_shallow(target, 1, "product", steps=100, n_restarts=1, seed=0)
    assert one.rel_error >= convac.eckart_young_floor(target, 1).value * (1 - 1e-9)
    fit = fit_shallow(target, 2, "product", steps=400, n_restarts=2, seed=0)
    assert fit.rel_error < 0.02 and fit.rel_error < one.rel_error / 10
    assert fit.pooling == "product" and len(fit.errors) == 2


def test_fit_shallow_relu_sum_never_beats_the_additive_floor():
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(2, 2, 2, generator=gen, dtype=torch.float64)
    floor = additive_floor(target)
    for width in (1, 6):
        fit = fit_shallow(target, width, "relu-sum", steps=200, n_restarts=1)
        assert fit.rel_error >= floor * (1 - 1e-9)
    assert floor > 0.1


def test_fit_shallow_refuses_bad_input():
    with pytest.raises(ValueError, match=r"shape \(T,\) \* N"):
        fit_shallow(torch.ones(2, 3), 2)
    with pytest.raises(ValueError, match="width must be >= 1"):
        fit_shallow(torch.ones(2, 2), 0)


def test_rank_vs_n_product_meets_theorem_and_incompleteness_fractions():
    rows = rank_vs_n((2, 4, 8), operators=("product",))
    assert [r["rank"] for r in rows] == [r["theorem"] for r in rows] == [2, 4, 16]
    inc = incompleteness((4,), n_seeds=8, operators=("product", "relu-max"))
    prod, relu = inc
    assert prod["below_max"] == 0 and prod["fraction_below_max"] == 0.0
    assert relu["below_max"] > 0 and relu["exact"] == 8  # seed 0 alone is sub-maximal
    assert sum(relu["histogram"].values()) == 8 and "uniform" in relu["distribution"]


@pytest.mark.slow
def test_relu_max_shallow_networks_are_universal_relu_sum_not():
    rows = {r["operator"]: r for r in universality(n_patches=2, n_channels=3, widths=(16,),
                                                   steps=600, n_restarts=2)}
    assert rows["relu-max"]["errors"][0] < 1e-6
    assert rows["product"]["errors"][0] < 1e-6
    assert rows["relu-sum"]["errors"][0] >= rows["relu-sum"]["floor"] * (1 - 1e-9) > 0.1


def test_cli_writes_report_and_json(tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["rectifier", "--sizes", "2", "4", "--n-seeds", "3", "--widths", "1", "2",
                 "--steps", "3", "--n-restarts", "1", "--match-n", "4", "--out", str(out),
                 "--json", str(out / "m.json")])
    assert code == 0
    text = capsys.readouterr().out
    assert "(a) odd-even grid-tensor rank" in text and "relu-max" in text
    page = (out / "rectifier.html").read_text()
    assert "Agreement with the paper" in page and "not universal" in page
    for png in ("rank_vs_n", "incompleteness", "match", "universality"):
        assert (out / f"rectifier_{png}.png").stat().st_size > 1000
    data = json.loads((out / "m.json").read_text())
    assert {r["operator"] for r in data["rank_vs_n"]} == set(OPS)
    assert data["incompleteness"][0]["n_seeds"] == 3


def test_max_gib_sets_the_budget(capsys):
    """The command's budget option reaches every grid tensor, and each refused cell's
    advice names that option (not the Python argument); a budget that fits lets the same
    run through."""
    run = ["rectifier", "--sizes", "4", "--n-seeds", "2", "--widths", "1", "--steps", "2",
           "--n-restarts", "1", "--match-n", "4", "--quiet"]
    assert main([*run, "--max-gib", "1e-8"]) == 1
    err = capsys.readouterr().err
    assert "budget of 9.31e-09 GiB; raise --max-gib to at least 1.19e-07 GiB" in err, err
    assert "max_bytes" not in err
    assert main([*run, "--max-gib", "1e-5"]) == 0
    assert "(a) odd-even grid-tensor rank" in capsys.readouterr().out


# 64 bytes: an N=2 grid tensor (M=2: 4 float64 entries, 32 bytes) fits; N=4 (128 bytes) not
SMALL = 64
NEEDS_N4 = "refused: needs 1.19e-07 GiB"


def test_measurements_refuse_a_cell_over_their_budget_and_measure_the_others():
    """A cell whose dense tensor exceeds ``max_bytes`` is refused before building it,
    marked in its row with the memory it needs; the cells that fit are measured."""
    rows = rank_vs_n([2, 4], operators=["relu-max"], max_bytes=SMALL)
    assert [r["refused"] for r in rows] == [None, NEEDS_N4]
    assert rows[0]["rank"] == network_rank(deep_network("relu-max", 2, 2, 4, 0)).rank
    assert rows[1]["rank"] is None and rows[1]["theorem"] == 4
    assert rows[1]["needed_bytes"] == 128 and rows[1]["budget_bytes"] == SMALL
    assert "grid tensor" in rows[1]["what"]
    rows = incompleteness([2, 4], n_seeds=2, operators=["relu-max"], max_bytes=SMALL)
    assert [r["refused"] for r in rows] == [None, NEEDS_N4]
    assert rows[0]["below_max"] is not None and rows[1]["histogram"] is None
    rows = shallow_match(n_patches=4, n_seeds=1, widths=(1,), steps=1, max_bytes=SMALL)
    assert [(r["which"], r["refused"]) for r in rows] == [
        (w, NEEDS_N4) for _ in OPS for w in ("lowest rank", "highest rank")]
    assert all(r["errors"] is None and r["rank"] is None for r in rows)
    rows = universality(n_patches=4, widths=(1,), steps=1, max_bytes=SMALL)  # 3^4 entries
    assert [r["refused"] for r in rows] == ["refused: needs 6.03e-07 GiB"] * len(OPS)
    assert rows[0]["needed_bytes"] == 8 * 3**4
    assert "random target tensor" in rows[0]["what"]


def test_cli_writes_every_other_cell_and_marks_the_refused_one(tmp_path, capsys):
    """``convac rectifier`` over its budget at N=4 only: the N=2 cells are measured and
    written (text, strict JSON, page), the N=4 cells marked, exit status 1."""
    out = tmp_path / "rep"
    code = main(["rectifier", "--sizes", "2", "4", "--n-seeds", "2", "--widths", "1",
                 "--steps", "2", "--n-restarts", "1", "--match-n", "2", "--operators",
                 "relu-max", "--max-gib", str(SMALL / 2**30), "--quiet", "--out", str(out),
                 "--json", str(out / "m.json")])
    assert code == 1
    text, err = capsys.readouterr()
    lines = [line.split() for line in text.splitlines()]
    assert ["relu-max", "N=4", "refused:", "needs", "1.19e-07", "GiB"] in lines
    assert any(line[:3] == ["relu-max", "N=2", "rank=2"] for line in lines), text
    assert "rank_vs_n operator=relu-max N=4: " in err and "raise --max-gib" in err

    def refuse(name):
        raise AssertionError(f"non-JSON constant {name} in the output")

    data = json.loads((out / "m.json").read_text(), parse_constant=refuse)
    assert [r["refused"] for r in data["rank_vs_n"]] == [None, NEEDS_N4]
    assert [r["refused"] for r in data["incompleteness"]] == [NEEDS_N4]  # (b) at N=4
    assert data["shallow_match"][0]["refused"] is None  # N=2 fits
    page = (out / "rectifier.html").read_text()
    assert page.count(NEEDS_N4) == 2 and "None" not in page  # (a) and (b) at N=4
    assert "refused: needs 6.03e-07 GiB" in page  # (d): its target has 3^4 entries


def test_verdicts_say_no_where_numbers_disagree():
    """The agreement table is computed from the numbers, not written: a product network
    below its theorem or a ReLU+sum fit under its floor is reported as a disagreement."""
    from convac.bench.report.rectifier import verdicts
    from convac.experiments.rectifier import RectifierMeasurements

    m = RectifierMeasurements(
        rank_vs_n=[{"operator": "product", "N": 4, "rank": 3, "theorem": 4}],
        universality=[{"operator": "relu-sum", "widths": [1], "errors": [0.1], "floor": 0.5},
                      {"operator": "relu-max", "widths": [1], "errors": [0.2], "floor": 0.0}])
    rows = {claim: ok for claim, _, ok in verdicts(m)}
    assert rows == {"ConvAC odd-even rank = min(r0, M)^(N/2)": False,
                    "Shallow ReLU+average: not universal": False,
                    "Shallow relu-max: universal": False}


class _FakeResults:
    """Duck-typed ``CommitResults``: ``by_name`` over measurements written as asv writes
    parameters (their reprs)."""

    def __init__(self, rows):
        from convac.bench.results import Measurement

        self.rows = [Measurement(name, tuple(repr(p) for p in params), value)
                     for name, params, value in rows]

    def by_name(self, name):
        return [m for m in self.rows if m.name == name]


def test_measurements_from_asv_results_round_trip():
    """What the suite tracks comes back as the measurements it came from."""
    from convac.bench.report.rectifier import BENCH_PREFIX, measurements_from_results

    ranks = rank_vs_n((2, 4), operators=("product", "relu-max"))
    inc = incompleteness((4,), n_seeds=5, operators=("relu-max",))
    p = BENCH_PREFIX
    rows = [(p + "GridRank.track_rank", (r["operator"], r["N"]), r["rank"]) for r in ranks]
    rows += [(p + "GridRank.track_not_exact", (r["operator"], r["N"]), 0) for r in ranks]
    rows += [(p + "Incompleteness.track_below_max", ("relu-max", 4), inc[0]["below_max"]),
             (p + "ShallowMatch.track_fit_error", ("relu-max", "lowest rank", 4), 0.5),
             (p + "ShallowMatch.track_fit_error", ("relu-max", "lowest rank", 1), 0.005),
             (p + "Universality.track_fit_error", ("relu-sum", 16), 0.9),
             (p + "Universality.track_error_minus_floor", ("relu-sum", 16), 0.1),
             (p + "GridRank.track_rank", ("relu-sum", 8), None)]  # failed: left out
    m = measurements_from_results(_FakeResults(rows))
    assert [(r["operator"], r["N"], r["rank"]) for r in m.rank_vs_n] == [
        (r["operator"], r["N"], r["rank"]) for r in ranks]
    assert m.incompleteness[0]["below_max"] == inc[0]["below_max"]
    assert m.incompleteness[0]["n_seeds"] == 50  # the suite's seed count, not this test's
    match = m.shallow_match[0]
    assert match["widths"] == [1, 4] and match["errors"] == [0.005, 0.5]
    assert match["matched_width"] == 1
    assert m.universality[0]["floor"] == pytest.approx(0.8)
    assert measurements_from_results(_FakeResults([])) is None
    assert measurements_from_results(None) is None
