"""Matricization, numerical rank, and the rank facts of COLT 2016 (ARCHITECTURE.md, "The
mathematics in one page")."""

import itertools

import numpy as np
import pytest
import torch

import convac
from convac.rank import theory
from convac.tensors.matricization import numerical_rank, resolve_partition


def test_matricize_index_convention():
    """Rows: modes of I ascending, first most significant; columns: the rest."""
    gen = np.random.default_rng(0)
    a = gen.standard_normal((2, 3, 2, 4, 3))
    rows, cols = (1, 3), (0, 2, 4)
    mat = convac.matricize(a, [3, 1])
    assert mat.shape == (3 * 4, 2 * 2 * 3)
    for idx in itertools.product(*map(range, a.shape)):
        r = np.ravel_multi_index([idx[m] for m in rows], [a.shape[m] for m in rows])
        c = np.ravel_multi_index([idx[m] for m in cols], [a.shape[m] for m in cols])
        assert mat[r, c] == a[idx]
    torch.testing.assert_close(convac.matricize(torch.as_tensor(a), [1, 3]), torch.as_tensor(mat))


def test_named_partitions():
    assert resolve_partition("odd-even", 6) == convac.Partition((0, 2, 4), (1, 3, 5))
    assert resolve_partition("left-right", 6) == convac.Partition((0, 1, 2), (3, 4, 5))
    assert resolve_partition((4, 0), 5) == convac.Partition((0, 4), (1, 2, 3))


# COLT 2016 Theorem 1: odd-even rank of a random HT is min(r_0, M)^(N/2), shared or not.
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(
    ("n", "m", "r0", "seed"),
    [(4, 3, 2, 0), (4, 2, 3, 1), (8, 3, 2, 2), (8, 2, 3, 3), (8, 4, 3, 4), (16, 2, 1, 6)],
)
def test_theorem1_odd_even_rank_of_ht(n, m, r0, seed, shared):
    ranks = (r0,) + (2,) * (int(np.log2(n)) - 1)
    net = convac.HTNet(n, m, ranks, shared=shared, seed=seed).double()
    result = convac.matricization_rank(net, "odd-even")
    assert result.rank == min(r0, m) ** (n // 2)
    assert not result.ambiguous, result.margin


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True])
def test_theorem1_at_n16_m3(shared):
    """The 43M-entry case: 6561 x 6561 odd-even matricization of rank 2^8 (~12 s each)."""
    net = convac.HTNet(16, 3, 2, shared=shared, seed=0)
    result = convac.matricization_rank(net, "odd-even")
    assert result.rank == 2**8 and not result.ambiguous


@pytest.mark.parametrize("shared", [False, True])
def test_theorem1_at_n16_m2_is_never_silently_wrong(shared):
    """N=16, M=r_0=2: the 256 x 256 odd-even matricization is full rank in theory, but
    products of eight random 2x2 leaf pairs spread its singular values past float64's
    reach for some seeds.  A dense rank that misses the theorem must say it is ambiguous.
    """
    outcomes = []
    for seed in range(6):
        result = convac.matricization_rank(convac.HTNet(16, 2, 2, shared=shared, seed=seed),
                                           "odd-even")
        assert result.rank <= 2**8
        if result.rank != 2**8:
            assert result.ambiguous, (seed, result.rank, result.margin)
        outcomes.append(result.rank == 2**8)
    assert any(outcomes)  # the decision is clear for some seeds, and then right


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("n", "m", "seed"), [(8, 3, 0), (16, 2, 0), (16, 2, 1), (16, 3, 2)])
def test_theorem1_certified_exactly(n, m, seed, shared):
    """Where float64 cannot resolve the N=16 spectra, integer weights and the rank over
    GF(p) certify COLT Thm 1's min(r_0, M)^(N/2) with no tolerance."""
    net = convac.integer_weights_(convac.HTNet(n, m, 2, shared=shared), seed=seed)
    result = convac.matricization_rank(net, "odd-even", method="exact")
    assert result.rtol is None and "proven lower bound" in result.certified
    assert result.rank == theory.ht_odd_even_rank(n, m, 2)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("n", "m", "ranks", "seed"),
                         [(4, 3, (3, 1), 0), (8, 3, (3, 3, 2), 1), (8, 2, (2, 4, 3), 2),
                          (16, 2, (2, 2, 2, 2), 3)])
def test_left_right_rank_bounded_by_top_rank(n, m, ranks, seed, shared):
    net = convac.HTNet(n, m, ranks, shared=shared, seed=seed).double()
    assert convac.matricization_rank(net, "left-right").rank <= ranks[-1]


@pytest.mark.parametrize(("n", "m", "k", "seed"),
                         [(4, 3, 2, 0), (4, 3, 5, 1), (4, 3, 9, 2), (4, 3, 12, 3), (6, 2, 3, 4),
                          (6, 2, 8, 5), (6, 2, 11, 6), (8, 2, 7, 7)])
@pytest.mark.parametrize("shared", [False, True])
def test_cp_odd_even_rank_is_min_of_width_and_side(n, m, k, seed, shared):
    """Unshared: min(K, M^(N/2)).  Shared weights make A symmetric, so every row of the
    odd-even matricization lies in the symmetric tensors of order N/2, of dimension
    C(M + N/2 - 1, N/2): generic rank min(K, C(M + N/2 - 1, N/2))."""
    net = convac.CPNet(n, m, k, shared=shared, seed=seed).double()
    expected = (theory.cp_shared_odd_even_rank(n, m, k) if shared
                else theory.cp_rank(n, m, k))
    result = convac.matricization_rank(net, "odd-even")
    assert result.rank == expected and not result.ambiguous


def test_rank_bounds_cp_rank_for_every_partition():
    """rank [A]_{I,J} <= CP-rank: a width-K CP never exceeds K on any partition."""
    net = convac.CPNet(6, 3, 4, seed=12).double()
    a = convac.coefficient_tensor(net)
    for size in (1, 2, 3):
        for rows in itertools.combinations(range(6), size):
            assert convac.matricization_rank(a, rows).rank <= 4


def test_rank_result_reports_tolerance_and_singular_values():
    net = convac.HTNet(8, 3, 2, seed=1).double()
    res = convac.matricization_rank(net, "odd-even", method="dense")
    assert res.method == "dense"
    assert res.rtol == pytest.approx(81 * np.finfo(np.float64).eps)
    sv = convac.singular_values(convac.coefficient_tensor(net), "odd-even")
    np.testing.assert_allclose(res.singular_values, sv)
    assert int(res) == res.rank == 16
    assert res.margin > 1e3 and not res.ambiguous
    loose = convac.matricization_rank(net, "odd-even", method="dense", rtol=0.5)
    assert loose.rtol == 0.5 and loose.rank < 16


def test_close_rank_decision_is_flagged():
    # smooth decay through the threshold: 3e-14 kept at 1.5x the threshold, gap only 3
    sv = np.array([1.0, 0.5, 3e-14, 1e-14, 1e-20])
    res = numerical_rank(sv, rtol=2e-14)
    assert res.rank == 3 and res.ambiguous and res.margin == pytest.approx(1.5)
    # a cliff: 0.5 kept, noise at 1e-17 dropped
    clear = numerical_rank(np.array([1.0, 0.5, 1e-17]), rtol=1e-14)
    assert clear.rank == 2 and not clear.ambiguous
    assert clear.margin == pytest.approx(0.5 / 1e-14)  # distance above the threshold
    # a clear gap, but the counted value sits just above the noise floor
    near_floor = numerical_rank(np.array([1.0, 5e-14, 1e-30]), rtol=1e-14)
    assert near_floor.rank == 2 and near_floor.ambiguous


@pytest.mark.parametrize(
    ("partition", "message"),
    [
        ([], r"partition is empty"),
        ([0, 1, 2, 3], r"covers every mode 0\.\.3"),
        ([1, 1], r"repeats mode\(s\) \[1\]"),
        ([0, 4], r"partition\[1\] = 4 is not a mode in 0\.\.3"),
        ("diagonal", r"unknown partition 'diagonal'; expected one of: 'odd-even', 'left-right'"),
        ([0.5], r"partition\[0\] must be an int mode, got 0\.5"),
    ],
)
def test_bad_partitions(partition, message):
    a = torch.zeros((2,) * 4)
    with pytest.raises(ValueError, match=message):
        convac.matricize(a, partition)


def test_unknown_rank_method_lists_choices():
    with pytest.raises(ValueError, match=r"unknown rank method 'magic'; expected one of: 'dense'"):
        convac.matricization_rank(torch.zeros(2, 2, 2), [0], method="magic")
