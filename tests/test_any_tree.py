"""Networks over any pooling tree (nested tuples, parent arrays) and the tensor train /
recurrent circuit (``convac.TTNet``): every computation against its oracle.

Oracles: a pure-Python per-sample forward walking the tree from the root; the one-hot
forward for the coefficient tensor; the dense SVD rank and the exact rank for the
structured one; a brute-force min-cut over the tree's edges for the min-cut bound's
dynamic programme; the closed-form parameter counts.  A hypothesis property repeats the
agreements over random trees (random shapes, arities and ranks).
"""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import random
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import assert_close, assert_close_to_reference

import convac
from convac.nets.tree import (
    PoolingTree,
    mode_tree,
    patch_nodes,
    traverse,
    tree_from_tokens,
    tree_tokens,
)
from convac.rank.bounds import min_cut_bound
from convac.rank.methods import matricization_rank
from convac.tensors.grid import _grid_by_forward

IRREGULAR = ((0, 1), ((2, 3), (4, (5, 6))))

# (name, constructor(seed)) over irregular shapes: unequal depths, arities 2 and 3,
# per-node ranks (sequence and callable), a permuted leaf order, a parent array, TTNet
TREE_CASES = {
    "irregular": lambda s: convac.ConvAC(7, 2, tree=IRREGULAR, ranks=2, n_outputs=2, seed=s),
    "ranks_per_node": lambda s: convac.ConvAC(7, 2, tree=IRREGULAR, ranks=(2, 3, 1, 2, 3, 2),
                                              seed=s),
    "arity3_permuted": lambda s: convac.ConvAC(6, 2, tree=((5, 0, 3), (1, (4, 2))),
                                               ranks=lambda sub: 1 + len(sub), seed=s),
    "parents": lambda s: convac.ConvAC(5, 3, tree=[5, 5, 6, 6, 7, 7, 8, 8, -1], ranks=2,
                                       seed=s),
    "tt": lambda s: convac.TTNet(6, 2, 2, n_outputs=2, seed=s),
    "tt_bonds": lambda s: convac.TTNet(5, 2, (2, 3, 1, 2), seed=s),
}


def make_tree_net(case, seed=0):
    return TREE_CASES[case](seed).double()


def oracle_forward(net, features):
    """Per-sample forward in Python floats, recursing from the root over the nodes'
    children and reading each node's weight by key."""
    nodes = list(traverse(net.schedule))
    weights = [w.tolist() for w in net.node_weights()]
    order = net.order.tolist()

    def conv(w, x):
        return [sum(a * b for a, b in zip(row, x, strict=True)) for row in w]

    def value(tn, x):
        if tn.level == 0:
            return conv(weights[tn.key], x[order[tn.index]])
        kids = [value(nodes[c], x) for c in tn.children]
        pooled = [math.prod(k[ch] for k in kids) for ch in range(len(kids[0]))]
        return conv(weights[tn.key], pooled)

    return torch.tensor([value(nodes[-1], x) for x in features.tolist()], dtype=torch.float64)


def _features(net, seed, batch=5):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.n_patches, net.n_channels, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_tree_cases_are_trees(case):
    assert make_tree_net(case).is_tree


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_forward_matches_per_sample_oracle(case):
    net = make_tree_net(case, seed=1)
    x = _features(net, 2)
    with torch.no_grad():
        assert_close(net(x), oracle_forward(net, x))
    assert_close(net(x), oracle_forward(net, x))  # with autograd


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_forward_log_matches_forward(case):
    net = make_tree_net(case, seed=3)
    x = _features(net, 4)
    log_abs, sign = net.forward_log(x)
    assert_close(sign * torch.exp(log_abs), net(x))


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_coefficient_tensor_matches_one_hot_forward(case):
    net = make_tree_net(case, seed=5)
    for y in range(net.n_outputs):
        assert_close(convac.coefficient_tensor(net, y),
                     convac.coefficient_tensor_by_forward(net, y))


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_grid_tensors_match_forward(case):
    net = make_tree_net(case, seed=6)
    f = torch.randn(2, net.n_channels, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    g = convac.grid_tensor(net, f).values  # product pooling: from the weights
    assert_close(g, _grid_by_forward(net, f, 0))  # T^N forward evaluations
    point = tuple(p % 2 for p in range(net.n_patches))  # template of each patch
    x = f[list(point)][None]  # (1, N, M)
    assert_close(g[point], net(x)[0, 0])


def _partitions(n, rng, count):
    out = []
    for _ in range(count):
        size = int(rng.integers(1, n))
        out.append(sorted(rng.choice(n, size=size, replace=False).tolist()))
    return out


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_dense_structured_exact_agree(case):
    net = make_tree_net(case, seed=7)
    rng = np.random.default_rng(11)
    for part in _partitions(net.n_patches, rng, 4) + ["odd-even", "left-right"]:
        ranks = {m: matricization_rank(net, part, method=m).rank
                 for m in ("dense", "structured", "exact", "auto")}
        assert len(set(ranks.values())) == 1, (part, ranks)


def _brute_force_min_cut(net, rows):
    """Min over every assignment of the tree network's vertices to the row or column side
    (modes fixed by ``rows``) of the product of the cut edges' widths: leaf edges M,
    conv-to-pool edges and pool-to-conv edges the node's rank.  Copy tensors are not
    split, so this is at least the dynamic programme's bound."""
    nodes = list(traverse(net.schedule))
    edges = []  # (vertex a, vertex b, width); modes are -1 - p
    for tn in nodes:
        if tn.level == 0:
            edges.append((-1 - tn.index, ("c", tn.key), net.n_channels))
        else:
            edges.append((("p", tn.key), ("c", tn.key), tn.rank_in))
            edges.extend((("c", c), ("p", tn.key), tn.rank_in) for c in tn.children)
    free = sorted({v for e in edges for v in e[:2] if not isinstance(v, int)})
    best = math.inf
    for sides in itertools.product((True, False), repeat=len(free)):
        side = dict(zip(free, sides, strict=True))
        side.update({-1 - p: bool(rows[p]) for p in range(net.n_patches)})
        best = min(best, math.prod(w for a, b, w in edges if side[a] != side[b]))
    return best


@pytest.mark.parametrize("case", ["tt_bonds", "arity3_permuted"])  # 2^12 assignments at most
def test_rank_below_min_cut_and_dp_below_brute_force(case):
    net = make_tree_net(case, seed=8)
    rng = np.random.default_rng(13)
    tight = 0
    parts = _partitions(net.n_patches, rng, 6)
    for part in parts:
        rank = matricization_rank(net, part, method="exact").rank
        cut = min_cut_bound(net, part)
        order = net.order.tolist()
        rows = [order[p] in set(part) for p in range(net.n_patches)]
        assert rank <= cut <= _brute_force_min_cut(net, rows), part
        tight += rank == cut
    assert tight >= 1  # generic weights meet the bound on some of the sample


def _closed_form_params(net):
    """``N*M*r + (I-1)*r^2 + r*Y`` for one rank ``r`` over ``I`` inner nodes."""
    inner = sum(1 for tn in traverse(net.schedule) if tn.level > 0)
    r = net.schedule.ranks[0]
    return net.n_patches * net.n_channels * r + (inner - 1) * r * r + r * net.n_outputs


@pytest.mark.parametrize("case", ["irregular", "parents", "tt"])
def test_parameter_counts_closed_form(case):
    net = make_tree_net(case)
    expected = _closed_form_params(net)
    assert convac.parameter_count(net) == convac.trainable_parameters(net) == expected


def test_tt_parameter_count_with_bonds():
    n, m, bonds, y = 5, 3, (2, 4, 3, 5), 2
    net = convac.TTNet(n, m, bonds, n_outputs=y)
    # leaves 0 and 1 feed node 1 (r_1); leaf k >= 2 and node k-1 feed node k (r_k)
    expected = m * bonds[0] * 2 + sum(m * r for r in bonds[1:])
    expected += sum(bonds[k - 1] * bonds[k] for k in range(1, n - 1)) + bonds[-1] * y
    assert convac.parameter_count(net) == convac.trainable_parameters(net) == expected


def test_tt_hidden_widths_bound_the_sequential_matricizations():
    """``{0..k-1} | {k..N-1}`` is cut by the hidden state after patch ``k-1`` (width
    ``r_{k-1}``) and by node ``k``'s pooled channels (width ``r_k``): generic weights
    reach ``min(M^k, M^(N-k), r_{k-1}, r_k)``, the min-cut bound."""
    n, m, widths = 6, 3, (2, 3, 4, 3, 2)
    net = convac.TTNet(n, m, widths, seed=0).double()
    for k in range(1, n):
        expected = min(m**k, m ** (n - k), widths[k - 1], *widths[k - 2:k - 1])
        rank = matricization_rank(net, list(range(k)), method="exact").rank
        assert rank == expected == min_cut_bound(net, list(range(k))), k


def test_tt_of_two_patches_is_cp():
    tt = convac.TTNet(2, 3, 4, seed=0)
    assert not tt.is_tree and tt.windows == (2,) and tt.ranks == (4,)


@pytest.mark.parametrize("tree,windows,geometry", [
    (((0, 1), (2, 3)), (2, 2), [0, 1, 2, 3]),
    (((0, 2), (1, 3)), (2, 2), [0, 2, 1, 3]),
    (((0, 1, 2), (3, 4, 5)), (3, 2), [0, 1, 2, 3, 4, 5]),
    ((5, 4, 3, 2, 1, 0), (6,), [5, 4, 3, 2, 1, 0]),
])
def test_balanced_tree_by_shape_is_the_windows_network(tree, windows, geometry):
    n = len(geometry)
    ranks = (3,) * len(windows)
    by_shape = convac.ConvAC(n, 2, tree=tree, ranks=3, seed=4)
    by_windows = convac.ConvAC(n, 2, windows, ranks, geometry=geometry, seed=4)
    assert not by_shape.is_tree
    assert by_shape.schedule == by_windows.schedule
    assert torch.equal(by_shape.order, by_windows.order)
    for a, b in zip(by_shape.weights, by_windows.weights, strict=True):
        assert torch.equal(a, b)
    assert by_windows.patch_tree() == convac.nets.tree._as_tuples(tree)


def test_per_level_ranks_by_shape_stay_balanced_and_mixed_ranks_do_not():
    balanced = convac.ConvAC(4, 2, tree=((0, 1), (2, 3)), ranks=(2, 2, 3))
    assert balanced.windows == (2, 2) and balanced.ranks == (2, 3)
    uneven = convac.ConvAC(4, 2, tree=((0, 1), (2, 3)), ranks=(2, 3, 3))
    assert uneven.is_tree and uneven.ranks == (2, 3, 3)


def test_weight_shapes_of_a_tree_are_per_node():
    net = make_tree_net("tt_bonds")
    nodes = list(traverse(net.schedule))
    assert [net.expected_weight_shape(tn.key) for tn in nodes] == [
        tuple(w.shape) for w in net.weights] == [(tn.rank_out, tn.rank_in) for tn in nodes]
    assert [len(net.level_weights(level)) for level in range(net.schedule.n_levels + 1)] == [
        5, 1, 1, 1, 1]
    with torch.no_grad():
        net.weights[3] = torch.nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(convac.ConvACError, match=r"weights\[3\] has shape"):
        net(_features(net, 0))


def test_patch_tree_round_trips():
    for case in TREE_CASES:
        net = make_tree_net(case)
        again = convac.ConvAC(net.n_patches, net.n_channels, tree=net.patch_tree(),
                              ranks=net.schedule.ranks, n_outputs=net.n_outputs)
        assert again.schedule == net.schedule and torch.equal(again.order, net.order)


def test_embed_cp_in_tree_keeps_the_function():
    cp = convac.CPNet(7, 2, 3, n_outputs=2, geometry=[3, 1, 0, 6, 2, 5, 4], seed=2).double()
    for tree in (IRREGULAR, convac.caterpillar(7), tuple(range(7))):
        net = convac.embed_cp_in_tree(cp, tree)
        for y in range(2):
            assert_close(convac.coefficient_tensor(net, y), convac.coefficient_tensor(cp, y))


def test_default_tt_float32_is_of_order_one():
    net = convac.TTNet(64, 8, 8, seed=0)
    x = torch.randn(256, 64, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(x)
        log_abs, sign = net.double().forward_log(x.double())
    assert torch.isfinite(out).all()
    assert 1e-3 <= float(out.abs().median()) <= 1e3
    assert_close_to_reference(out, sign * torch.exp(log_abs), torch.float32)


def test_tree_gains_give_every_node_unit_geometric_mean_on_the_probe():
    """Weights already scaled by their gains get gains of 1 on the same probe: every
    node's conv outputs have geometric-mean magnitude 1, node by node."""
    net = convac.ConvAC(7, 3, tree=IRREGULAR, ranks=(2, 3, 1, 2, 3, 2), dtype=torch.float64)
    gains = [convac.nets.network.log_scale_gains(
        net.schedule, [w.detach() * (2.0 + k) for k, w in enumerate(net.weights)],
        net.pooling, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert len(gains[0]) == net.schedule.n_nodes == len(set(gains[0]))
    assert gains[0] == gains[1]  # the probe is the generator's
    scaled = [w.detach() * (2.0 + k) * g for k, (w, g) in enumerate(zip(net.weights,
                                                                         gains[0], strict=True))]
    again = convac.nets.network.log_scale_gains(net.schedule, scaled, net.pooling,
                                                torch.Generator().manual_seed(5))
    again = torch.tensor(again, dtype=torch.float64)
    torch.testing.assert_close(again, torch.ones_like(again), rtol=1e-9, atol=0)


@pytest.mark.parametrize("pooling", ["relu-max", "relu-sum"])
def test_generalized_pooling_goes_through_the_tree_fold(pooling):
    net = convac.ConvAC(7, 2, tree=IRREGULAR, ranks=2, pooling=pooling, seed=0).double()
    x = _features(net, 9)
    op = net.pooling
    nodes = list(traverse(net.schedule))
    weights = net.node_weights()
    xt = x.index_select(1, net.order)

    def value(tn):  # (B, rank_out) by the operator on stacked children, node by node
        if tn.level == 0:
            return xt[:, tn.index] @ weights[tn.key].T
        kids = torch.stack([value(nodes[c]) for c in tn.children])[None]  # (1, w, B, r)
        return op(kids)[0] @ weights[tn.key].T

    assert_close(net(x), value(nodes[-1]))


def test_output_jacobian_of_a_tree_matches_autograd():
    from convac.fit.train import output_jacobian

    net = make_tree_net("irregular", seed=2)
    x = _features(net, 3, batch=3)
    out, jac = output_jacobian(net, x)
    params = list(net.parameters())
    rows = []
    for b in range(3):
        for y in range(net.n_outputs):
            grads = torch.autograd.grad(net(x)[b, y], params)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    assert_close(out, net(x).detach())
    assert_close(jac, torch.stack(rows))


def test_balance_keeps_the_function_of_a_tree():
    from convac.fit.train import balance

    net = make_tree_net("tt_bonds", seed=4)
    x = _features(net, 5)
    before = net(x).detach()
    assert balance(net)
    assert_close(net(x).detach(), before)


def test_train_student_on_a_tree():
    teacher = make_tree_net("tt", seed=1)
    student = convac.TTNet(6, 2, 3, n_outputs=2, seed=2).double()
    feats = torch.randn(64, 6, 2, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    result = convac.train_student(student, teacher, features=feats, steps=30, optimizer="lm",
                                  progress=False, n_restarts=1)
    assert result.train_error < 1e-3


@pytest.mark.parametrize("kwargs,match", [
    (dict(tree=IRREGULAR, windows=(7,)), "windows or tree"),
    (dict(tree=IRREGULAR, shared=True), "shared"),
    (dict(tree=IRREGULAR, geometry="mirror"), "geometry"),
    (dict(tree=((0, 1), (2, 3, 4), 6)), "every patch"),
    (dict(tree=((0, 1), (2, 2), (3, 4, 5, 6))), "every patch"),
    (dict(tree=((0, 1), (2,), (3, 4, 5, 6))), "at least two children"),
    (dict(tree=((0, 1), "ab", (3, 4, 5, 6))), "patch index"),
    (dict(tree=IRREGULAR, ranks=(2, 3)), "one rank per inner node"),
    (dict(tree=IRREGULAR, ranks=lambda sub: 0), "ranks"),
])
def test_bad_trees_are_refused(kwargs, match):
    kwargs.setdefault("ranks", 2)
    with pytest.raises(convac.ConvACError, match=match):
        convac.ConvAC(7, 2, **kwargs)


def test_parent_arrays_name_the_same_trees():
    parents = [5, 5, 6, 6, 7, 7, 8, 8, -1]
    assert convac.tree_from_parents(parents) == ((2, 3), (4, (0, 1)))  # children by id
    by_parents = convac.ConvAC(5, 3, tree=np.array(parents), ranks=2, seed=0)
    by_shape = convac.ConvAC(5, 3, tree=((2, 3), (4, (0, 1))), ranks=2, seed=0)
    assert by_parents.schedule == by_shape.schedule
    assert all(torch.equal(a, b)
               for a, b in zip(by_parents.weights, by_shape.weights, strict=True))
    flat = convac.ConvAC(4, 2, tree=[3, 1, 0, 2], ranks=2)  # no -1: one node, a CP
    assert flat.windows == (4,) and flat.order.tolist() == [3, 1, 0, 2]


@pytest.mark.parametrize("parents,match", [
    ([2, 2, 3, -1, -1], "exactly one root"),
    ([2, 2, 7, -1], "node index"),
    ([-1, 0, 0], "leaves"),
    ([4, 4, 4, -1, 3], "at least two children"),
])
def test_bad_parent_arrays_are_refused(parents, match):
    with pytest.raises(convac.ConvACError, match=match):
        convac.tree_from_parents(parents)


# -- the property over random trees --------------------------------------------------------
def random_tree(n, rng: random.Random):
    """A random tree over the patches ``0 .. n-1`` (shuffled): repeatedly group 2..3
    adjacent subtrees until one is left."""
    items = list(range(n))
    rng.shuffle(items)
    while len(items) > 1:
        w = min(len(items), rng.choice((2, 2, 3)))
        start = rng.randrange(len(items) - w + 1)
        items[start:start + w] = [tuple(items[start:start + w])]
    return items[0]


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(3, 6), m=st.integers(1, 3), seed=st.integers(0, 2**16),
       y=st.integers(1, 2))
def test_random_trees_agree_with_every_oracle(n, m, seed, y):
    rng = random.Random(seed)
    tree = random_tree(n, rng)
    ranks = lambda sub: rng.randint(1, 3)  # noqa: E731 (drawn per inner node)
    net = convac.ConvAC(n, m, tree=tree, ranks=ranks, n_outputs=y, seed=seed).double()
    assert net.patch_tree() == tree
    x = _features(net, seed, batch=3)
    assert_close(net(x), oracle_forward(net, x))
    log_abs, sign = net.forward_log(x)
    assert_close(sign * torch.exp(log_abs), net(x))
    out = int(rng.randrange(y))
    coef = convac.coefficient_tensor(net, out)
    assert_close(coef, convac.coefficient_tensor_by_forward(net, out))
    part = sorted(rng.sample(range(n), rng.randint(1, n - 1)))
    ranks_by = {meth: matricization_rank(net, part, output=out, method=meth).rank
                for meth in ("dense", "structured", "exact", "auto")}
    assert len(set(ranks_by.values())) == 1, ranks_by
    assert ranks_by["exact"] <= min_cut_bound(net, part)
    assert convac.parameter_count(net) == convac.trainable_parameters(net) == sum(
        tn.rank_in * tn.rank_out for tn in traverse(net.schedule))
    assert isinstance(net.schedule, PoolingTree) == net.is_tree
    # the network's tree and the mode tree read by patch set: the same nodes and children
    nodes, mode = patch_nodes(net.schedule, net.order.tolist()), patch_nodes(*mode_tree(tree))
    assert [(k, v.children, v.subtree) for k, v in nodes.items()] == [
        (k, v.children, v.subtree) for k, v in mode.items()]
    assert next(reversed(nodes)) == frozenset(range(n)) and nodes[frozenset(range(n))].node.is_root


def test_patch_nodes_of_a_schedule_and_mode_tree_checks():
    net = convac.ConvAC(8, 2, (2, 4), (3, 2), geometry="mirror")
    nodes = patch_nodes(net.schedule, net.order.tolist())
    assert len(nodes) == 8 + 4 + 1  # leaves, windows of 2, the root
    for key, pn in nodes.items():
        assert key == frozenset(net.order[list(pn.node.leaves)].tolist())
        assert key == frozenset().union(*pn.children) or not pn.children
        assert pn.node.rank_in == (2, 3, 2)[pn.node.level]
    assert nodes[frozenset(range(8))].subtree == net.patch_tree()
    shape, order = mode_tree(((2, 0), 1))
    assert isinstance(shape, PoolingTree) and order.tolist() == [2, 0, 1]
    with pytest.raises(convac.validate.InvalidValueError, match="permutation"):
        mode_tree(((2, 0), 3))
    with pytest.raises(convac.validate.InvalidValueError, match="permutation"):
        mode_tree(((2, 0), 1), n_patches=4)


def test_random_tree_helper_covers_every_patch():
    for seed in range(20):
        tree = random_tree(6, random.Random(seed))
        assert sorted(convac.nets.tree.canonical_tree(tree)[1]) == list(range(6))


@pytest.mark.parametrize("case", ["irregular", "tt"])
def test_cp_rank_bounds_and_floor_of_a_tree(case):
    """The bounds' lower end is an exact matricization rank (re-measured here), their upper
    end the expansion's term count; the floor is the dense tensor's, below any CP fit."""
    net = make_tree_net(case, seed=9)
    bounds = convac.cp_rank_bounds(net, n_samples=4, seed=0)
    again = matricization_rank(net, bounds.partition, method="exact").rank
    assert bounds.lower == again <= bounds.upper == convac.expansion_terms(net)
    assert bounds.is_certified
    width = max(1, bounds.lower - 1)
    coef = convac.coefficient_tensor(net)
    floor = convac.eckart_young_floor(net, width=width)
    assert floor.value == convac.eckart_young_floor(coef, width=width).value > 0
    fit = convac.fit_cp(coef.numpy(), width=width, seed=0)
    assert fit.relative_error >= floor.value * (1 - 1e-9)


def test_adam_student_on_a_tree_learns():
    teacher = make_tree_net("irregular", seed=1)
    student = convac.ConvAC(7, 2, tree=IRREGULAR, ranks=3, n_outputs=2, seed=5).double()
    feats = torch.randn(256, 7, 2, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    result = convac.train_student(student, teacher, features=feats, steps=200,
                                  progress=False, n_restarts=1, lr=3e-2)
    assert result.train_error < result.losses[0] ** 0.5 / 2  # halved its starting error


@pytest.mark.slow  # inductor compiles one kernel group per node (about a minute, shared cores)
def test_compiled_tree_forward_matches_eager():
    net = make_tree_net("irregular", seed=3)
    x = _features(net, 7)
    compiled = torch.compile(net, fullgraph=True)
    with torch.no_grad():
        assert_close(compiled(x), net(x))
    out = compiled(x)
    out.sum().backward()
    grads = [w.grad.clone() for w in net.weights]
    net.zero_grad()
    net(x).sum().backward()
    for got, want in zip(grads, (w.grad for w in net.weights), strict=True):
        assert_close(got, want)


def test_a_caterpillar_deeper_than_the_recursion_limit_builds_prints_and_folds():
    n = 3 * sys.getrecursionlimit()
    net = convac.TTNet(n, 2, 2, seed=0)
    text = convac.nets.tree.tree_text  # == itself recurses on tuples this deep
    assert text(net.patch_tree()) == text(convac.caterpillar(n))
    assert repr(net.schedule).startswith("PoolingTree(n_channels=2, shape=((((")
    assert f"tree={text(convac.caterpillar(n))}" in repr(net)
    assert convac.min_cut_bound(net, "left-right") == 2
    parents = [n + max(v - 1, 0) for v in range(n)] + [n + k + 1 for k in range(n - 2)] + [-1]
    mirrored = (0, 1)  # children are taken in increasing order: the leaf comes first
    for p in range(2, n):
        mirrored = (p, mirrored)
    assert text(convac.tree_from_parents(parents)) == text(mirrored)
    assert convac.nets.tree.canonical_tree(mirrored)[1] == list(range(n - 1, 1, -1)) + [0, 1]


@pytest.mark.parametrize("tree", [((0, 1), ((2, 3), (4, (5, 6)))), ((0, 1, 2), 3), (4, (0,))])
def test_tree_text_is_the_repr_of_nested_tuples(tree):
    assert convac.nets.tree.tree_text(tree) == repr(tree)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_tree_tokens_round_trip(n, seed):
    """The flat form of a random tree gives the tree back, and two trees are equal exactly
    when their flat forms are (against Python's own comparison of the nested tuples)."""
    rng = random.Random(seed)
    tree, other = random_tree(n, rng), random_tree(n, rng)
    assert tree_from_tokens(tree_tokens(tree)) == tree
    assert (tree_tokens(tree) == tree_tokens(other)) == (tree == other)


def test_a_truncated_token_sequence_is_refused():
    with pytest.raises(convac.validate.InvalidValueError, match="end inside a node"):
        tree_from_tokens(tree_tokens(((0, 1), 2))[:-1])


def test_deep_trees_compare_hash_copy_and_pickle():
    """A caterpillar of 3000 patches (nested tuples past Python's recursion limit): equal
    trees compare and hash equal, a different one does not, and copies and pickles of the
    tree and of a network over it are the same tree."""
    n = 3000
    assert sys.getrecursionlimit() < n
    tree = PoolingTree(2, convac.caterpillar(n), 2)
    same, other = PoolingTree(2, convac.caterpillar(n), 2), PoolingTree(2, convac.caterpillar(n), 3)
    assert tree == same and hash(tree) == hash(same) and tree != other
    assert copy.deepcopy(tree) == tree and pickle.loads(pickle.dumps(tree)) == tree
    net = convac.TTNet(n, 2, 2, seed=0)
    assert copy.deepcopy(net).schedule == net.schedule
    assert pickle.loads(pickle.dumps(net)).schedule == net.schedule
