"""Mixed networks (Cohen, Tamari & Shashua, ICLR 2018): forward and coefficient tensor
against oracles, Theorem 7's bounds against exact ranks, the networkx min-cut against
the tree dynamic programme and a brute-force enumeration of cuts, and the paper's
example with certified ranks."""

import itertools
import math

import numpy as np
import pytest
import torch
from oracles import assert_close

from convac import validate
from convac.bench.report.experiments import _mixed as mixed_section
from convac.experiments import mixed_dilated as md
from convac.experiments.runner import evaluate
from convac.nets.mixed import (
    MixedConvAC,
    check_mode_tree,
    common_nodes,
    dilated_order,
    dilated_tree,
    hybrid_trees,
    mode_tree_nodes,
    swapped_dilations,
)
from convac.nets.network import ConvAC
from convac.nets.tree import canonical_tree
from convac.rank.cuts import min_cut_bound
from convac.rank.exact import DEFAULT_PRIME, integer_weights_
from convac.rank.methods import matricization_rank
from convac.rank.mincut import (
    graph_min_cut,
    mixed_hybrid_bound,
    mixed_min_cut_bound,
    mixed_segment_bound,
    network_graph,
    tree_graph,
    tree_min_cut,
)
from convac.rank.mixed import (
    mixed_example,
    mixed_rank,
    mixed_rank_lower_bound,
    mixed_width_needed,
    tiling,
    tree_rank_bounds,
)
from convac.tensors.coefficient import coefficient_tensor
from convac.tensors.mixed import mixed_coefficient_tensor, mixed_coefficient_tensor_by_forward


def _pair(n, m, r, seed, orders=None, y=2, integer=False):
    """Two float64 ConvACs with windows of 2 over random (or given) patch orders."""
    rng = np.random.default_rng(seed)
    levels = round(math.log2(n))
    orders = orders or [rng.permutation(n), rng.permutation(n)]
    nets = [ConvAC(n, m, (2,) * levels, r, y, geometry=list(o), seed=seed + i,
                   dtype=torch.float64) for i, o in enumerate(orders)]
    if integer:
        for i, net in enumerate(nets):
            integer_weights_(net, -2**20, 2**20, seed + i)
    return nets


def _mixed(n, m, r, seed, **kwargs):
    a, b = _pair(n, m, r, seed, **kwargs)
    return MixedConvAC(a, b, common_nodes(a, b))


def _random_binary_tree(leaves, rng):
    if len(leaves) == 1:
        return int(leaves[0])
    cut = int(rng.integers(1, len(leaves)))
    return (_random_binary_tree(leaves[:cut], rng), _random_binary_tree(leaves[cut:], rng))


def _tree_tensor(tree, m, r, rng, prime=DEFAULT_PRIME):
    """Coefficient tensor mod ``prime`` of a ConvAC over any nested-tuple tree (test
    oracle; seeded integer weights, exact int64 arithmetic): leaf conv ``(r, M)``, node:
    conv ``(r, r)`` of the children's product, root conv ``(1, r)``; ``(M,) * N`` with
    modes ascending."""

    def draw(shape):
        return torch.tensor(rng.integers(-2**20, 2**20, size=shape)) % prime

    def walk(node, top):
        if isinstance(node, int):
            return draw((r, m)), (node,)
        value, modes = None, ()
        for child in node:
            v, md = walk(child, False)
            value = v if value is None else (
                torch.einsum("ga,gb->gab", value, v).reshape(r, -1) % prime)
            modes += md
        out = 1 if top else r
        value = (draw((out, r)) @ value) % prime  # (out, M^|node|)
        perm = sorted(range(len(modes)), key=modes.__getitem__)
        value = value.reshape((out,) + (m,) * len(modes)).permute(0, *(1 + p for p in perm))
        return value.reshape(out, -1), tuple(sorted(modes))

    value, modes = walk(tree, True)
    return value[0].reshape((m,) * len(modes))


# -- trees ---------------------------------------------------------------------------

def test_dilated_trees_are_the_papers():
    base = dilated_tree(swapped_dilations(4, 1))
    swapped = dilated_tree(swapped_dilations(4, 2))
    assert swapped_dilations(4, 2) == (2, 1, 8, 4)
    assert swapped_dilations(4, 1) == (1, 2, 4, 8)
    assert check_mode_tree(base) == tuple(range(16))
    # fig. 2(b), 0-based: the root's children {1..4, 9..12} and {5..8, 13..16}
    kids = [frozenset(canonical_tree(c)[1]) for c in swapped]
    assert kids == [frozenset([0, 1, 2, 3, 8, 9, 10, 11]), frozenset([4, 5, 6, 7, 12, 13, 14, 15])]
    nodes = mode_tree_nodes(swapped)
    assert frozenset([0, 2]) in nodes and frozenset([0, 1]) not in nodes
    net = ConvAC(16, 2, (2,) * 4, 2, geometry=list(dilated_order(swapped_dilations(4, 2))))
    assert net.patch_tree() == swapped


@pytest.mark.parametrize("bad, match", [
    (((0, 1), 1), "permutation"), (((0,), 1), "at least two"), ([0, 1], "nested tuples")])
def test_mode_tree_errors(bad, match):
    with pytest.raises(validate.ConvACError, match=match):
        check_mode_tree(bad)


def test_dilations_must_cover_the_window():
    with pytest.raises(validate.InvalidValueError, match="do not cover"):
        dilated_tree((1, 1))


def test_mixture_must_be_common_and_not_the_root():
    a, b = _pair(8, 2, 2, 0, orders=[list(range(8)), dilated_order((2, 1, 4))])
    assert common_nodes(a, b) == (frozenset(range(4)), frozenset(range(4, 8)))
    with pytest.raises(validate.InvalidValueError, match="not an interior node of both"):
        MixedConvAC(a, b, [{0, 1}])
    with pytest.raises(validate.InvalidValueError, match="not an interior node of both"):
        MixedConvAC(a, b, [range(8)])
    c = ConvAC(8, 3, (2, 2, 2), 2)
    with pytest.raises(validate.InvalidValueError, match="same n_channels"):
        MixedConvAC(a, c)


# -- forward and coefficient tensor --------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_forward_against_coefficient_contraction(seed):
    """Forward on random features = the coefficient tensor (contracted node by node)
    contracted with each sample's features (per-sample brute force)."""
    net = _mixed(8, 3, 4, seed)
    x = torch.randn(5, 8, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    out = net(x)
    for y in range(2):
        tensor = mixed_coefficient_tensor(net, y)
        for b in range(5):
            value = tensor
            for i in range(8):
                value = torch.tensordot(value, x[b, i], dims=([0], [0]))
            assert_close(out[b, y], value)


@pytest.mark.parametrize("seed", range(3))
def test_coefficient_tensor_against_one_hot_forward(seed):
    net = _mixed(8, 2, 4, seed)
    for y in range(2):
        assert_close(mixed_coefficient_tensor(net, y), mixed_coefficient_tensor_by_forward(net, y))


def test_no_mixture_is_the_sum_of_the_two_networks():
    a, b = _pair(8, 2, 3, 5)
    mixed = MixedConvAC(a, b)
    assert_close(mixed_coefficient_tensor(mixed, 0),
                 coefficient_tensor(a, 0) + coefficient_tensor(b, 0))


@pytest.mark.parametrize("seed", range(4))
def test_forward_log_is_log_of_forward(seed):
    """log|forward| and sign(forward) on small seeded nets, with and without mixture."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 8, 3, generator=gen, dtype=torch.float64)
    a, b = _pair(8, 3, 4, seed)
    for net in (MixedConvAC(a, b, common_nodes(a, b)), MixedConvAC(a, b)):
        out = net(x)
        log_abs, sign = net.forward_log(x)
        assert log_abs.shape == sign.shape == out.shape
        assert torch.equal(sign, torch.sign(out))
        assert_close(log_abs, torch.log(out.abs()))


def test_forward_log_is_finite_where_the_forward_overflows():
    """Every weight times c scales the output by c^(2N - 1) (each of the 2N - 1 convs of
    either tree holds one weight per monomial, the exchange keeps the node): the linear
    forward overflows, the log forward is the unscaled one plus (2N - 1) log c."""
    net = _mixed(16, 2, 4, 3)
    x = torch.randn(4, 16, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    log_abs, sign = net.forward_log(x)
    c = 1e30
    with torch.no_grad():
        for w in net.parameters():
            w.mul_(c)
        scaled = net(x)
        big_log, big_sign = net.forward_log(x)
    assert not torch.isfinite(scaled).all()  # the linear forward overflows
    assert torch.isfinite(big_log).all() and torch.equal(big_sign, sign)
    assert_close(big_log, log_abs + (2 * 16 - 1) * math.log(c))


def test_mixed_gradients_reach_both_trees():
    net = _mixed(8, 2, 4, 1)
    net(torch.randn(3, 8, 2, dtype=torch.float64)).sum().backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in net.parameters())


# -- min-cut -------------------------------------------------------------------------

def _brute_min_cut(graph, rows):
    """Smallest product over every side assignment of the vertices (copy tensors may be
    removed whole at their dimension's cost)."""
    modes = {v: (i in rows) for i, v in enumerate(graph.modes)}
    inner = sorted({v for e in graph.edges for v in e[:2]} - set(modes), key=repr)
    choices = [(0, 1, None) if v in graph.copies else (0, 1) for v in inner]
    best = None
    for states in itertools.product(*choices):
        side = dict(zip(inner, states, strict=True)) | {v: int(s) for v, s in modes.items()}
        cost = math.prod(graph.copies[v] for v, s in side.items() if s is None)
        for u, v, w in graph.edges:
            if side[u] is not None and side[v] is not None and side[u] != side[v]:
                cost *= w
        best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_min_cut_equals_tree_dp_on_random_schedules(seed):
    rng = np.random.default_rng(seed)
    windows = tuple(int(w) for w in rng.integers(2, 4, size=int(rng.integers(1, 4))))
    n = math.prod(windows)
    ranks = tuple(int(r) for r in rng.integers(1, 7, size=len(windows)))
    net = ConvAC(n, int(rng.integers(1, 5)), windows, ranks, geometry=rng.permutation(n))
    rows = sorted(rng.choice(n, int(rng.integers(1, n)), replace=False).tolist())
    assert graph_min_cut(network_graph(net), rows)[0] == min_cut_bound(net, rows)


@pytest.mark.parametrize("seed", range(12))
def test_min_cut_equals_brute_force_on_nested_trees(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 5))
    tree = _random_binary_tree(list(rng.permutation(n)), rng)
    widths = {node: int(rng.integers(1, 5)) for node in mode_tree_nodes(tree)}
    graph = tree_graph(tree, int(rng.integers(1, 4)), widths.__getitem__)
    rows = sorted(rng.choice(n, int(rng.integers(1, n)), replace=False).tolist())
    assert graph_min_cut(graph, rows)[0] == _brute_min_cut(graph, set(rows))


def test_min_cut_mixed_bases_is_exact():
    """Widths 2 and 3 (no common base): the scaled-log capacities find the true minimum,
    here a cut of 3 x 3 = 9 beside one of 2^3 = 8 and 2^4 = 16."""
    tree = ((0, 1), (2, 3))
    widths = {frozenset([0, 1]): 2, frozenset([2, 3]): 3, frozenset(range(4)): 3}
    graph = tree_graph(tree, 2, widths.__getitem__)
    for rows in ([0, 2], [0], [0, 1]):
        assert graph_min_cut(graph, rows)[0] == _brute_min_cut(graph, set(rows))


# -- Theorem 7 and the mixed bounds --------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_theorem7_bounds_hold_on_random_trees(seed):
    """Any binary mode tree (nested tuples, not only balanced): lower <= rank <= upper,
    and the min-cut lies between the exact rank and the upper bound."""
    rng = np.random.default_rng(200 + seed)
    n, r = int(rng.integers(3, 8)), 2
    tree = _random_binary_tree(list(rng.permutation(n)), rng)
    tensor = _tree_tensor(tree, 2, r, rng)
    for _ in range(3):
        rows = sorted(rng.choice(n, int(rng.integers(1, n)), replace=False).tolist())
        lower, upper = tree_rank_bounds(tree, rows, r)
        rank = int(matricization_rank(tensor.numpy(), rows, "exact", prime=DEFAULT_PRIME))
        cut = tree_min_cut(tree, rows, 2, r)
        assert lower <= rank <= cut <= upper


def test_tiling_is_the_papers_figure_5():
    base = dilated_tree(swapped_dilations(4, 1))
    rows = [2, 3, 4, 5, 6, 7, 8, 10, 11]  # {3,4,5,6,7,8,9,11,12} 1-based
    assert tiling(base, rows) == (frozenset([2, 3]), frozenset([4, 5, 6, 7]), frozenset([8]),
                                  frozenset([10, 11]))


def test_root_product_drops_the_root_pair():
    tree = ((0, 1), (2, 3))
    assert tree_rank_bounds(tree, [0, 1], 3) == (3, 3)
    assert tree_rank_bounds(tree, [0, 1], 3, root="product") == (1, 3)
    with pytest.raises(validate.ConvACError, match="exactly 2"):
        tree_rank_bounds(((0, 1, 2), 3), [0], 2)


@pytest.mark.parametrize("seed", range(6))
def test_mixed_bounds_hold_on_random_mixed_networks(seed):
    """lower (best hybrid at r/2, Theorem 7) <= exact rank <= the hybrid-sum min-cut."""
    rng = np.random.default_rng(300 + seed)
    r = int(rng.choice([2, 4]))
    net = _mixed(8, 2, r, seed, integer=True)
    first, second = net.trees()
    for _ in range(3):
        rows = sorted(rng.choice(8, int(rng.integers(1, 8)), replace=False).tolist())
        rank = int(mixed_rank(net, rows))
        assert mixed_rank_lower_bound(first, second, net.mixture, rows, r) <= rank
        hybrid, segment = mixed_hybrid_bound(net, rows), mixed_segment_bound(net, rows)
        assert rank <= hybrid and rank <= segment
        assert mixed_min_cut_bound(net, rows) == min(hybrid, segment)


def test_segment_bound_tightens_the_hybrid_sum_on_a_seeded_sample():
    """M = 4 (the matrix's sides rarely bind): on 14 seeded random mixed networks the
    network's own tensor network bounds the exact rank, the combined bound is never
    looser than the hybrid sum, and it is strictly tighter on some of them."""
    tighter = 0
    for seed in range(8, 22):
        rng = np.random.default_rng(500 + seed)
        r = int(rng.choice([2, 3]))
        net = _mixed(8, 4, r, seed, integer=True)
        rows = sorted(rng.choice(8, int(rng.integers(1, 8)), replace=False).tolist())
        rank = int(mixed_rank(net, rows))
        hybrid, segment = mixed_hybrid_bound(net, rows), mixed_segment_bound(net, rows)
        combined = mixed_min_cut_bound(net, rows)
        assert rank <= segment and rank <= hybrid and rank <= combined <= hybrid
        tighter += combined < hybrid
    assert tighter >= 1


def test_mixed_bounds_refuse_past_their_budgets():
    ex = mixed_example(4)
    net = MixedConvAC(*_pair(16, 2, 2, 0, orders=[check_mode_tree(ex["baseline"]),
                                                  check_mode_tree(ex["swapped"])]),
                      ex["mixture"])
    with pytest.raises(validate.BudgetError, match="max_hybrids.*max_assignments"):
        mixed_min_cut_bound(net, [0, 1], max_hybrids=1)
    with pytest.raises(validate.BudgetError, match="placements") as info:
        mixed_segment_bound(net, [0, 1], max_assignments=1)
    # a counting budget: raising it costs time, and the message says so (not memory)
    assert "raise max_assignments to search further" in str(info.value)
    assert "memory" not in str(info.value)
    with pytest.raises(validate.ConvACError, match="MixedConvAC"):
        mixed_segment_bound(net.first, [0, 1])


def test_segment_bound_without_mixture_is_the_two_trees_sum():
    """No mixture node: one segment, the sum of the two trees' min-cuts (capped), as the
    hybrid sum over its two hybrids (the trees themselves)."""
    for seed in range(4):
        a, b = _pair(8, 3, 2, seed)
        net = MixedConvAC(a, b)
        rows = sorted(np.random.default_rng(seed).choice(8, 3, replace=False).tolist())
        expected = min(graph_min_cut(network_graph(a), rows)[0]
                       + graph_min_cut(network_graph(b), rows)[0], 3**3)
        assert mixed_segment_bound(net, rows) == mixed_hybrid_bound(net, rows) == expected


def test_hybrid_trees_count_and_include_both_trees():
    first, second = dilated_tree((1, 2, 4, 8)), dilated_tree((2, 1, 8, 4))
    mix = [node for node, pn in mode_tree_nodes(first).items() if pn.node.level == 2]
    hybrids = [h for _, h in hybrid_trees(first, second, mix)]
    assert len(hybrids) == 2 ** 5 and first in hybrids and second in hybrids


# -- the paper's example and Corollary 8 ---------------------------------------------

def test_example_bounds_are_the_papers_exponents():
    for levels in (4, 6, 8):
        ex = mixed_example(levels)
        n = 2**levels
        for name, exponent in (("baseline", n // 4 + n // 8), ("swapped", n // 4 + n // 8),
                               ("hybrid", n // 2)):
            assert tree_rank_bounds(ex[name], ex["rows"], 3) == (3**exponent, 3**exponent)
            assert tree_rank_bounds(ex[name], ex["rows"], 3, root="product")[0] == 3**exponent


def test_example_certified_ranks_at_n16():
    """N = 16, M = 2: exact ranks of the trees of width 2 (2^6, 2^6, 2^8, the paper's
    r^(N/4+N/8) and r^(N/2)) and of the mixed network of width 4 (realising the hybrid
    of width 2: 2^8), each equal to its min-cut bound, hence the real rank."""
    ex = mixed_example(4)
    nets = {}
    for name, expected in (("baseline", 2**6), ("swapped", 2**6), ("hybrid", 2**8)):
        net = integer_weights_(ConvAC(16, 2, (2,) * 4, 2, geometry=list(check_mode_tree(ex[name])),
                                      dtype=torch.float64), -2**20, 2**20, 1)
        nets[name] = net
        assert int(matricization_rank(net, list(ex["rows"]), "exact")) == expected
        assert graph_min_cut(network_graph(net), ex["rows"])[0] == expected
    orders = [check_mode_tree(ex["baseline"]), check_mode_tree(ex["swapped"])]
    a, b = _pair(16, 2, 4, 7, orders=orders, integer=True)
    mixed = MixedConvAC(a, b, ex["mixture"])
    assert int(mixed_rank(mixed, ex["rows"])) == 2**8 == mixed_min_cut_bound(mixed, ex["rows"])


def test_corollary_8_widths():
    assert mixed_width_needed(128, 4) == pytest.approx(64 ** (16 / 9))
    assert mixed_width_needed(128, 4) > 1500  # "over 1500 channels"
    assert mixed_width_needed(10, 2) == pytest.approx(5 ** (4 / 3))  # "a power of 4/3"


@pytest.mark.slow
def test_experiment_reproduces_the_paper_at_n16_and_renders(tmp_path):
    records = evaluate(md.experiment(grid=[g for g in md.GRID if g[0] == 4]))
    rows = md.summarize(records)["rows"]
    assert len(rows) == 8 and all(r["violation"] is None for r in rows)
    got = {(r["network"], r["r"]): r["exact"] for r in rows}
    assert got[("baseline", 2)] == got[("swapped", 2)] == 2**6
    assert got[("hybrid", 2)] == got[("mixed", 4)] == 2**8
    assert all(r["matches_paper"] for r in rows)
    page = mixed_section(records, str(tmp_path))
    assert "Theorem 7" in page and "1625.5" in page
