"""Recurrent arithmetic circuits and tensor trains: forward against a per-sample oracle,
the depth-1 RAC against a dense tensor-train oracle, exact ranks against the dense SVD,
and the two papers' bounds as seeded properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convac import (
    HTNet,
    InvalidTypeError,
    InvalidValueError,
    TTNet,
    coefficient_tensor,
    matricization_rank,
    trainable_parameters,
)
from convac.nets.recurrent import RAC, rac_parameter_count
from convac.rank import theory
from convac.rank.bounds import min_cut_bound
from convac.rank.recurrent import (
    balanced_clusters,
    ht_ranks,
    rac_coefficient_tensor,
    rac_exact_rank,
    rac_residue_tensor,
    sequential_partitions,
    tt_ranks,
)
from convac.tensors.coefficient import one_hot_tensor
from tests.oracles import assert_close

PRIME = 2_097_143


def per_sample_oracle(rac: RAC, seq: np.ndarray) -> np.ndarray:
    """One sequence ``(T, M)``, every entry by explicit loops (no batched matmul)."""
    ins = [w.detach().numpy() for w in rac.input_weights]
    hid = [w.detach().numpy() for w in rac.hidden_weights]
    init = [h.detach().numpy() for h in rac.initial_states]
    below = [list(map(float, x)) for x in seq]  # h^0_t
    for w_in, w_h, h0 in zip(ins, hid, init, strict=True):
        r = len(h0)
        h = list(map(float, h0))
        states = []
        for x in below:
            h = [sum(w_h[i, j] * h[j] for j in range(r))
                 * sum(w_in[i, j] * x[j] for j in range(len(x))) for i in range(r)]
            states.append(h)
        below = states
    w_out = rac.output_weight.detach().numpy()
    return np.array([sum(w_out[y, j] * below[-1][j] for j in range(len(below[-1])))
                     for y in range(w_out.shape[0])])


def dense_tt(cores: list[np.ndarray]) -> np.ndarray:
    """``A[d_1..d_T] = G_1[d_1] @ .. @ G_T[d_T]`` for cores ``(r_{t-1}, M, r_t)`` with
    ``r_0 = r_T = 1``: the tensor-train oracle."""
    out = cores[0]  # (1, M, r_1)
    for g in cores[1:]:
        out = np.einsum("a...b,bmc->a...mc", out, g)  # (1, M, .., M, r_t)
    return out[0, ..., 0]


def rac_tt_cores(rac: RAC, n_steps: int, output: int = 0) -> list[np.ndarray]:
    """The tensor-train cores of a depth-1 RAC: ``h_t = diag(W^I[:, d]) W^H h_{t-1}``, so
    ``G_t[d] = (diag(W^I[:, d]) W^H)^T``, the first times ``h_0``, the last times ``W^O``."""
    w_in = rac.input_weights[0].detach().numpy()  # (R, M)
    w_h = rac.hidden_weights[0].detach().numpy()  # (R, R)
    h0 = rac.initial_states[0].detach().numpy()  # (R,)
    w_out = rac.output_weight.detach().numpy()[output]  # (R,)
    step = np.stack([(np.diag(w_in[:, d]) @ w_h).T for d in range(w_in.shape[1])], 1)  # (R,M,R)
    cores = [step.copy() for _ in range(n_steps)]
    cores[0] = np.einsum("amb,a->mb", step, h0)[None]  # (1, M, R)
    cores[-1] = np.einsum("amb,b->am", cores[-1], w_out)[..., None]  # (R or 1, M, 1)
    return cores


def _integer_rac(m, width, depth, seed, low=-3, high=3):
    rac = RAC(m, width, depth, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in rac.parameters():
            p.copy_(torch.randint(low, high + 1, p.shape, generator=gen).double())
    return rac


def ttnet_from_rac(rac: RAC, n_steps: int) -> TTNet:
    """The TTNet equal to a depth-1 RAC over ``n_steps``: with ``g_t`` the RAC's state, the
    caterpillar's node ``t`` holds ``W^H g_t``; so leaf 0 takes
    ``W^H diag(W^H h_0) W^I``, the other leaves ``W^I``, the inner nodes ``W^H`` and the
    root ``W^O``."""
    w_in, w_h = rac.input_weights[0].detach(), rac.hidden_weights[0].detach()
    h0, w_out = rac.initial_states[0].detach(), rac.output_weight.detach()
    tt = TTNet(n_steps, rac.n_channels, rac.widths[0], rac.n_outputs, dtype=torch.float64)
    weights = tt.node_weights()
    with torch.no_grad():
        weights[0].copy_(w_h @ torch.diag(w_h @ h0) @ w_in)
        for p in range(1, n_steps):
            weights[p].copy_(w_in)
        for k in range(n_steps, 2 * n_steps - 2):
            weights[k].copy_(w_h)
        weights[-1].copy_(w_out)
    return tt


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("steps", [2, 3, 6])
def test_depth1_rac_is_a_ttnet(seed, steps):
    rac = RAC(3, 2, 1, n_outputs=2, seed=seed, dtype=torch.float64)
    tt = ttnet_from_rac(rac, steps)
    x = torch.randn(7, steps, 3, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    assert_close(tt(x), rac(x))
    for y in (0, 1):  # the TTNet's coefficient tensor (its tree fold) against the TT oracle
        want = torch.from_numpy(dense_tt(rac_tt_cores(rac, steps, y)))
        assert_close(coefficient_tensor(tt, y), want)


def ttnet_cores(tt: TTNet, output: int = 0) -> list[np.ndarray]:
    """Tensor-train cores of a TTNet read off its weights: node ``k`` computes
    ``W_k (u_{k-1} * A_k x_k)``, so ``G_0[d] = A_0[:, d]`` and
    ``G_k[d] = diag(A_k[:, d]) W_k^T`` (the root's ``W`` restricted to ``output``)."""
    w = [x.detach().double().numpy() for x in tt.node_weights()]
    n = tt.n_patches
    inner = w[n:-1] + [w[-1][output : output + 1]]  # W_1 .. W_{N-1}, (r_out, r_in)
    cores = [w[0].T[None]]  # (1, M, r)
    for k in range(1, n):
        cores.append(np.stack([np.diag(w[k][:, d]) @ inner[k - 1].T
                               for d in range(w[k].shape[1])], 1))  # (r_in, M, r_out)
    return cores


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n,ranks", [(3, (2, 3)), (5, (2, 3, 3, 2)), (6, 2)])
def test_ttnet_coefficient_tensor_is_the_dense_tensor_train(seed, n, ranks):
    tt = TTNet(n, 3, ranks, n_outputs=2, seed=seed, dtype=torch.float64)
    for y in (0, 1):
        assert_close(coefficient_tensor(tt, y), torch.from_numpy(dense_tt(ttnet_cores(tt, y))))


@pytest.mark.parametrize("depth,width", [(1, 3), (2, 2), (2, (3, 2)), (3, (2, 3, 2))])
@pytest.mark.parametrize("steps", [1, 4])
def test_forward_matches_per_sample_oracle(depth, width, steps):
    rac = RAC(3, width, depth, n_outputs=2, seed=7, dtype=torch.float64)
    x = torch.randn(5, steps, 3, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    got = rac(x)
    want = torch.tensor(np.stack([per_sample_oracle(rac, s) for s in x.numpy()]))
    assert got.shape == (5, 2)
    assert_close(got, want)


def test_forward_float32_and_gradients():
    rac = RAC(2, 3, 2, seed=0)
    x = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(0))
    out = rac(x)
    assert out.dtype == torch.float32 and out.shape == (4, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in rac.parameters())


def test_seeded_construction_is_reproducible():
    a, b = RAC(2, 3, 2, seed=3), RAC(2, 3, 2, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("m,width,depth,y", [(3, 2, 1, 1), (2, (3, 4), 2, 3), (5, 1, 3, 2)])
def test_parameter_count_closed_form(m, width, depth, y):
    rac = RAC(m, width, depth, n_outputs=y, seed=1)  # seed 0 of (5, 1, 3) clamps: tested below
    assert rac_parameter_count(m, width, depth, y) == trainable_parameters(rac)


def test_bad_input_is_refused_with_a_clear_error():
    rac = RAC(3, 2, 2)
    with pytest.raises(InvalidValueError, match=r"n_channels=3"):
        rac(torch.zeros(2, 4, 2))
    with pytest.raises(InvalidValueError, match="3 dimensions"):
        rac(torch.zeros(4, 3))
    with pytest.raises(InvalidValueError, match="one int or 2 ints"):
        RAC(3, (2, 2, 2), 2)
    with pytest.raises(InvalidTypeError, match="RAC"):
        rac_exact_rank(object(), 4)
    with pytest.raises(InvalidValueError, match="even n_steps"):
        theory.rac_deep_start_end_lower(5, 2, 2)


def test_one_hot_tensor_is_the_coefficient_tensor():
    rac = RAC(2, 2, 2, seed=1, dtype=torch.float64)
    a = rac_coefficient_tensor(rac, 3)
    eye = torch.eye(2, dtype=torch.float64)
    for idx in [(0, 0, 0), (1, 0, 1), (1, 1, 0)]:
        assert_close(a[idx], rac(eye[list(idx)][None])[0, 0])
    b = one_hot_tensor(lambda f: rac(f)[:, 0], 2, 3, batch_size=3)
    assert_close(a, b)  # other batch sizes: other summation orders


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("steps", [2, 5])
def test_depth1_rac_is_a_tensor_train(seed, steps):
    rac = RAC(3, 2, 1, n_outputs=2, seed=seed, dtype=torch.float64)
    for y in (0, 1):
        want = torch.from_numpy(dense_tt(rac_tt_cores(rac, steps, y)))
        assert_close(rac_coefficient_tensor(rac, steps, y), want)


def test_residue_tensor_is_the_integer_tensor_mod_p():
    """Small integer weights, short sequences: the float64 tensor is exact, and its
    residues are what the mod-p recurrence gives."""
    rac = _integer_rac(2, 2, 2, 0)
    exact = rac_coefficient_tensor(rac, 4).numpy()
    assert np.abs(exact).max() < 2**40
    assert np.array_equal(rac_residue_tensor(rac, 4, PRIME), np.mod(exact, PRIME))


@pytest.mark.parametrize("depth,steps,high", [(1, 6, 3), (2, 4, 2)])
@pytest.mark.parametrize("seed", range(2))
def test_exact_rank_equals_the_rank_over_q(depth, steps, high, seed):
    """Small integer weights, short sequences: every value of the float64 recurrence is an
    integer below 2^53 (at most (R w)^(2T) (R w^2)^(T(T+1)/2) in magnitude, w = high), so
    the one-hot tensor is exact; its rank over Q (python-flint) is the oracle of the
    mod-p ranks."""
    pytest.importorskip("flint")
    rac = _integer_rac(2, 2, depth, seed, -high, high)
    tensor = rac_coefficient_tensor(rac, steps)
    assert tensor.abs().max() < 2**40
    for part in ("left-right", "odd-even", [0, steps - 1]):
        exact = rac_exact_rank(rac, steps, part)
        assert exact.is_certified and len(exact.ranks_mod) == 2
        assert exact.rank == matricization_rank(tensor, part, "exact", field="Q").rank


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("steps,m,r", [(4, 2, 2), (6, 3, 2), (8, 2, 3)])
def test_depth1_start_end_rank_is_at_most_the_width(seed, steps, m, r):
    """Levine et al., Thm 1 (depth 1): sep_(S,E) <= R, for every T; generic: equal."""
    rac = RAC(m, r, 1, seed=seed, dtype=torch.float64)
    rank = rac_exact_rank(rac, steps).rank
    assert rank == theory.rac_shallow_start_end_bound(steps, m, r) == min(r, m ** (steps // 2))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("steps,m,r", [(2, 2, 2), (4, 2, 2), (6, 3, 2), (8, 2, 2), (6, 2, 3)])
def test_depth2_start_end_rank_between_the_bounds(seed, steps, m, r):
    """Levine et al., Thm 1 (depth 2): sep_(S,E) >= C(min(M,R) + T/2 - 1, T/2) almost
    everywhere; convac's count R * C(R + T/2 - 1, T/2) bounds it above."""
    rac = RAC(m, r, 2, seed=seed, dtype=torch.float64)
    rank = rac_exact_rank(rac, steps).rank
    lower = theory.rac_deep_start_end_lower(steps, m, r)
    upper = theory.rac_deep_start_end_upper(steps, m, r)
    assert lower <= rank <= upper
    assert rank > theory.rac_shallow_start_end_bound(steps, m, r) or steps == 2


def test_deep_bounds_grow_with_the_sequence_and_the_shallow_one_does_not():
    lows = [theory.rac_deep_start_end_lower(t, 3, 3) for t in (2, 4, 6, 8)]
    assert lows == [3, 6, 10, 15]  # C(q + T/2 - 1, T/2), q = 3
    assert {theory.rac_shallow_start_end_bound(t, 3, 3) for t in (2, 4, 6, 8)} == {3}
    assert theory.rac_deep_start_end_upper(8, 2, 2) == min(16, 2 * math.comb(5, 4))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("d,n,r", [(4, 2, 2), (4, 3, 2), (6, 2, 2), (6, 3, 3), (8, 2, 2),
                                   (4, 2, 3)])
def test_generic_tensor_train_odd_even_rank(seed, d, n, r):
    """Khrulkov et al., Thm 1: a generic TT of ranks r has CP-rank >= min(n, r)^(d/2),
    certified by its odd-even matricization (exact rank of the dense oracle); its
    sequential cuts have rank min(r, n^k, n^(d-k)).  Integer cores: the dense tensor is
    exact (a float tensor's rounding errors would have full exact rank)."""
    rng = np.random.default_rng(100 + seed)
    ranks = [1] + [r] * (d - 1) + [1]
    cores = [rng.integers(-50, 51, (ranks[k], n, ranks[k + 1])) for k in range(d)]
    tensor = torch.from_numpy(dense_tt(cores).astype(np.float64))
    assert np.abs(tensor.numpy()).max() < 2**53
    odd_even = matricization_rank(tensor, "odd-even", "exact").rank
    assert odd_even >= theory.tt_odd_even_rank(d, n, r)  # a lower bound, almost everywhere
    if n <= r:  # and the matrix's side: reached
        assert odd_even == theory.tt_odd_even_rank(d, n, r) == n ** (d // 2)
    seq = [int(matricization_rank(tensor, list(p), "exact")) for p in sequential_partitions(d)]
    assert seq == [min(r, n ** k, n ** (d - k)) for k in range(1, d)]


def test_table_2_closed_forms():
    """Khrulkov et al., Thm 2 / Table 2 as printed: r^2, and r^(log2(d)/2) (an integer
    power only for d a power of 4)."""
    assert theory.tt_to_ht_rank_bound(3) == 9
    assert theory.ht_to_tt_rank_bound(4, 3) == 3.0
    assert theory.ht_to_tt_rank_bound(16, 2) == 4.0
    assert theory.ht_to_tt_rank_bound(8, 2) == pytest.approx(2**1.5)
    with pytest.raises(InvalidValueError, match="n_modes"):
        theory.ht_to_tt_rank_bound(1, 2)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n,m,r", [(8, 2, 2), (8, 3, 2), (8, 3, 3)])
def test_table_2_tt_to_ht_is_reached(seed, n, m, r):
    """Table 2, column TT-Network: a TT network of width r has HT-rank <= r^2, and the
    certified HT-rank of a seeded one reaches it (the bound is sharp, as the paper says)."""
    net = TTNet(n, m, r, seed=seed, dtype=torch.float64)
    assert max(ht_ranks(net, n)) == theory.tt_to_ht_rank_bound(r)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n,m,r", [(4, 3, 2), (8, 2, 2), (8, 3, 2), (8, 3, 3), (16, 2, 2)])
def test_table_2_ht_to_tt_against_certified_ranks(seed, n, m, r):
    """Table 2, column HT-Network: the TT-rank of an HT network of width r, certified
    exactly, equals the largest min-cut of the sequential cuts.  It is within the printed
    r^(log2(d)/2) for d = 4 and 16 and exceeds it for d = 8 (r^2 > r^1.5): the printed
    entry does not hold there (docs/recurrent.md)."""
    net = HTNet(n, m, r, seed=seed, dtype=torch.float64)
    tt = max(tt_ranks(net, n))
    assert tt == max(int(min_cut_bound(net, list(p))) for p in sequential_partitions(n))
    if n == 8:
        assert tt == r**2 > theory.ht_to_tt_rank_bound(n, r)
    else:
        assert tt <= theory.ht_to_tt_rank_bound(n, r)


def test_partition_helpers():
    assert sequential_partitions(4) == [(0,), (0, 1), (0, 1, 2)]
    assert balanced_clusters(4) == [(0,), (1,), (2,), (3,), (0, 1), (2, 3)]
    with pytest.raises(InvalidValueError, match="power of two"):
        balanced_clusters(6)


@given(m=st.integers(1, 3), width=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       half=st.integers(1, 3), seed=st.integers(0, 2**16))
@settings(max_examples=30, deadline=None, derandomize=True)
def test_random_racs_respect_the_bounds(m, width, half, seed):
    """Random shapes: the certified start-end rank of any RAC is at most the matrix side;
    of a depth-1 RAC exactly min(R, M^(T/2)) (generic weights); of a depth-2 RAC within
    [paper's lower, convac's upper] bound when both layers have the same width."""
    steps, depth = 2 * half, len(width)
    rac = RAC(m, width, depth, seed=seed, dtype=torch.float64)
    rank = rac_exact_rank(rac, steps).rank
    assert 1 <= rank <= m ** half
    if depth == 1:
        assert rank == theory.rac_shallow_start_end_bound(steps, m, width[0])
    if depth == 2 and width[0] == width[1]:
        r = width[0]
        assert (theory.rac_deep_start_end_lower(steps, m, r) <= rank
                <= theory.rac_deep_start_end_upper(steps, m, r))


@pytest.mark.parametrize("seed", [0, 21, 45, 49])
def test_a_scale_beyond_float32_is_clamped_with_a_warning(seed):
    """A deep width-1 RAC whose probe asks for constants beyond float32 (its states
    spread like T^(L - 1/2) in log; seed 0 a gain below float32's smallest normal, the
    others an initial state above its largest): constructed with a warning naming the
    constant, every parameter finite and no matrix or state flushed to zero; in float64
    the same seed keeps its constants, and the float32 states are them clamped."""
    with pytest.warns(RuntimeWarning, match="outside torch.float32's range"):
        rac = RAC(5, 1, 3, n_outputs=2, seed=seed)
    for p in rac.parameters():
        assert bool(torch.isfinite(p).all()) and bool((p != 0).any())
    info = torch.finfo(torch.float32)
    wide = RAC(5, 1, 3, n_outputs=2, seed=seed, dtype=torch.float64)
    for narrow, exact in zip(rac.initial_states, wide.initial_states, strict=True):
        want = min(max(float(exact.detach()), info.tiny), info.max)
        assert float(narrow.detach()) == pytest.approx(want, rel=1e-6)
