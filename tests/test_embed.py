"""CP -> HT embedding (COLT 2016, footnote 4)."""

import pytest
import torch
from oracles import assert_close

import convac


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("n", "m", "k", "y", "window"),
                         [(4, 3, 2, 1, 2), (8, 4, 5, 2, 2), (16, 3, 3, 1, 2), (16, 2, 3, 2, 4)])
def test_embedding_keeps_function_and_counts(n, m, k, y, window, shared):
    cp = convac.CPNet(n, m, k, n_outputs=y, shared=shared, seed=n + k).double()
    ht = convac.embed_cp_in_ht(cp, window=window)
    assert isinstance(ht, convac.HTNet) and ht.ranks == (k,) * ht.schedule.n_levels
    feats = torch.randn(32, n, m, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert_close(ht(feats), cp(feats))
    if window == 2 and not shared:
        assert convac.parameter_count(ht) == n * m * k + (n - 2) * k * k + k * y
    assert convac.parameter_count(ht) == convac.trainable_parameters(ht)


def test_embedding_keeps_coefficient_tensor_and_mirror_geometry():
    cp = convac.CPNet(8, 3, 4, geometry="mirror", seed=3).double()
    ht = convac.embed_cp_in_ht(cp)
    assert_close(convac.coefficient_tensor(ht), convac.coefficient_tensor(cp))


def test_embedding_rejects_deep_networks():
    with pytest.raises(ValueError, match=r"expected a CP network with windows \(n_patches,\), "
                                         r"got \(2, 2\)"):
        convac.embed_cp_in_ht(convac.HTNet(4, 2, 2))
    with pytest.raises(ValueError, match=r"n_patches=6 is not a power of window=2"):
        convac.embed_cp_in_ht(convac.CPNet(6, 2, 2))
