"""Networks saved whole (``torch.save(net)``, pickle, ``copy.deepcopy``) load as the same
function: every kind of network and pooling operator, the registered operators by name."""
from __future__ import annotations

import copy
import functools
import io
import pickle

import pytest
import torch
from oracles import NET_CASES

import convac
from convac.nets.mixed import MixedConvAC, common_nodes
from convac.nets.pooling import POOLING_OPERATORS, pooling_operator, resolve_pooling

NETWORKS = {
    **{case: functools.partial(make, 3, False, "mirror") for case, make in NET_CASES.items()},
    "shared": functools.partial(NET_CASES["ht"], 3, True, "contiguous"),
    "tree": lambda: convac.ConvAC(5, 2, tree=((0, 3), (1, (4, 2))), ranks=2, seed=3),
    "tt": lambda: convac.TTNet(6, 2, (2, 3, 1, 2, 2), seed=3),
}


def _features(net, batch=4):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen)


def _round_trips(net):
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    yield "torch.save", torch.load(buf, weights_only=False)
    yield "pickle", pickle.loads(pickle.dumps(net))
    yield "deepcopy", copy.deepcopy(net)


@pytest.mark.parametrize("pooling", ["product", "relu-max", "relu-sum"])
@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_a_saved_network_is_the_same_function(kind, pooling):
    """Outputs bit-identical (the same weights through the same code in one process), the
    same schedule and order, the registered operator itself."""
    net = NETWORKS[kind]()
    net.pooling = resolve_pooling(pooling)
    x = _features(net)
    with torch.no_grad():
        expected = net(x)
        for how, loaded in _round_trips(net):
            assert loaded.pooling is POOLING_OPERATORS[pooling], how
            assert loaded.schedule == net.schedule, how
            assert torch.equal(loaded.order, net.order), how
            assert torch.equal(loaded(x), expected), how


def test_an_unregistered_operator_pickles_by_its_fields():
    op = pooling_operator("pairwise-product", torch.mul)
    loaded = pickle.loads(pickle.dumps(op))
    assert loaded == op and loaded is not op
    a, b = torch.tensor([2.0, -3.0]), torch.tensor([5.0, 7.0])
    assert torch.equal(loaded.combine(a, b), op.combine(a, b))


def _mixed():
    a = convac.ConvAC(8, 2, (2, 2, 2), 2, geometry="contiguous", seed=1)
    b = convac.ConvAC(8, 2, (2, 2, 2), 2, geometry="mirror", seed=2)
    return MixedConvAC(a, b, common_nodes(a, b)), torch.randn(
        3, 8, 2, generator=torch.Generator().manual_seed(4))


def _recurrent():
    return convac.RAC(3, 2, 2, n_outputs=2, seed=5), torch.randn(
        3, 6, 3, generator=torch.Generator().manual_seed(4))


def _pipeline():
    net = torch.nn.Sequential(convac.Patches(4), convac.Representation("gaussian", 16, 6),
                              convac.HTNet(16, 6, 3, window=4, seed=6))
    return net, torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(4))


@pytest.mark.parametrize("make", [_mixed, _recurrent, _pipeline])
def test_the_other_modules_save_whole(make):
    """A mixed network, a recurrent circuit and patches -> representation -> network."""
    net, x = make()
    with torch.no_grad():
        expected = net(x)
        for how, loaded in _round_trips(net):
            assert torch.equal(loaded(x), expected), how
