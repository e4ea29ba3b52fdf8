"""Closed-form parameter counts against the formulas of ARCHITECTURE.md ("The mathematics in
one page") and the module itself."""

import pytest

import convac


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("n", "m", "k", "y"), [(4, 3, 2, 1), (8, 5, 7, 3), (16, 2, 11, 2)])
def test_cp_count(n, m, k, y, shared):
    net = convac.CPNet(n, m, k, n_outputs=y, shared=shared)
    expected = (m * k if shared else n * m * k) + k * y
    assert convac.parameter_count(net) == expected == convac.trainable_parameters(net)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("n", "m", "ranks", "y"),
                         [(4, 3, (2, 3), 1), (8, 2, (3, 4, 5), 2), (16, 4, (2, 3, 4, 5), 3),
                          (32, 3, 4, 1)])
def test_ht_count(n, m, ranks, y, shared):
    net = convac.HTNet(n, m, ranks, n_outputs=y, shared=shared)
    r = net.ranks
    levels = len(r)
    inner = sum((1 if shared else n // 2**l) * r[l - 1] * r[l] for l in range(1, levels))
    expected = (1 if shared else n) * m * r[0] + inner + r[-1] * y
    assert convac.parameter_count(net) == expected == convac.trainable_parameters(net)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(("windows", "ranks"), [((2, 3, 2), (2, 3, 4)), ((3, 4), (5, 2)),
                                                ((2, 2, 3), (1, 2, 3))])
def test_general_schedule_count(windows, ranks, shared):
    n = 1
    for w in windows:
        n *= w
    net = convac.ConvAC(n, 3, windows, ranks, n_outputs=2, shared=shared, geometry="mirror")
    nodes, expected = n, (1 if shared else n) * 3 * ranks[0]
    for level in range(1, len(windows)):
        nodes //= windows[level - 1]
        expected += (1 if shared else nodes) * ranks[level - 1] * ranks[level]
    expected += ranks[-1] * 2
    assert convac.parameter_count(net) == expected == convac.trainable_parameters(net)


def test_count_rejects_other_modules():
    import torch

    with pytest.raises(ValueError, match="expected a convac.ConvAC network, got Linear"):
        convac.parameter_count(torch.nn.Linear(2, 2))
