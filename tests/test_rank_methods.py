"""Every registered rank method against the dense oracle; auto's certainty; the float
methods on the cases where floats fail; argument checks."""

import importlib
import math

import numpy as np
import pytest
import torch
from oracles import fraction_rank

import convac
from convac import validate
from convac.experiments.depth_sweep import block_partition
from convac.rank import theory
from convac.rank.exact import ModField
from convac.rank.methods import AUTO_FLOAT_MAX_RANK, RANK_METHODS
from convac.rank.modp import DEFAULT_PRIMES
from convac.rank.structured import predict_core_shape, root_core
from convac.tensors.matricization import AMBIGUITY_FACTOR

# small networks whose dense ranks are clear: (builder, partitions)
ORACLE_TABLE = {
    "cp": lambda: convac.CPNet(6, 3, 4, n_outputs=2, seed=1).double(),
    "cp-shared": lambda: convac.CPNet(6, 2, 5, shared=True, seed=2).double(),
    "ht": lambda: convac.HTNet(8, 2, (2, 3, 2), seed=3).double(),
    "ht-float32": lambda: convac.HTNet(8, 3, 2, seed=4),
    "ht-mirror": lambda: convac.HTNet(8, 2, 2, geometry="mirror", seed=5).double(),
    "truncated": lambda: convac.ConvAC(8, 2, convac.truncated_windows(8, 2), (3, 2),
                                       seed=6).double(),
    "mixed": lambda: convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), seed=7).double(),
}
PARTS = ["odd-even", "left-right", [0, 1, 5]]


def test_registry_declared_once():
    assert RANK_METHODS.names() == ("dense", "structured", "exact", "auto")
    assert convac.RANK_METHODS is RANK_METHODS  # the public name is the same table
    # the tensors stage keeps no table of its own (it sits below the rank methods)
    assert not hasattr(importlib.import_module("convac.tensors.matricization"), "RANK_METHODS")
    with pytest.raises(ValueError, match="rank method 'dense' is already registered"):
        RANK_METHODS.register("dense", lambda *a, **k: None)
    with pytest.raises(ValueError, match="unknown rank method 'svd'; expected one of"):
        convac.matricization_rank(np.eye(2), [0], method="svd")


@pytest.mark.parametrize("part", PARTS, ids=str)
@pytest.mark.parametrize("case", sorted(ORACLE_TABLE))
@pytest.mark.parametrize("method", RANK_METHODS.names())
def test_every_method_matches_the_dense_oracle(method, case, part):
    net = ORACLE_TABLE[case]()
    oracle = convac.matricization_rank(net, part, method="dense")
    assert not oracle.ambiguous  # the table holds clear cases only
    for output in range(net.n_outputs):
        res = convac.matricization_rank(net, part, method=method, output=output)
        dense = convac.matricization_rank(net, part, method="dense", output=output)
        assert res.rank == dense.rank <= convac.min_cut_bound(net, part)
        assert res.is_certified == (res.method == "exact")


def test_every_method_on_tensors():
    tensor = convac.coefficient_tensor(ORACLE_TABLE["ht"]())
    ranks = {m: convac.matricization_rank(tensor, "odd-even", method=m).rank
             for m in ("dense", "exact", "auto")}
    assert len(set(ranks.values())) == 1
    with pytest.raises(TypeError, match="expected a convac.ConvAC network, got Tensor"):
        convac.matricization_rank(tensor, "odd-even", method="structured")


def near_degenerate_cp(delta=3e-7):
    """Width-2 CP whose second term is the first with leaves perturbed by ``delta``:
    rank 2 exactly, sigma_2 / sigma_1 ~ delta^2 sits near float64's floor."""
    gen = torch.Generator().manual_seed(0)
    net = convac.CPNet(4, 3, 2).double()
    base = torch.randn(4, 3, generator=gen, dtype=torch.float64)  # (N, M)
    with torch.no_grad():
        net.weights[0][:, 0] = base
        net.weights[0][:, 1] = base + delta * torch.randn(4, 3, generator=gen,
                                                          dtype=torch.float64)
        net.weights[1].copy_(torch.tensor([[1.0, 1.0]]))
    return net


def test_auto_falls_back_to_exact_when_ambiguous():
    net = near_degenerate_cp()
    dense = convac.matricization_rank(net, "odd-even", method="dense")
    auto = convac.matricization_rank(net, "odd-even", method="auto")
    assert dense.ambiguous
    assert auto.method == "exact" and auto.is_certified and auto.rank == 2
    assert "ambiguous" in auto.reason and "dense" in auto.reason
    # the first default prime reaches the min-cut bound: the real rank, no second prime
    assert [r for _, r in auto.ranks_mod] == [2] == [convac.min_cut_bound(net, "odd-even")]
    # a float tensor is taken at its stored values: the rounding of A^y is part of it,
    # so its certified rank is that of the rounded values (here full: 9)
    tensor = convac.coefficient_tensor(net)
    res = convac.matricization_rank(tensor, "odd-even", method="auto")
    assert res.method == "exact" and res.rank == convac.exact_rank(tensor, "odd-even").rank
    assert res.rank >= 2


def test_auto_keeps_a_clear_float_rank_and_says_why():
    net = convac.HTNet(16, 3, 2, seed=0)  # rank 256 = AUTO_FLOAT_MAX_RANK: structured
    res = convac.matricization_rank(net, "odd-even", method="auto")
    assert res.method == "structured" and not res.is_certified
    assert res.rank == theory.ht_odd_even_rank(16, 3, 2)
    assert "margin" in res.reason and "clear" in res.reason
    assert res.margin >= AMBIGUITY_FACTOR


def test_auto_goes_exact_where_floats_fail():
    net = convac.HTNet(32, 2, 1, seed=0)  # min-cut bound 1: structured
    assert convac.matricization_rank(net, "odd-even", method="auto").method == "structured"
    big = convac.ConvAC(18, 2, (2, 3, 3), 2, seed=0)  # bound 512 > 256
    assert convac.min_cut_bound(big, "odd-even") > AUTO_FLOAT_MAX_RANK
    res = convac.matricization_rank(big, "odd-even", method="auto")
    assert res.method == "exact" and "min-cut bound" in res.reason
    assert res.rank == 512


def test_exact_of_float_networks_matches_integer_scaling():
    """Dividing every weight of an integer network by powers of two scales A^y by a power
    of two: the exact rank of the float network equals that of the integer one."""
    net = convac.integer_weights_(convac.HTNet(8, 3, (2, 3, 2)).double(), -7, 7, seed=3)
    ref = convac.exact_rank(net, "odd-even")
    with torch.no_grad():
        for level, w in enumerate(net.weights):
            w.div_(2.0 ** (3 * level + 1))  # dyadic, exact in float64
    got = convac.exact_rank(net, "odd-even")
    assert got.rank == ref.rank == convac.matricization_rank(net, "odd-even").rank


@pytest.mark.parametrize("method", ["dense", "structured", "auto"])
@pytest.mark.parametrize("rtol", [-1.0, math.nan, 1.0, math.inf])
def test_bad_tolerance(method, rtol):
    net = ORACLE_TABLE["ht"]()
    with pytest.raises(ValueError, match="rtol must be"):
        convac.matricization_rank(net, "odd-even", method=method, rtol=rtol)


def test_numerical_rank_refuses_nan_and_negative():
    with pytest.raises(ValueError, match=r"finite and >= 0, got sv\[1\] = nan"):
        convac.numerical_rank(np.array([1.0, np.nan, 0.5]))
    with pytest.raises(ValueError, match=r"sv\[0\] = -1"):
        convac.numerical_rank(np.array([-1.0]))


def test_partition_with_inconsistent_cols():
    with pytest.raises(ValueError, match=r"cols \(1, 1\) are not the complement \(1, 2\)"):
        convac.resolve_partition(convac.Partition((0,), (1, 1)), 3)
    with pytest.raises(validate.ConvACError):
        convac.matricization_rank(np.ones((2, 2, 2)), convac.Partition((0,), (2, 2)))


# --- the cases where floats fail:      floats may say "ambiguous", never a wrong rank ----
TABLE = [  # (N, M, windows): theorem min(2, M)^(N/2) (a first window of 2)
    pytest.param(16, 2, (2, 2, 2, 2), id="16-2"),
    pytest.param(18, 2, (2, 3, 3), id="18-2"),
    pytest.param(20, 2, (2, 2, 5), id="20-2", marks=pytest.mark.slow),
    pytest.param(24, 2, (2, 2, 2, 3), id="24-2", marks=pytest.mark.paper),  # `make test-paper`
    pytest.param(24, 3, (2, 2, 2, 3), id="24-3", marks=pytest.mark.paper),  # `make test-paper`
]


@pytest.mark.parametrize(("n", "m", "windows"), TABLE)
def test_floats_never_return_a_clear_wrong_rank(n, m, windows):
    net = convac.ConvAC(n, m, windows, 2, seed=0, dtype=torch.float64)
    theorem = theory.ht_odd_even_rank(n, m, 2)
    assert convac.min_cut_bound(net, "odd-even") == theorem
    methods = ["structured"] + (["dense"] if m**n <= 2**20 else [])
    for method in methods:
        res = convac.matricization_rank(net, "odd-even", method=method)
        assert res.ambiguous or res.rank == theorem, (method, res.rank, res.margin)
    exact = convac.matricization_rank(net, "odd-even", method="exact")
    assert exact.rank == theorem and all(r == theorem for _, r in exact.ranks_mod)
    assert convac.matricization_rank(net, "odd-even", method="auto").rank == theorem


def test_theory_formulas():
    assert theory.ht_odd_even_rank(16, 3, 2) == 256 and theory.ht_odd_even_rank(8, 2, 5) == 16
    assert theory.ht_left_right_rank(8, 2, 3) == 3 and theory.ht_left_right_rank(2, 2, 5) == 2
    assert theory.cp_rank(6, 2, 100) == 8 and theory.cp_rank(6, 2, 100, n_rows=1) == 2
    assert theory.cp_shared_odd_even_rank(6, 2, 100) == math.comb(2 + 3 - 1, 3)
    with pytest.raises(ValueError, match="n_patches must be even, got 7"):
        theory.ht_odd_even_rank(7, 2, 2)
    with pytest.raises(ValueError, match="r0 must be >= 1, got 0"):
        theory.ht_odd_even_rank(8, 2, 0)


@pytest.mark.parametrize("case", sorted(ORACLE_TABLE))
def test_budget_is_predicted_before_any_work(case):
    """The predicted largest array bounds the real root core; a budget below it is refused
    before anything is computed."""
    from convac.rank.structured import FloatField, predict_core_shape, root_core

    net = ORACLE_TABLE[case]()
    for part in PARTS:
        shape = predict_core_shape(net, part)
        core = root_core(net, part, 0, FloatField).cores
        assert core.size <= math.prod(shape)
        with pytest.raises(validate.BudgetError, match="above the memory budget"):
            convac.exact_rank(net, part, max_bytes=8 * math.prod(shape) - 1)


def test_auto_passes_primes_and_refuses_unknown_arguments():
    big = convac.ConvAC(18, 2, (2, 3, 3), 2, seed=0)
    res = convac.matricization_rank(big, "odd-even", method="auto", primes=(65521, 101))
    assert [p for p, _ in res.ranks_mod] == [65521, 101] and res.rank == 512
    with pytest.raises(ValueError, match=r"unexpected arguments for the auto method: \['x'\]"):
        convac.matricization_rank(big, "odd-even", method="auto", x=1)


def test_rank_command(capsys):
    import json

    from convac.cli import main

    assert main(["rank", "18", "2", "--windows", "2", "3", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rank"] == 512 and out["certified"] and out["method"] == "exact"
    assert out["min_cut_bound"] == 512 and len(out["ranks_mod"]) == 1  # the bound: exact


def test_exact_runs_the_second_default_prime_only_below_the_bound():
    """A rank mod p that reaches the min-cut bound is the real rank (lower and upper
    bound meet): one prime.  Below the bound both default primes run; primes given
    explicitly always all run."""
    import torch

    net = convac.HTNet(4, 2, 2, seed=1, dtype=torch.float64)
    convac.integer_weights_(net, -9, 9, seed=1)
    full = convac.exact_rank(net, "odd-even")
    assert full.rank == convac.min_cut_bound(net, "odd-even") and len(full.ranks_mod) == 1
    assert "min-cut bound" in full.certified
    with torch.no_grad():
        net.weights[0][0, 1] = net.weights[0][0, 0]  # leaf 0 of rank 1: below the bound
    low = convac.exact_rank(net, "odd-even")
    assert low.rank < convac.min_cut_bound(net, "odd-even")
    assert [p for p, _ in low.ranks_mod] == list(convac.rank.exact.DEFAULT_PRIMES)
    both = convac.exact_rank(net, "odd-even", primes=(65521, 101))
    assert [p for p, _ in both.ranks_mod] == [65521, 101]
    dense = convac.coefficient_tensor(net).numpy()
    assert low.rank == int(convac.exact_rank(dense, "odd-even"))


def test_one_signature_and_one_default_everywhere():
    """Every method takes ``(net_or_tensor, partition, output=, max_bytes=)``; the
    function, the table, the grid rank and the CLI's rank and table commands all default
    to DEFAULT_METHOD."""
    import inspect

    from convac.bench.table import depth_efficiency_rows
    from convac.cli import build_parser
    from convac.rank.grid import grid_rank
    from convac.rank.methods import DEFAULT_METHOD, matricization_rank

    assert DEFAULT_METHOD == "auto"
    net = convac.HTNet(4, 2, 2, seed=0, dtype=torch.float64)
    for name in RANK_METHODS.names():
        res = RANK_METHODS[name](net, "odd-even", output=0, max_bytes=2**20)
        assert res.rank == 4, name
    for fn in (matricization_rank, depth_efficiency_rows, grid_rank):
        assert inspect.signature(fn).parameters["method"].default == DEFAULT_METHOD
    for command in ("rank", "table"):
        args = build_parser(command).parse_args(
            [command] + (["4", "2", "--windows", "2", "2"] if command == "rank" else []))
        assert args.method == DEFAULT_METHOD


@pytest.mark.parametrize("seed", range(4))
def test_exact_over_q_is_the_fraction_rank_of_an_integer_tensor(seed):
    pytest.importorskip("flint")
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(-3, 4, (3,) * 4, generator=gen, dtype=torch.int64).double()
    a[0] = a[1] * 2  # an integer tensor of deficient rank on the odd-even partition
    res = convac.matricization_rank(a, "odd-even", method="exact", field="Q")
    assert res.method == "exact" and "over Q" in res.certified
    assert res.rank == fraction_rank(convac.matricize(a, "odd-even").numpy())
    with pytest.raises(ValueError, match="field='Q' needs an integer-valued tensor"):
        convac.matricization_rank(a + 0.5, "odd-even", method="exact", field="Q")


def _largest_arrays(monkeypatch, field):
    """Record the size of every core array ``field`` builds (Kronecker products, mixes)."""
    sizes = [0]
    for name in ("kron", "mix"):
        original = getattr(field, name)

        def record(*args, _original=original):
            out = _original(*args)
            sizes[0] = max(sizes[0], out.size)
            return out

        monkeypatch.setattr(field, name, record)
    return sizes


def _sweep_cases():
    cases = [(ORACLE_TABLE[c](), part) for c in sorted(ORACLE_TABLE) for part in PARTS]
    for n, m, r, depths in ((8, 2, 2, (1, 2)), (16, 2, 3, (1, 2, 3)), (16, 3, 2, (2, 3)),
                            (32, 2, 2, (3, 4)), (32, 3, 3, (3, 4)), (64, 2, 2, (3, 4, 5))):
        cases += [(convac.HTNet(n, m, r, seed=0), block_partition(n, d)) for d in depths]
    return cases


def test_predicted_shape_bounds_every_array_the_exact_core_builds(monkeypatch):
    """Every Kronecker product and mix the exact fold allocates (not only the root core)
    fits in the predicted shape; block partitions of the depth sweep included."""
    field = ModField(DEFAULT_PRIMES[0])
    sizes = _largest_arrays(monkeypatch, type(field))
    for net, part in _sweep_cases():
        sizes[0] = 0
        root_core(net, part, 0, field)
        assert 0 < sizes[0] <= math.prod(predict_core_shape(net, part)), (net, part)


def test_a_root_of_two_uncompressed_halves_is_predicted():
    """Block partition of 2-input blocks, N=32, M=r=2: each half's core is 256 x 256 and
    the root's Kronecker product 65536 x 65536 (32 GiB per channel): predicted, so
    refused before allocating (was a MemoryError after the prediction said 256 x 256)."""
    net = convac.HTNet(32, 2, 2, seed=0)
    assert predict_core_shape(net, block_partition(32, 2)) == (2, 65536, 65536)
    with pytest.raises(validate.BudgetError, match="needs|would have shape"):
        convac.exact_rank(net, block_partition(32, 2))
