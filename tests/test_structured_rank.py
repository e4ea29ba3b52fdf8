"""Structured rank and singular values against the dense oracle."""

import numpy as np
import pytest
import torch
from oracles import partition_for

import convac
from convac.rank import theory
from convac.rank.methods import AUTO_DENSE_MAX_ENTRIES, RANK_METHODS
from convac.rank.structured import structured_singular_values

# tiny configurations (dense is the oracle): CP, HT, truncated, window 4, mixed windows
CASES = {
    "cp": lambda seed, sh, g: convac.CPNet(6, 3, 4, n_outputs=2, shared=sh, geometry=g,
                                           seed=seed),
    "ht": lambda seed, sh, g: convac.HTNet(8, 2, (2, 3, 2), n_outputs=2, shared=sh,
                                           geometry=g, seed=seed),
    "ht-r<m": lambda seed, sh, g: convac.HTNet(8, 3, 2, shared=sh, geometry=g, seed=seed),
    "truncated": lambda seed, sh, g: convac.ConvAC(8, 2, convac.truncated_windows(8, 2),
                                                   (3, 2), shared=sh, geometry=g, seed=seed),
    "window4": lambda seed, sh, g: convac.HTNet(16, 2, 2, window=4, shared=sh, geometry=g,
                                                seed=seed),
    "mixed": lambda seed, sh, g: convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), shared=sh,
                                               geometry=g, seed=seed),
}


def make(case, seed=0, shared=False, geometry="contiguous"):
    return CASES[case](seed, shared, geometry).double()


def assert_sv_match(structured, dense):
    """Structured values equal the leading dense ones; the dense rest is round-off."""
    k = structured.shape[0]
    assert k <= dense.shape[0]
    scale = dense[0]
    np.testing.assert_allclose(structured, dense[:k], rtol=0, atol=1e-12 * scale)
    assert np.all(dense[k:] <= 1e-12 * scale)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["odd-even", "left-right", "random"])
@pytest.mark.parametrize("geometry", ["contiguous", "mirror"])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_structured_matches_dense(case, shared, geometry, kind, seed):
    net = make(case, seed, shared, geometry)
    part = partition_for(kind, net.n_patches, seed)
    dense = convac.matricization_rank(net, part, method="dense")
    structured = convac.matricization_rank(net, part, method="structured")
    assert structured.method == "structured"
    assert structured.rank == dense.rank
    assert_sv_match(structured_singular_values(net, part), dense.singular_values)
    assert_sv_match(structured.singular_values, dense.singular_values)


@pytest.mark.parametrize("case", ["cp", "ht"])
def test_other_output(case):
    net = make(case, seed=3)
    for output in range(net.n_outputs):
        dense = convac.matricization_rank(net, "odd-even", output=output)
        sv = structured_singular_values(net, "odd-even", output=output)
        assert_sv_match(sv, dense.singular_values)
    # the two outputs really differ, so the output index is used
    a = structured_singular_values(net, "odd-even", output=0)
    b = structured_singular_values(net, "odd-even", output=1)
    assert a.shape != b.shape or not np.allclose(a, b)


def test_custom_geometry_and_float32():
    order = [3, 0, 7, 5, 1, 6, 2, 4]
    net = convac.HTNet(8, 3, (2, 3, 2), geometry=order, seed=5)  # float32 weights
    dense = convac.matricization_rank(net, [0, 1, 5])
    sv = structured_singular_values(net, [0, 1, 5])
    assert sv.dtype == np.float64
    assert_sv_match(sv, dense.singular_values)
    assert convac.matricization_rank(net, [0, 1, 5], method="structured").rank == dense.rank


@pytest.mark.parametrize(("n", "m", "r", "seed"), [(16, 3, 2, 0), (16, 2, 3, 1), (32, 2, 1, 2)])
def test_theorem1_at_scale(n, m, r, seed):
    """Odd-even rank min(r_0, M)^(N/2) where the dense tensor would not be built."""
    net = convac.HTNet(n, m, r, seed=seed)
    res = convac.matricization_rank(net, "odd-even", method="structured")
    assert res.rank == theory.ht_odd_even_rank(n, m, r)
    assert not res.ambiguous


@pytest.mark.parametrize("shared", [False, True])
def test_wide_windows_stay_small(shared):
    """A CP net pools 64 children at once; partial products are compressed, so its rank
    min(K, M^32) = K comes out without a 3^32-sided core.  Unit-norm leaf vectors keep
    the K terms comparable (x_k^(64) would otherwise differ by |x_k|^64)."""
    net = convac.CPNet(64, 3, 5, shared=shared, seed=1).double()
    with torch.no_grad():
        w = net.weights[0]
        w.div_(w.norm(dim=-1, keepdim=True))  # unit leaf vectors
    for part in ("odd-even", "left-right", list(range(0, 64, 3))):
        res = convac.matricization_rank(net, part, method="structured")
        assert res.rank == convac.min_cut_bound(net, part) == 5
        assert res.singular_values.shape == (5,)


@pytest.mark.parametrize("case", ["ht", "mixed", "cp"])
def test_channel_rescaling_is_invisible(case):
    """Scale a level's channel by 1e-30 and undo it in the parent's weights: the tensor
    is unchanged, so the structured singular values must be too."""
    net = make(case, seed=6)
    ref = structured_singular_values(net, "odd-even")
    with torch.no_grad():
        net.weights[0][..., 1, :].mul_(1e-30)  # channel 1 of every leaf
        net.weights[1][..., 1].mul_(1e30 ** net.windows[0])  # products of w children
    dense = convac.matricization_rank(net, "odd-even").singular_values
    np.testing.assert_allclose(structured_singular_values(net, "odd-even"), ref,
                               rtol=1e-10, atol=1e-13 * ref[0])
    assert_sv_match(ref, dense)


def test_log_scale_survives_overflow():
    """Leaf weights x 1e10 over 64 patches: sigma ~ 1e640 overflows, the rank does not."""
    net = convac.HTNet(64, 2, 1, seed=0).double()
    small = structured_singular_values(net, "left-right")
    with torch.no_grad():
        net.weights[0].mul_(1e10)
    res = convac.matricization_rank(net, "left-right", method="structured")
    assert res.rank == 1 and np.all(np.isfinite(res.singular_values))
    assert "scaled by exp(" in res.certified
    big = structured_singular_values(net, "left-right")
    assert np.isinf(big[0]) and np.isfinite(small[0]) and small[0] > 0


def test_singular_values_scale_linearly():
    net = make("mixed", seed=4)
    sv = structured_singular_values(net, "odd-even")
    with torch.no_grad():
        net.weights[-1].mul_(7.0)
    # an SVD's error is relative to the largest singular value
    np.testing.assert_allclose(structured_singular_values(net, "odd-even"), 7.0 * sv,
                               rtol=0, atol=1e-13 * 7.0 * sv[0])


@pytest.mark.parametrize("method", ["structured", "dense"])
def test_ambiguous_flag_on_near_degenerate_cp(method):
    """CP of width 2 whose second term is the first with leaves perturbed by 3e-7: the two
    rank-one terms are nearly parallel on both sides, so sigma_2 / sigma_1 ~ delta^2 sits
    just above the round-off floor and the decision is flagged."""
    gen = torch.Generator().manual_seed(0)
    net = convac.CPNet(4, 3, 2).double()
    base = torch.randn(4, 3, generator=gen, dtype=torch.float64)  # (N, M)
    clear = convac.CPNet(4, 3, 2).double()
    with torch.no_grad():
        net.weights[0][:, 0] = base
        net.weights[0][:, 1] = base + 3e-7 * torch.randn(4, 3, generator=gen,
                                                          dtype=torch.float64)
        net.weights[1].copy_(torch.tensor([[1.0, 1.0]]))
        clear.weights[0].copy_(torch.randn(4, 2, 3, generator=gen, dtype=torch.float64))
    near = convac.matricization_rank(net, "odd-even", method=method)
    assert near.ambiguous and near.margin < 1e3
    generic = convac.matricization_rank(clear, "odd-even", method=method)
    assert generic.rank == 2 and not generic.ambiguous


def test_zero_network_has_rank_zero():
    net = make("ht", seed=0)
    with torch.no_grad():
        net.weights[1].zero_()
    res = convac.matricization_rank(net, "odd-even", method="structured")
    assert res.rank == 0 and structured_singular_values(net, "odd-even").shape == (0,)
    assert convac.matricization_rank(net, "odd-even", method="dense").rank == 0


def test_explicit_rtol_is_used_and_reported():
    net = make("ht-r<m", seed=2)
    sv = structured_singular_values(net, "odd-even")
    rtol = float(sv[5] / sv[0]) * 1.000001  # just above the 6th value: rank 5
    res = convac.matricization_rank(net, "odd-even", method="structured", rtol=rtol)
    assert res.rtol == rtol and res.rank == 5 and res.ambiguous


def test_auto_picks_dense_for_tiny_and_structured_beyond():
    tiny = make("cp", seed=0)  # 3^6 = 729 entries
    assert tiny.n_channels**tiny.n_patches <= AUTO_DENSE_MAX_ENTRIES
    big = convac.HTNet(16, 3, 2, seed=0)  # 3^16 entries
    res_tiny = convac.matricization_rank(tiny, "odd-even", method="auto")
    res_big = convac.matricization_rank(big, "odd-even", method="auto")
    assert res_tiny.method == "dense" and res_big.method == "structured"
    assert res_tiny.rank == convac.matricization_rank(tiny, "odd-even", method="structured").rank
    assert res_big.rank == 2**8
    tensor = convac.coefficient_tensor(tiny)
    assert convac.matricization_rank(tensor, "odd-even", method="auto").method == "dense"


def test_methods_registered():
    assert {"dense", "structured", "auto", "exact"} <= set(RANK_METHODS)


def test_bad_input():
    net = make("cp")  # 6 modes
    with pytest.raises(ValueError, match="covers 4 modes, expected n_modes=6"):
        convac.matricization_rank(net, convac.Partition((0, 1), (2, 3)), method="structured")
    with pytest.raises(ValueError, match=r"partition\[1\] = 9 is not a mode in 0..5"):
        structured_singular_values(net, [0, 9])
    with pytest.raises(ValueError, match=r"output must be in 0\.\.1, got 2"):
        structured_singular_values(net, "odd-even", output=2)
    with pytest.raises(ValueError, match="expected a convac.ConvAC network, got ndarray"):
        structured_singular_values(np.zeros((2, 2)), "odd-even")
    with pytest.raises(ValueError, match=r"unexpected arguments .*\['batch_size'\]"):
        convac.matricization_rank(net, "odd-even", method="structured", batch_size=10)
    with pytest.raises(ValueError, match=r"shape \(2, 256, 256\) .* above the memory budget"):
        structured_singular_values(convac.HTNet(16, 3, 2), "odd-even", max_bytes=2**11)
    with pytest.raises(ValueError, match="unknown rank method 'svd'; expected one of"):
        convac.matricization_rank(net, "odd-even", method="svd")
