"""The Kronecker-pair determinant certificate (convac.rank.modp.kron_pair_nonsingular) and the
exact rank's route through it, against the dense elimination of the same root core."""

import numpy as np
import pytest

import convac
from convac.rank import exact, modp
from convac.rank.cuts import min_cut_bound
from convac.rank.exact import ModField, exact_rank, integer_network
from convac.rank.structured import _term_split, predict_core_shape, root_core

pytest.importorskip("flint")

P = modp.DEFAULT_PRIMES[0]


def dense_nonsingular(head, last, prime):
    core = np.kron(head[0], last[0]) + np.kron(head[1], last[1])  # products < 2^44: exact
    return modp.rank_mod(np.mod(core, prime), prime) == core.shape[0]


def _invertible(rng, n, prime):
    while True:
        mat = rng.integers(0, prime, (n, n)).astype(np.float64)
        if modp.rank_mod(mat, prime) == n:
            return mat


@pytest.mark.parametrize("seed", range(30))
def test_random_pairs_match_the_dense_determinant(seed):
    rng = np.random.default_rng(seed)
    prime = int(rng.choice([3, 5, 101, P]))
    n, m = (int(x) for x in rng.integers(1, 9, 2))
    head = rng.integers(0, prime, (2, n, n)).astype(np.float64)
    last = rng.integers(0, prime, (2, m, m)).astype(np.float64)
    got = modp.kron_pair_nonsingular(head, last, prime)
    if got is None:  # undecided only when no pair H_a, L_a is invertible
        assert not any(modp.rank_mod(head[a], prime) == n and
                       modp.rank_mod(last[a], prime) == m for a in (0, 1))
    else:
        assert got == dense_nonsingular(head, last, prime)


@pytest.mark.parametrize("seed", range(10))
def test_singular_pairs_are_found(seed):
    """``H_1 = H_0 X``, ``L_1 = L_0 Y`` with eigenvalues ``x y = -1`` mod p: ``A`` is
    singular though every factor is invertible (and nonsingular once the pair is broken)."""
    rng = np.random.default_rng(seed)
    prime = int(rng.choice([101, P]))
    n, m = (int(x) for x in rng.integers(2, 7, 2))
    x = np.diag(rng.integers(1, prime, n)).astype(np.float64)
    y = np.diag(rng.integers(1, prime, m)).astype(np.float64)
    y[0, 0] = (-pow(int(x[0, 0]), -1, prime)) % prime  # x_0 y_0 = -1
    h0, l0 = _invertible(rng, n, prime), _invertible(rng, m, prime)
    # conjugate so that the eigenvalues are not on the diagonal of the factors
    s = _invertible(rng, n, prime)
    s_inv = np.array(np.round(modp._flint_inverse(s, prime)))
    x = modp.mul_mod(modp.mul_mod(s, x, prime), s_inv, prime)
    head = np.stack([h0, modp.mul_mod(h0, x, prime)])
    last = np.stack([l0, modp.mul_mod(l0, y, prime)])
    assert modp.kron_pair_nonsingular(head, last, prime) is False
    assert not dense_nonsingular(head, last, prime)
    last[1, 0, 0] = (last[1, 0, 0] + 1) % prime
    assert modp.kron_pair_nonsingular(head, last, prime) == dense_nonsingular(head, last,
                                                                             prime)


def test_undecided_shapes():
    assert modp.kron_pair_nonsingular(np.ones((2, 2, 3)), np.ones((2, 2, 2)), P) is None
    assert modp.kron_pair_nonsingular(np.ones((3, 2, 2)), np.ones((3, 2, 2)), P) is None
    zeros = np.zeros((2, 3, 3))
    assert modp.kron_pair_nonsingular(zeros, zeros, P) is None


@pytest.mark.parametrize("case", [
    (8, 2, (2, 2, 2), 2, {}), (16, 2, (2,) * 4, 2, {}), (12, 3, (2, 2, 3), 2, {}),
    (16, 2, (2,) * 4, 2, {"low": -1, "high": 1}), (8, 3, (2, 4), 2, {"low": 0, "high": 2}),
    (16, 2, (4, 4), 2, {"seed": 3, "low": -2, "high": 2}),
    (14, 2, (2, 7), 2, {}), (14, 2, (2, 7), 2, {"seed": 5, "low": -1, "high": 1}),
    (12, 2, (2, 6), 2, {"seed": 2, "low": 0, "high": 2}),
])
def test_exact_rank_through_the_route_equals_the_dense_route(monkeypatch, case):
    """The same exact rank with the Kronecker route tried at every size and never: every
    prime run explicitly, narrow integer weights included (singular roots happen)."""
    n, m, windows, r, weights = case
    net = integer_network(n, m, windows, r, **weights)
    primes = (3, 7, P)
    monkeypatch.setattr(exact, "KRON_MIN_SIDE", 1)
    routed = exact_rank(net, "odd-even", primes=primes)
    monkeypatch.setattr(exact, "KRON_MIN_SIDE", 10**9)
    dense = exact_rank(net, "odd-even", primes=primes)
    assert routed.ranks_mod == dense.ranks_mod


def test_moonshot_rank_65536_certified():
    """``ConvAC(32, 2, (2,) * 5, 2)``, odd-even: min-cut 65536, certified by the root's
    two 256 x 256 Kronecker terms (the dense core would be 32 GiB of float64)."""
    net = convac.ConvAC(32, 2, (2,) * 5, 2, seed=0)
    bound = min_cut_bound(net, "odd-even")
    res = exact_rank(net, "odd-even", max_bytes=2**28)
    assert bound == res.rank == 65536 and res.is_certified
    assert "Kronecker-pair" in res.certified


def test_root_terms_sum_to_the_root_core():
    net = integer_network(16, 2, (2,) * 4, 2, seed=1)
    field = ModField(P)
    head, last = root_core(net, "odd-even", 0, field, terms=True)
    assert head.cores.shape == last.cores.shape == (2, 16, 16)
    summed = np.mod(np.kron(head.cores[0], last.cores[0])
                    + np.kron(head.cores[1], last.cores[1]), P)
    assert np.array_equal(summed, root_core(net, "odd-even", 0, field).cores)


def test_term_split_is_square_and_balanced():
    assert _term_split([(4, 4)] * 7) == 3  # 64 and 256 (4 and 4096 uncut)
    assert _term_split([(2, 2), (8, 8)]) == 1
    assert _term_split([(2, 4), (4, 2), (3, 3)]) == 2  # only the cut after the pair is square
    assert _term_split([(2, 4), (3, 3), (4, 2)]) == 2  # none square: all but the last


@pytest.mark.parametrize("seed", range(3))
def test_balanced_terms_of_a_wide_root_sum_to_its_core(seed):
    """A root window of 7 two-sided children: the terms are cut 3 + 4 (8 and 16 on a
    side), and their Kronecker sum is the root core itself (brute force)."""
    net = integer_network(14, 2, (2, 7), 2, seed=seed)
    field = ModField(P)
    head, last = root_core(net, "odd-even", 0, field, terms=True)
    assert head.cores.shape == (2, 8, 8) and last.cores.shape == (2, 16, 16)
    assert max(predict_core_shape(net, "odd-even", terms=True)[1:]) >= 16
    summed = np.mod(np.kron(head.cores[0], last.cores[0])
                    + np.kron(head.cores[1], last.cores[1]), P)
    assert np.array_equal(summed, root_core(net, "odd-even", 0, field).cores)


def test_rank_16384_certified_by_balanced_terms():
    """``ConvAC(28, 64, (2, 2, 7), 2)``, odd-even: min-cut 16384; the root's seven
    4-sided children cut into 64- and 256-sided terms, certified within 256 MiB (the dense
    core would be 2 GiB)."""
    net = convac.ConvAC(28, 64, (2, 2, 7), 2, seed=0)
    res = exact_rank(net, "odd-even", max_bytes=2**28)
    assert min_cut_bound(net, "odd-even") == res.rank == 16384 and res.is_certified
    assert "Kronecker-pair" in res.certified
