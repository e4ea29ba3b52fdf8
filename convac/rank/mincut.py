"""Min-cut bounds of any tensor network by exact integer max-flow (networkx).

A tensor network is a graph: its tensors are vertices, each index shared by two tensors
an edge weighted by its dimension, and the open indices (the modes ``0 .. N-1``) are
terminal vertices.  For any set of edges whose removal separates the row modes from the
column modes, ``rank [A]_{I,J} <= prod(dimensions of the removed edges)`` (Levine,
Yakira, Cohen & Shashua 2018).  A copy tensor (the product pooling's delta) of dimension
``r`` may also be removed whole at cost ``r``: ``delta = sum_g e_g (x) .. (x) e_g``
splits the network into ``r`` terms in which its legs are independent vectors.

networkx is the graph library: well kept, pure Python, and its max-flow algorithms are
exact on Python integers of any size, which the capacities below are.  The smallest
product is found exactly:

* when every dimension is a power of one integer ``b`` (e.g. ``M`` and every rank
  powers of 2), the capacities are the exponents and the max-flow is ``log_b`` of the
  minimum;
* otherwise the capacities are ``round(K ln w)`` with ``K >= 4 |E| W`` (``W`` the
  product of every capacity's dimension): a cut minimal for these integers has the
  smallest product, since two different products ``P < P'`` differ by
  ``ln(P'/P) >= 1/(2W)`` in log while the rounding moves a cut's capacity by less than
  ``|E| / K <= 1/(4W)``.  The logs come from :mod:`decimal` at the precision ``K`` needs.

Either way the bound returned is the exact integer product of the dimensions of the cut
found, so it is a proven upper bound whatever happened in the flow.

References
----------
Y. Levine, D. Yakira, N. Cohen, A. Shashua, "Deep Learning and Quantum Entanglement:
Fundamental Connections with Implications to Network Design", ICLR 2018.
"""

from __future__ import annotations

import decimal
import itertools
import math
from dataclasses import dataclass, field

import networkx as nx

from .. import validate
from ..nets.mixed import MixedConvAC, check_mode_tree, hybrid_trees, network_nodes
from ..nets.network import ConvAC
from ..nets.tree import mode_tree, patch_nodes
from ..tensors.matricization import resolve_partition

__all__ = ["TensorGraph", "tree_graph", "network_graph", "graph_min_cut", "tree_min_cut",
           "mixed_min_cut_bound", "mixed_hybrid_bound", "mixed_segment_bound", "MAX_HYBRIDS"]

MAX_HYBRIDS = 4096
"""Most hybrid trees :func:`mixed_hybrid_bound` sums over (``2^(mixture nodes + 1)``), and
most placements of one segment's bonds :func:`mixed_segment_bound` enumerates."""


@dataclass
class TensorGraph:
    """A tensor network's graph: ``edges`` ``(u, v, dimension)``, ``copies`` the copy
    tensors with their dimension (removable whole at that cost), ``modes`` the terminal
    vertex of each mode."""

    modes: tuple
    edges: list = field(default_factory=list)
    copies: dict = field(default_factory=dict)


def tree_graph(tree, n_channels: int, pool_width) -> TensorGraph:
    """The graph of a tree network over a nested-tuple mode tree.

    Mode ``i`` joins its leaf conv through an edge of dimension ``M``; an interior node
    ``nu`` is a copy tensor (its product pooling) of dimension ``pool_width(nu)`` joined
    to each child's conv and to its own conv by edges of that dimension; the root's conv
    has no edge above (one output).

    Parameters
    ----------
    tree : nested tuples of patch indices
    n_channels : int
        ``M``.
    pool_width : callable ``frozenset -> int`` or int
        The channels pooled at each interior node (``r_{l-1}`` for a ConvAC).
    """
    m = validate.positive_int(n_channels, "n_channels")
    check_mode_tree(tree)
    return _graph(patch_nodes(*mode_tree(tree)), m, pool_width)


def _graph(nodes: dict, n_channels: int, pool_width) -> TensorGraph:
    """The graph of a tree network from its nodes by patch set
    (:func:`convac.nets.tree.patch_nodes`); see :func:`tree_graph`."""
    graph = TensorGraph(tuple(("mode", i) for i in range(len(next(reversed(nodes))))))
    width = pool_width if callable(pool_width) else (lambda node, w=pool_width: w)
    for key, pn in nodes.items():  # children before parents
        conv = ("conv", key)
        if not pn.children:
            graph.edges.append((("mode", pn.subtree), conv, n_channels))
            continue
        r = validate.integer(width(key), f"pool width of {sorted(key)}", 0)
        pool = ("pool", key)
        graph.copies[pool] = r
        graph.edges.extend((("conv", child), pool, r) for child in pn.children)
        graph.edges.append((pool, conv, r))
    return graph


def network_graph(net: ConvAC) -> TensorGraph:
    """The graph of a product-pooling ConvAC (its tree over its patch order; any tree:
    a node pools its rank's channels)."""
    net = validate.product_network(net, "the min-cut bound")
    nodes = network_nodes(net)
    return _graph(nodes, net.schedule.n_channels, lambda key: nodes[key].node.rank_in)


def _common_base(widths) -> tuple[int, dict] | None:
    """``(b, {w: log_b w})`` if every width > 1 is a power of one integer ``b``."""
    roots = {}
    for w in widths:
        for k in range(w.bit_length(), 0, -1):
            b = round(w ** (1 / k))
            hit = next((c for c in (b - 1, b, b + 1) if c > 1 and c**k == w), None)
            if hit is not None:
                roots[w] = (hit, k)
                break
    bases = {b for b, _ in roots.values()}
    if len(bases) > 1:
        return None
    return (bases.pop() if bases else 2), {w: k for w, (_, k) in roots.items()}


def _capacities(widths: set, n_arcs: int) -> dict:
    """Exact integer capacities, one per width (see the module's docstring)."""
    common = _common_base({w for w in widths if w > 1})
    if common is not None:
        return {w: common[1].get(w, 0) for w in widths}
    big = 4 * n_arcs * math.prod(widths) + 1  # K >= 4 |E| W
    with decimal.localcontext() as ctx:
        ctx.prec = len(str(big)) + 20
        return {w: int((decimal.Decimal(w).ln() * big).to_integral_value()) for w in widths}


def graph_min_cut(graph: TensorGraph, rows) -> tuple[int, list]:
    """The smallest product of dimensions over the cuts separating ``rows`` from the
    other modes.

    Parameters
    ----------
    graph : TensorGraph
    rows : iterable of int
        Row modes (indices into ``graph.modes``).

    Returns
    -------
    (bound, cut)
        ``bound`` the exact integer product (``0`` when an index has dimension 0: the
        tensor is zero), ``cut`` the removed edges ``(u, v, dimension)`` and
        copy tensors ``(vertex, dimension)``.
    """
    rows = set(rows)
    widths = {w for *_, w in graph.edges} | set(graph.copies.values())
    if 0 in widths:  # an index of dimension 0: every term of the contraction is empty
        return 0, [e for e in graph.edges if e[2] == 0] + [
            (v, w) for v, w in graph.copies.items() if w == 0]
    cap = _capacities(widths, 2 * len(graph.edges) + len(graph.copies))
    g = nx.DiGraph()
    arcs = {}

    def ends(v):
        return ((v, "in"), (v, "out")) if v in graph.copies else (v, v)

    for v, w in graph.copies.items():
        g.add_edge((v, "in"), (v, "out"), capacity=cap[w])
        arcs[((v, "in"), (v, "out"))] = (v, w)
    for u, v, w in graph.edges:
        for a, b in ((u, v), (v, u)):
            tail, head = ends(a)[1], ends(b)[0]
            if g.has_edge(tail, head):  # parallel edges: dimensions multiply
                g[tail][head]["capacity"] += cap[w]
                arcs[(tail, head)].append((u, v, w))
            else:
                g.add_edge(tail, head, capacity=cap[w])
                arcs[(tail, head)] = [(u, v, w)]
    for i, mode in enumerate(graph.modes):
        if i in rows:
            g.add_edge("source", mode)  # no capacity: infinite
        else:
            g.add_edge(mode, "sink")
    _, (side, _) = nx.minimum_cut(g, "source", "sink")
    cut = []
    for (tail, head), what in arcs.items():
        if tail in side and head not in side:
            cut.extend(what if isinstance(what, list) else [what])
    return math.prod(item[-1] for item in cut), cut


def tree_min_cut(tree, partition, n_channels: int, pool_width) -> int:
    """Min-cut bound of a tree network (see :func:`tree_graph`) for ``partition``."""
    n = len(check_mode_tree(tree))
    part = resolve_partition(partition, n)
    return graph_min_cut(tree_graph(tree, n_channels, pool_width), part.rows)[0]


def mixed_min_cut_bound(net: MixedConvAC, partition, max_hybrids: int = MAX_HYBRIDS) -> int:
    """Upper bound on ``rank [A^y]_{I,J}`` of a mixed network: the smaller of
    :func:`mixed_hybrid_bound` (a sum over hybrid trees) and :func:`mixed_segment_bound`
    (the network's own tensor network), each computed where its budget allows.

    Raises
    ------
    convac.validate.BudgetError
        Neither fits ``max_hybrids`` (hybrid trees, placements of a segment's bonds).
    """
    if not isinstance(net, MixedConvAC):
        raise validate.InvalidTypeError(f"expected a MixedConvAC, got {type(net).__name__}")
    bounds, errors = [], []
    for bound in (mixed_hybrid_bound, mixed_segment_bound):
        try:
            bounds.append(bound(net, partition, max_hybrids))
        except validate.BudgetError as err:  # the other bound may still fit
            errors.append(str(err))
    if not bounds:
        raise validate.BudgetError("; ".join(errors))
    return min(bounds)


def mixed_hybrid_bound(net: MixedConvAC, partition, max_hybrids: int = MAX_HYBRIDS) -> int:
    """Upper bound on ``rank [A^y]_{I,J}`` of a mixed network: the sum over its hybrid
    trees of their min-cut bounds, capped by the matrix's sides.

    Exchanging channels at a mixture node makes each tree read, there, a sum of two
    pooled values (one per tree); multiplied out, ``A^y`` is the sum over the hybrid
    trees ``H`` (a choice of tree for the segment below every mixture node and the
    root) of a tree network over ``H``, whose pooling at a mixture node carries the
    ``h`` exchanged channels (segment and parent from different trees) or the other
    ``r - h``.  Rank is subadditive, so ``rank <= sum_H min-cut(H)``.

    Raises
    ------
    convac.validate.BudgetError
        More than ``max_hybrids`` hybrid trees.
    """
    if not isinstance(net, MixedConvAC):
        raise validate.InvalidTypeError(f"expected a MixedConvAC, got {type(net).__name__}")
    part = resolve_partition(partition, net.n_patches)
    count = 2 ** (len(net.mixture) + 1)
    if count > validate.positive_int(max_hybrids, "max_hybrids"):
        raise validate.BudgetError(
            f"the mixed bound sums over {count} hybrid trees, more than max_hybrids="
            f"{max_hybrids} (or use fewer mixture nodes)", option="max_hybrids")
    m = net.n_channels
    first, second = net.trees()
    ranks = [{key: pn.node.rank_in for key, pn in network_nodes(tree).items()}
             for tree in (net.first, net.second)]
    total = 0
    for choice, hybrid in hybrid_trees(first, second, net.mixture):
        source = _segment_sources(hybrid, choice)

        def width(node, source=source):
            seg, parent = source[node]
            r = ranks[seg][node]
            if node not in net.mixture:
                return r
            return r // 2 if seg != parent else r - r // 2

        total += tree_min_cut(hybrid, part.rows, m, width)
    return min(total, m ** len(part.rows), m ** len(part.cols))


def _segment_sources(hybrid, choice: dict) -> dict:
    """For every interior node of a hybrid: ``(tree of its segment, tree of its
    parent's segment)`` (the root's parent: its own)."""
    nodes = patch_nodes(*mode_tree(hybrid))
    root = next(reversed(nodes))
    source = {}

    def walk(node, parent_tree):
        here = choice.get(node, parent_tree)
        source[node] = (here, parent_tree)
        for child in nodes[node].children:
            if nodes[child].children:
                walk(child, here)

    walk(root, choice[root])
    return source


def _segment_graph(nodes: dict, top: frozenset, below: tuple, is_root: bool,
                   n_channels: int) -> TensorGraph:
    """The graph of one tree's segment from mixture node (or root) ``top`` down to the
    mixture nodes ``below``.

    Terminals (``modes``): the patches of ``top`` outside ``below``, then one per node of
    ``below`` (its exchanged pooled value, dimension its pool width, read by its conv),
    then, unless ``top`` is the root, the segment's output (``top``'s pooled value, before
    its exchange and conv).  The root's segment ends with the root's conv (one output).
    """
    inside = set(below)
    patches = sorted(p for p in top if not any(p in mu for mu in below))
    out = () if is_root else (("out",),)
    graph = TensorGraph(tuple(("mode", p) for p in patches)
                        + tuple(("mix", mu) for mu in below) + out)

    def walk(key):  # the conv vertex of the node `key`
        pn = nodes[key]
        conv = ("conv", key)
        if key in inside:
            graph.edges.append((("mix", key), conv, pn.node.rank_in))
            return conv
        if not pn.children:
            graph.edges.append((("mode", pn.subtree), conv, n_channels))
            return conv
        r = pn.node.rank_in
        pool = ("pool", key)
        graph.copies[pool] = r
        graph.edges.extend((walk(child), pool, r) for child in pn.children)
        graph.edges.append((pool, conv if key != top or is_root else ("out",), r))
        return conv

    walk(top)
    return graph


def mixed_segment_bound(net: MixedConvAC, partition,
                        max_assignments: int = MAX_HYBRIDS) -> int:
    """Upper bound on ``rank [A^y]_{I,J}`` of a mixed network from its own tensor
    network: the mixture nodes cut it into segments, one tensor per segment.

    The mixture nodes and the root form a tree (each node's children: the largest
    mixture nodes below it).  The *state* of a mixture node ``mu`` is the pair of its two
    pooled values ``s_mu = (p^1_mu, p^2_mu)`` (dimension ``2 r_mu``); the segment tensor
    ``S_nu`` maps the states of the mixture nodes below ``nu`` and the patches in
    between to ``s_nu`` (the root's: to the output), and is a sum of two tree networks,
    ``S_nu = e_1 (x) T^1_nu + e_2 (x) T^2_nu``, tree ``t``'s segment reading at each
    ``mu`` its exchanged value (``r_mu`` channels, a linear map of ``s_mu``).  The
    network is the tree tensor network of the ``S_nu``.  Put every bond ``s_mu`` on one
    side of ``(I, J)``: each ``S_nu``'s matricization with its legs so split is a sum of
    ``rank(S_nu)`` products, so ``rank [A^y]_{I,J} <= prod_nu rank(S_nu)``, for every
    placement; and ``rank(S_nu) <= min(mincut(T^1_nu) + mincut(T^2_nu)`` (subadditive,
    :func:`graph_min_cut` on each segment), the product of its legs' dimensions on
    either side``)``.  The bound is the smallest product over the placements, a dynamic
    programme over the tree of mixture nodes.

    Parameters
    ----------
    net : MixedConvAC
    partition : str, sequence of int or Partition
    max_assignments : int, default MAX_HYBRIDS
        Most placements of one segment's bonds (``2^(children + 1)``) enumerated.

    Raises
    ------
    convac.validate.BudgetError
        A segment with more placements than ``max_assignments``.
    """
    if not isinstance(net, MixedConvAC):
        raise validate.InvalidTypeError(f"expected a MixedConvAC, got {type(net).__name__}")
    part = resolve_partition(partition, net.n_patches)
    limit = validate.positive_int(max_assignments, "max_assignments")
    rows = frozenset(part.rows)
    m = net.n_channels
    trees = (network_nodes(net.first), network_nodes(net.second))
    root = next(reversed(trees[0]))
    tops = (*net.mixture, root)  # smallest first: children before parents
    below = {nu: tuple(mu for mu in net.mixture if mu < nu and not any(
        mu < other < nu for other in net.mixture)) for nu in tops}
    best: dict = {}  # (mixture node, side of its state) -> smallest product below it
    for nu in tops:
        kids, is_root = below[nu], nu == root
        count = 2 ** (len(kids) + (not is_root))
        if count > limit:
            raise validate.BudgetError(
                f"the segment below {sorted(nu)} has {count} placements of its bonds, more "
                f"than max_assignments={limit}", option="max_assignments")
        graphs = [_segment_graph(nodes, nu, kids, is_root, m) for nodes in trees]
        patches = graphs[0].modes[:len(graphs[0].modes) - len(kids) - (not is_root)]
        fixed = [p[1] in rows for p in patches]
        dims = [m] * len(patches) + [2 * trees[0][mu].node.rank_in for mu in kids] + (
            [] if is_root else [2 * trees[0][nu].node.rank_in])
        for sides in itertools.product((True, False), repeat=len(kids) + (not is_root)):
            where = fixed + list(sides)  # True: the leg is on the rows' side
            row_legs = [i for i, w in enumerate(where) if w]
            caps = (math.prod(d for d, w in zip(dims, where, strict=True) if w),
                    math.prod(d for d, w in zip(dims, where, strict=True) if not w))
            if 0 < len(row_legs) < len(where):
                cut = sum(graph_min_cut(g, row_legs)[0] for g in graphs)
            else:
                cut = 1  # every leg on one side: a vector, rank <= 1
            cost = min(cut, *caps) * math.prod(
                best[mu, side] for mu, side in zip(kids, sides, strict=False))
            key = (nu, None if is_root else sides[-1])
            best[key] = min(best.get(key, cost), cost)
    return min(best[root, None], m ** len(part.rows), m ** len(part.cols))
