"""Registries declared once: every registered partition, geometry and
representation against a brute-force oracle, and duplicates refused.  (Rank methods:
``tests/test_rank_methods.py``; pooling operators: ``tests/test_pooling.py``.)"""

import itertools

import numpy as np
import pytest
import torch

import convac
from convac.nets.geometry import GEOMETRIES
from convac.nets.representation import REPRESENTATIONS
from convac.tensors.matricization import PARTITIONS
from convac.validate import Registry


def test_registry_refuses_duplicates_and_lists_choices():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a", 2)
    with pytest.raises(ValueError, match=r"unknown widget 'b'; expected one of: 'a'"):
        reg["b"]


@pytest.mark.parametrize("name", list(PARTITIONS))
@pytest.mark.parametrize("n", [2, 4, 6])
def test_every_partition_matricizes_as_brute_force(name, n):
    """The named partition's matricization equals the entrywise definition
    ``[A]_{I,J}[row(i_I), col(i_J)] = A[i]`` (first mode most significant)."""
    m = 2
    tensor = torch.arange(m**n, dtype=torch.float64).reshape((m,) * n)
    part = convac.resolve_partition(name, n)
    assert sorted(part.rows + part.cols) == list(range(n)) and part.rows
    mat = convac.matricize(tensor, name)
    for index in itertools.product(range(m), repeat=n):
        row = sum(index[k] * m ** (len(part.rows) - 1 - t) for t, k in enumerate(part.rows))
        col = sum(index[k] * m ** (len(part.cols) - 1 - t) for t, k in enumerate(part.cols))
        assert mat[row, col] == tensor[index]


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_every_geometry_is_a_permutation_the_network_follows(name):
    """The registered patch order is a permutation, and the network's output equals the
    contiguous network's on inputs whose patches are permuted by it (the oracle)."""
    n = 8
    order = convac.patch_order(name, n)
    assert sorted(order.tolist()) == list(range(n))
    net = convac.HTNet(n, 3, 2, geometry=name, seed=0, dtype=torch.float64)
    plain = convac.HTNet(n, 3, 2, seed=0, dtype=torch.float64)
    x = torch.randn(5, n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(net(x), plain(x[:, torch.as_tensor(order)]))


REPRESENTATION_ARGS = {
    "one-hot": ((3,), lambda: torch.tensor([[0, 2], [1, 1]])),
    "identity": ((), lambda: torch.randn(2, 4, 3, dtype=torch.float64)),
    "linear": ((3, 5), lambda: torch.randn(2, 4, 3)),
    "relu": ((3, 5), lambda: torch.randn(2, 4, 3)),
    "gaussian": ((3, 5), lambda: torch.randn(2, 4, 3)),
}


@pytest.mark.parametrize("name", list(REPRESENTATIONS))
def test_every_representation_acts_patch_by_patch(name):
    """Each registered representation maps ``(B, N, d) -> (B, N, M)`` one patch at a time:
    on the whole batch it equals the layer applied to each patch alone (the oracle)."""
    assert name in REPRESENTATION_ARGS, f"no oracle case for representation {name!r}"
    args, make = REPRESENTATION_ARGS[name]
    torch.manual_seed(0)
    layer = convac.Representation(name, *args)
    x = make()
    out = layer(x)
    assert out.ndim == 3 and out.shape[:2] == x.shape[:2]
    for b, i in itertools.product(range(x.shape[0]), range(x.shape[1])):
        alone = layer(x[b : b + 1, i : i + 1])
        np.testing.assert_allclose(out[b, i].detach().numpy(), alone[0, 0].detach().numpy(),
                                   rtol=1e-6, atol=1e-7)
