"""Exact ranks over GF(p) of integer networks: agreement and the lower-bound property."""

import numpy as np
import pytest
import torch
from oracles import partition_for

import convac
from convac.rank.exact import DEFAULT_PRIME, exact_rank

CASES = {
    "cp": lambda seed, sh, g: convac.CPNet(6, 3, 4, n_outputs=2, shared=sh, geometry=g),
    "ht": lambda seed, sh, g: convac.HTNet(8, 2, (2, 3, 2), shared=sh, geometry=g),
    "truncated": lambda seed, sh, g: convac.ConvAC(8, 2, convac.truncated_windows(8, 2),
                                                   (3, 2), shared=sh, geometry=g),
    "window4": lambda seed, sh, g: convac.HTNet(16, 2, 2, window=4, shared=sh, geometry=g),
    "mixed": lambda seed, sh, g: convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), shared=sh,
                                               geometry=g),
}


def integer_net(case, seed, shared=False, geometry="contiguous"):
    net = CASES[case](seed, shared, geometry).double()
    return convac.integer_weights_(net, -3, 3, seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["odd-even", "left-right", "random"])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_matches_dense_and_structured(case, shared, geometry, kind, seed):
    net = integer_net(case, seed, shared, geometry)
    part = partition_for(kind, net.n_patches, seed, stream=2000)
    exact = convac.matricization_rank(net, part, method="exact")
    dense = convac.matricization_rank(net, part, method="dense")
    structured = convac.matricization_rank(net, part, method="structured")
    assert exact.method == "exact"
    assert exact.rank == dense.rank == structured.rank


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_on_integer_tensor_matches_network(seed):
    net = integer_net("ht", seed)
    tensor = convac.coefficient_tensor(net)  # integers, far below 2^53
    assert torch.equal(tensor, torch.round(tensor))
    for part in ("odd-even", "left-right", [1, 2, 6]):
        from_tensor = convac.matricization_rank(tensor, part, method="exact")
        from_net = convac.matricization_rank(net, part, method="exact")
        assert from_tensor.rank == from_net.rank
    as_int = tensor.to(torch.int64).numpy()
    assert exact_rank(as_int, "odd-even").rank == exact_rank(net, "odd-even").rank


def test_result_states_the_guarantee():
    res = convac.matricization_rank(integer_net("cp", 0), "odd-even", method="exact")
    assert res.rtol is None and res.singular_values is None
    assert not res.ambiguous and res.margin == float("inf")
    assert "lower bound" in res.certified and "CP-rank" in res.certified
    assert f"GF({DEFAULT_PRIME})" in res.certified


def test_small_prime_can_only_lower_the_rank():
    """[[1, 1], [1, 3]] has determinant 2: rank 2 over the reals, 1 over GF(2)."""
    tensor = np.array([[1, 1], [1, 3]])
    assert exact_rank(tensor, [0], prime=2).rank == 1
    assert exact_rank(tensor, [0], prime=3).rank == 2
    assert convac.matricization_rank(tensor, [0]).rank == 2


@pytest.mark.parametrize("n", [13, 14])  # condition numbers beyond 1 / eps
def test_exact_certifies_what_floats_cannot(n):
    """An integer Vandermonde matrix on nodes 1..n: its determinant prod(j - i) is nonzero
    mod p, so the exact rank is n; the float rank falls short and says it is unsure."""
    vander = np.vander(np.arange(1, n + 1), increasing=True).astype(np.int64)  # (n, n)
    assert vander.max() < 2**53  # exact in float64: the same matrix
    exact = exact_rank(vander, [0])
    floating = convac.matricization_rank(vander.astype(np.float64), [0], method="dense")
    assert exact.rank == n
    assert floating.rank < n and floating.ambiguous


def test_other_output_and_scale():
    net = integer_net("cp", 4)
    for output in (0, 1):
        assert (exact_rank(net, [0, 2, 3], output=output).rank
                == convac.matricization_rank(net, [0, 2, 3], output=output).rank)
    # weights in -3..3 hit degenerate cases (seed 5 gives rank 64); both methods see them
    small = convac.integer_weights_(convac.HTNet(16, 3, 2), -3, 3, seed=5)
    assert (exact_rank(small, "odd-even").rank
            == convac.matricization_rank(small, "odd-even", method="structured").rank)
    # a wide range is generic: COLT Thm 1's min(r_0, M)^(N/2), certified
    big = convac.integer_weights_(convac.HTNet(16, 3, 2), low=-50, high=50, seed=5)
    assert exact_rank(big, "odd-even").rank == 2**8
    assert convac.matricization_rank(big, "odd-even", method="structured").rank == 2**8


def test_wide_cp_window():
    """64 children pooled at once: compressed partial products keep the cores at K."""
    net = convac.integer_weights_(convac.CPNet(64, 3, 5), low=-9, high=9, seed=3)
    for part in ("odd-even", "left-right"):
        exact = exact_rank(net, part).rank
        assert exact <= convac.min_cut_bound(net, part) == 5
        assert exact == convac.matricization_rank(net, part, method="structured").rank


def test_zero_network():
    net = integer_net("ht", 0)
    with torch.no_grad():
        net.weights[0][3].zero_()
    assert exact_rank(net, "odd-even").rank == 0


def test_integer_weights_are_seeded_in_place():
    net = convac.HTNet(8, 3, 2, seed=0)
    out = convac.integer_weights_(net, low=-2, high=5, seed=7)
    assert out is net
    values = torch.cat([w.detach().reshape(-1) for w in net.weights])
    assert torch.equal(values, torch.round(values))
    assert values.min() >= -2 and values.max() <= 5 and values.unique().numel() > 3
    again = convac.integer_weights_(convac.HTNet(8, 3, 2, seed=1), low=-2, high=5, seed=7)
    other = convac.integer_weights_(convac.HTNet(8, 3, 2, seed=0), low=-2, high=5, seed=8)
    for a, b in zip(net.weights, again.weights, strict=True):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(net.weights, other.weights, strict=True))
    built = convac.integer_network(8, 3, (2, 2, 2), 2, low=-2, high=5, seed=7)
    assert built.weights[0].dtype == torch.float64
    for a, b in zip(net.weights, built.weights, strict=True):
        assert torch.equal(a.double(), b)


def test_bad_input():
    net = convac.HTNet(8, 2, 2, seed=0)
    with torch.no_grad():
        net.weights[2][1, 0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"level 2 weight \(1, 0, 1\) is nan"):
        convac.matricization_rank(net, "odd-even", method="exact")
    convac.integer_weights_(net, seed=0)
    with pytest.raises(ValueError, match="covers 3 modes, expected n_modes=8"):
        exact_rank(net, convac.Partition((0,), (1, 2)))
    with pytest.raises(ValueError, match="takes no tolerance, expected rtol=None, got 1e-06"):
        convac.matricization_rank(net, "odd-even", method="exact", rtol=1e-6)
    with pytest.raises(ValueError, match="prime must be a prime below 2\\^22, got 15"):
        exact_rank(net, "odd-even", prime=15)
    with pytest.raises(ValueError, match="prime must be a prime below 2\\^22, got 2147483647"):
        exact_rank(net, "odd-even", prime=2**31 - 1)
    with pytest.raises(ValueError, match=r"entry \(0, 1\) is inf"):
        exact_rank(np.array([[1.0, np.inf], [2.0, 3.0]]), [0])
    with pytest.raises(ValueError, match="prime 2 cannot represent the non-integer"):
        exact_rank(np.array([[1.0, 0.25], [2.0, 3.0]]), [0], prime=2)
    with pytest.raises(ValueError, match=r"entry \(1, 0\) is 9223372036854775808, above"):
        exact_rank(np.array([[1, 2], [2**63, 3]], dtype=np.uint64), [0])
    with pytest.raises(ValueError, match="expected low <= high, got low=3, high=-3"):
        convac.integer_weights_(net, low=3, high=-3)
    with pytest.raises(ValueError, match=r"output must be in 0\.\.0, got 1"):
        exact_rank(net, "odd-even", output=1)


@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
def test_subtree_cache_shared_by_many_partitions_changes_no_rank(geometry):
    """One cache over all balanced partitions of a network, both primes and two outputs,
    each partition visited twice (a cached core modified in place would show), against
    the uncached ranks and the dense exact rank of the coefficient tensor."""
    import itertools

    net = convac.HTNet(8, 2, (2, 3, 2), n_outputs=2, geometry=geometry, seed=5,
                       dtype=torch.float64)
    convac.integer_weights_(net, -5, 5, seed=5)
    parts = [(0,) + rest for rest in itertools.combinations(range(1, 8), 3)]  # 35
    cache = {}
    for output in (0, 1):
        dense = convac.coefficient_tensor(net, output=output).numpy()
        for rows in parts + parts[::-1]:
            cached = exact_rank(net, rows, output=output, cache=cache)
            assert cached.ranks_mod == exact_rank(net, rows, output=output).ranks_mod
            assert int(cached) == int(exact_rank(dense, rows))
    assert len(cache) > 2  # the weights of both primes and shared subtrees


@pytest.mark.parametrize("seed", range(4))
def test_exact_rank_of_non_integer_floats_is_the_rank_of_the_stored_values(seed):
    """A float tensor is exact over the dyadic rationals it stores: non-integer entries are
    not an error and not rounded.  A rank-1 outer product of dyadic fractions (exact in
    float64) has rank 1; adding 1/3 (stored as its nearest float) to one entry gives the
    rank of the stored values, as a Fraction elimination of those values says."""
    from oracles import fraction_rank

    rng = np.random.default_rng(seed)
    u = rng.integers(1, 64, 4) / 64.0  # k / 64: exact in float64
    v = rng.integers(1, 64, 4) / 8.0
    outer = np.outer(u, v)  # products of dyadic fractions with few bits: exact
    assert exact_rank(outer, [0]).rank == fraction_rank(outer) == 1
    perturbed = outer.copy()
    perturbed[1, 2] += 1 / 3
    assert exact_rank(perturbed, [0]).rank == fraction_rank(perturbed) == 2
