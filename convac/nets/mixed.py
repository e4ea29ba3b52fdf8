"""Mixed networks: two pooling trees over the same patches, interconnected at chosen nodes.

A mode tree is given as nested tuples of patch indices, e.g. ``((0, 1), (2, 3))``; a
:class:`~convac.nets.network.ConvAC` with windows ``w`` and patch order ``order`` is the
tree :func:`schedule_tree` returns.  A dilated convolutional network with size-2 filters
and dilations ``d_1 .. d_L`` is a perfect binary mode tree (:func:`dilated_tree`); the
baseline has ``d_l = 2^(l-1)``, its dilation-swapped twins (:func:`swapped_dilations`)
are the same balanced tree over another patch order (:func:`dilated_order`).

A **mixed network** (Cohen, Tamari & Shashua 2018, eq. 4) runs two such trees side by side
and, at each *mixture node* (a node of both trees, given by its set of patches), exchanges
half of the node's pooled channels between the trees before the node's conv; the outputs
of the two trees are summed.  In convac's layout (pool, then conv, at every node) the
paper's ``phi^{mu, gamma}`` is the pooled value of node ``mu`` and its weights
``a^{nu, gamma, I}`` are the convs of ``nu``'s children.

References
----------
N. Cohen, R. Tamari, A. Shashua, "Boosting Dilated Convolutional Networks with Mixed
Tensor Decompositions", ICLR 2018 (arXiv 1703.06846): def. 1 (mode tree), eq. 4 (mixed
decomposition), def. 4 (hybrid mode trees).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from .. import validate
from .network import (
    PROBE_BATCH,
    PROBE_BYTES,
    ConvAC,
    fan_in_draws,
    node_conv,
    seeded_generator,
    unit_log_gain,
)
from .pooling import PRODUCT
from .tree import canonical_tree

__all__ = [
    "tree_leaves",
    "check_mode_tree",
    "tree_nodes",
    "schedule_tree",
    "dilated_tree",
    "dilated_order",
    "swapped_dilations",
    "common_nodes",
    "hybrid_trees",
    "hybrid_tree",
    "MixedConvAC",
]


def tree_leaves(tree) -> tuple:
    """The patch indices of a nested-tuple tree, left to right."""
    if isinstance(tree, (int, np.integer)) and not isinstance(tree, bool):
        return (int(tree),)
    return tuple(leaf for child in tree for leaf in tree_leaves(child))


def check_mode_tree(tree, n_patches: int | None = None, binary: bool = False) -> tuple:
    """Validate a mode tree given as nested tuples of patch indices; return its leaves.

    The structure is checked by :func:`convac.nets.tree.canonical_tree` (every interior
    node a sequence of at least two children); here also: nested tuples (the tree is a
    key), exactly two children per node when ``binary``, the leaves a permutation of
    ``range(N)``.

    Raises
    ------
    convac.validate.InvalidValueError, convac.validate.InvalidTypeError
        Naming the offending node.
    """
    if not isinstance(tree, tuple):
        raise validate.InvalidTypeError(
            f"a mode tree is nested tuples of patch indices, got {tree!r} "
            f"({type(tree).__name__})")
    shape, leaves = canonical_tree(tree, "mode tree")
    if binary:
        wide = [node for node in _subtrees(shape) if not isinstance(node, int) and len(node) != 2]
        if wide:
            raise validate.InvalidValueError(
                f"every interior node needs exactly 2 children, got {len(wide[0])} in a node "
                f"of {tree!r}")
    n = len(leaves) if n_patches is None else validate.positive_int(n_patches, "n_patches", 2)
    if sorted(leaves) != list(range(n)):
        raise validate.InvalidValueError(
            f"the leaves of a mode tree must be a permutation of range({n}), got "
            f"{list(leaves)}")
    return tuple(leaves)


def tree_nodes(tree) -> dict:
    """Interior nodes of a nested-tuple tree: ``{frozenset of patches: (depth, children
    as frozensets)}`` (the root has depth 0)."""
    nodes = {}

    def walk(node, depth):
        if isinstance(node, (int, np.integer)):
            return frozenset((int(node),))
        kids = tuple(walk(child, depth + 1) for child in node)
        key = frozenset().union(*kids)
        nodes[key] = (depth, kids)
        return key

    walk(tree, 0)
    return nodes


def schedule_tree(windows, order) -> tuple:
    """The mode tree of a pooling schedule: windows ``w_1 .. w_L`` over the patch order
    ``order`` (tree position ``p`` holds patch ``order[p]``), as nested tuples."""
    level = [int(p) for p in order]
    for w in windows:
        if len(level) % w:
            raise validate.InvalidValueError(
                f"windows {tuple(windows)} do not divide {len(order)} patches level by level")
        level = [tuple(level[j : j + w]) for j in range(0, len(level), w)]
    if len(level) != 1:
        raise validate.InvalidValueError(
            f"windows {tuple(windows)} multiply to {len(order) // len(level)}, expected "
            f"{len(order)}")
    return level[0]


def dilated_tree(dilations) -> tuple:
    """Mode tree of a dilated convolutional network with size-2 filters.

    Layer ``l`` combines its input at times ``t - d_l`` and ``t``; the output at time ``t``
    reads ``x[t - N + 1] .. x[t]``, patch ``i`` (0-based) being ``x[t - N + 1 + i]``.

    Parameters
    ----------
    dilations : sequence of int
        ``d_1 .. d_L``; the offsets ``sum_l b_l d_l`` (``b`` in ``{0, 1}^L``) must be
        ``0 .. 2^L - 1``, each once (e.g. a permutation of ``1, 2, .., 2^(L-1)``).

    Returns
    -------
    tuple
        Nested pairs (first child: the input at ``t - d_l``).
    """
    dil = tuple(validate.positive_int(d, f"dilations[{i}]") for i, d in enumerate(dilations))
    if not dil:
        raise validate.InvalidValueError("dilations must hold at least one layer, got ()")
    n = 2 ** len(dil)
    offsets = sorted(sum(b * d for b, d in zip(bits, dil, strict=True))
                     for bits in itertools.product((0, 1), repeat=len(dil)))
    if offsets != list(range(n)):
        raise validate.InvalidValueError(
            f"dilations {dil} do not cover the window 0..{n - 1} once (use a permutation "
            f"of the powers 1, 2, .., {n // 2})")

    def node(layer, offset):  # the node of layer `layer` at time t - offset
        if layer == 0:
            return n - 1 - offset
        return (node(layer - 1, offset + dil[layer - 1]), node(layer - 1, offset))

    return node(len(dil), 0)


def dilated_order(dilations) -> np.ndarray:
    """Patch order that makes the balanced binary tree the mode tree of
    :func:`dilated_tree` (``ConvAC(.., windows=(2,) * L, geometry=dilated_order(d))``)."""
    return np.asarray(tree_leaves(dilated_tree(dilations)), dtype=np.int64)


def swapped_dilations(n_levels: int, group: int = 1) -> tuple:
    """Dilations with those of every group of ``group`` consecutive layers reversed.

    Layer ``l`` (1-based) gets ``2^(ceil(l/k) k - 1 - ((l-1) mod k))``: ``group=1`` is the
    baseline ``2^(l-1)``, ``group=2`` swaps even and odd layers (the paper's fig. 2b).
    """
    levels = validate.positive_int(n_levels, "n_levels")
    k = validate.positive_int(group, "group")
    if levels % k:
        raise validate.InvalidValueError(
            f"group={k} must divide n_levels={levels} (whole groups of layers are swapped)")
    return tuple(2 ** (-(-lvl // k) * k - 1 - ((lvl - 1) % k)) for lvl in range(1, levels + 1))


def _node_sets(net: ConvAC) -> list[list[frozenset]]:
    """Per level, the patch set of each node of a ConvAC's tree."""
    s = net.schedule
    order = net.order.detach().cpu().tolist()
    return [[frozenset(order[p] for p in s.leaves(level, j)) for j in range(s.nodes[level])]
            for level in range(s.n_levels + 1)]


def common_nodes(first: ConvAC, second: ConvAC, levels=None) -> tuple:
    """The interior nodes (patch sets) the two networks' trees share, root excluded,
    optionally only those of the given levels (``1 .. L-1``); smallest first."""
    a, b = _node_sets(first), _node_sets(second)
    n_levels = len(a) - 1
    keep = range(1, n_levels) if levels is None else [
        validate.integer(lv, "level", 1, n_levels - 1) for lv in levels]
    return tuple(node for lv in keep if lv < len(b) for node in a[lv] if node in set(b[lv]))


def hybrid_trees(first, second, mixture: Iterable) -> Iterator:
    """Every hybrid mode tree of two mode trees (def. 4 of the paper).

    Parameters
    ----------
    first, second : nested tuples
        Two mode trees over the same patches.
    mixture : iterable of sets of patches
        Interior nodes of both trees (the root excluded).

    Yields
    ------
    (choice, tree)
        ``choice`` maps each mixture node and the root (frozensets) to the tree (0 or 1)
        whose segment below it the hybrid takes; ``tree`` is the hybrid as nested tuples
        (:func:`hybrid_tree`).  ``2^(len(mixture) + 1)`` of them.
    """
    mix = _check_mixture((first, second), mixture)
    keys = (*mix, frozenset(tree_leaves(first)))
    for bits in itertools.product((0, 1), repeat=len(keys)):
        choice = dict(zip(keys, bits, strict=True))
        yield choice, hybrid_tree(first, second, choice)


def hybrid_tree(first, second, choice: dict) -> tuple:
    """The hybrid tree taking, below each mixture node and the root (the keys of
    ``choice``, frozensets of patches), the segment of tree ``choice[node]`` (0: first,
    1: second) down to the next mixture nodes."""
    trees = (first, second)
    subtrees = [{frozenset(tree_leaves(t)): t for t in _subtrees(tree)} for tree in trees]
    root = frozenset(tree_leaves(first))
    if root not in choice:
        raise validate.InvalidValueError("choice must name the tree of the root's segment")

    def graft(node, top):
        if isinstance(node, int):
            return node
        key = frozenset(tree_leaves(node))
        if not top and key in choice:
            return graft(subtrees[choice[key]][key], True)
        return tuple(graft(child, False) for child in node)

    return graft(subtrees[choice[root]][root], True)


def _subtrees(tree):
    yield tree
    if not isinstance(tree, int):
        for child in tree:
            yield from _subtrees(child)


def _check_mixture(trees, mixture) -> tuple:
    """Mixture nodes as frozensets, each an interior non-root node of both trees."""
    interiors = [tree_nodes(t) for t in trees]
    root = frozenset(tree_leaves(trees[0]))
    mix = []
    for i, node in enumerate(mixture):
        try:
            key = frozenset(int(p) for p in node)
        except TypeError:
            raise validate.InvalidTypeError(
                f"mixture[{i}] must be a set of patch indices, got {node!r}") from None
        if key == root or any(key not in nodes for nodes in interiors):
            raise validate.InvalidValueError(
                f"mixture[{i}] = {sorted(key)} is not an interior node of both trees other "
                "than the root (see convac.nets.mixed.common_nodes)")
        mix.append(key)
    if len(set(mix)) != len(mix):
        raise validate.InvalidValueError(f"mixture repeats a node: {[sorted(m) for m in mix]}")
    return tuple(sorted(mix, key=lambda m: (len(m), sorted(m))))


class MixedConvAC(nn.Module):
    """Two ConvACs over the same patches, interconnected at mixture nodes, outputs summed.

    Parameters
    ----------
    first, second : ConvAC
        Product-pooling networks with the same patches, channels, outputs and windows
        (their trees differ by their patch orders: e.g. a dilated network and its
        dilation-swapped twin).  They are held as submodules: their weights are the
        mixed network's.
    mixture : iterable of sets of patch indices
        Interior nodes of both trees (not the root).  At each, the first
        ``h = r_{l-1} // 2`` pooled channels of the node are exchanged between the trees
        before its conv (the paper's eq. 4 with ``r / 2``).

    Notes
    -----
    ``forward(features)`` takes ``(batch, N, M)`` features like a ConvAC and returns
    ``(batch, Y)``: ``first``'s output plus ``second``'s, each tree reading at a mixture
    node the exchanged channels.  With an empty mixture it is the sum of the two networks.

    The constructor keeps the networks' weights; :meth:`reset_parameters` draws the
    default ones, scaled for the mixed forward (``docs/initialisation.md``).
    """

    def __init__(self, first: ConvAC, second: ConvAC, mixture: Iterable = ()):
        super().__init__()
        for name, net in (("first", first), ("second", second)):
            if not isinstance(net, ConvAC) or net.pooling != PRODUCT:
                raise validate.InvalidTypeError(
                    f"{name} must be a product-pooling ConvAC, got {type(net).__name__}")
        sa, sb = first.schedule, second.schedule
        for attr in ("n_patches", "n_channels", "n_outputs", "windows"):
            if getattr(sa, attr) != getattr(sb, attr):
                raise validate.InvalidValueError(
                    f"the two networks must have the same {attr}, got {getattr(sa, attr)} "
                    f"and {getattr(sb, attr)}")
        self.first, self.second = first, second
        sets = (_node_sets(first), _node_sets(second))
        trees = (schedule_tree(sa.windows, first.order.tolist()),
                 schedule_tree(sb.windows, second.order.tolist()))
        self.mixture = _check_mixture(trees, mixture)
        swaps = {}
        for node in self.mixture:
            level = next(lv for lv, nodes in enumerate(sets[0]) if node in nodes)
            width = sa.ranks[level - 1]
            if sb.ranks[level - 1] != width:
                raise validate.InvalidValueError(
                    f"mixture node {sorted(node)} pools {width} channels in first and "
                    f"{sb.ranks[level - 1]} in second; exchanging needs equal widths")
            ia, ib = sets[0][level].index(node), sets[1][level].index(node)
            swaps.setdefault(level, ([], []))
            swaps[level][0].append(ia)
            swaps[level][1].append(ib)
        self._swaps = {lv: (torch.tensor(a), torch.tensor(b)) for lv, (a, b) in swaps.items()}

    @property
    def n_patches(self) -> int:
        return self.first.n_patches

    @property
    def n_channels(self) -> int:
        return self.first.n_channels

    @property
    def n_outputs(self) -> int:
        return self.first.n_outputs

    def trees(self) -> tuple:
        """The two mode trees as nested tuples of patch indices."""
        return tuple(schedule_tree(net.windows, net.order.tolist())
                     for net in (self.first, self.second))

    def swap_width(self, node) -> int:
        """Channels exchanged at a mixture node (half its pooled width, rounded down)."""
        key = frozenset(node)
        if key not in self.mixture:
            raise validate.InvalidValueError(f"{sorted(key)} is not a mixture node")
        return self.first.schedule.ranks[_level_of(self.first, key) - 1] // 2

    def extra_repr(self) -> str:
        return f"mixture={[sorted(m) for m in self.mixture]}"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, Y)`` of the mixed network on features ``(batch, N, M)``."""
        a_net, b_net = self.first, self.second
        n, m = a_net.n_patches, a_net.n_channels
        if not isinstance(features, torch.Tensor) or features.ndim != 3 or \
                tuple(features.shape[1:]) != (n, m):
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else features
            raise validate.InvalidValueError(
                f"features must be a tensor (batch, {n}, {m}), got {shape}")
        wa, wb = a_net.weight_levels(), b_net.weight_levels()
        return self._fold(features.to(wa[0].dtype), (a_net.order, b_net.order), wa, wb,
                          lambda level, side, x, w: node_conv(x, w))

    def _fold(self, features: torch.Tensor, orders: tuple, wa: list, wb: list,
              conv) -> torch.Tensor:
        """The mixed forward of checked features ``(B, N, M)`` with the patch orders and
        weight levels of the two networks; ``conv(level, side, x, weight)`` computes each
        level's convs (``side`` 0 for ``first``, 1 for ``second``)."""
        a = conv(0, 0, features.index_select(1, orders[0]).transpose(0, 1), wa[0])  # (N, B, r0)
        b = conv(0, 1, features.index_select(1, orders[1]).transpose(0, 1), wb[0])  # (N, B, r0)
        for level, w in enumerate(self.first.windows, start=1):
            nodes, batch, r = a.shape
            pa = a.view(nodes // w, w, batch, r).prod(dim=1)  # (nodes/w, B, r_{l-1})
            pb = b.view(nodes // w, w, batch, r).prod(dim=1)  # (nodes/w, B, r_{l-1})
            if level in self._swaps:
                ia, ib = (idx.to(pa.device) for idx in self._swaps[level])
                h = r // 2
                pa, pb = _exchange(pa, pb, ia, ib, h)
            a, b = conv(level, 0, pa, wa[level]), conv(level, 1, pb, wb[level])  # (nodes/w, B, r_l)
        return (a + b)[0]  # (B, Y)

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw new weights for both networks, scaled for the mixed forward.

        Every level of ``first`` and then of ``second`` is drawn ``N(0, 1 / fan_in)`` from
        one seeded stream, then multiplied by one constant per level and network so that,
        on features with i.i.d. standard-normal channels, every conv output of the mixed
        forward (the exchanged channels included) has geometric-mean magnitude 1: the
        rule of :meth:`ConvAC.reset_parameters`, its probe (drawn from the same stream
        after the weights) run through the mixed forward.  The two networks' own defaults
        are each scaled for its tree alone; the exchange changes the channels a level
        reads, and products carry the change up the tree (measured: median |output| 3e4 at
        N = 256, ``docs/initialisation.md``).  The constructor keeps the weights it is
        given (e.g. integer weights for exact ranks): call this for the default.
        """
        gen = seeded_generator(seed)
        nets = (self.first, self.second)
        draws = [fan_in_draws(net.weights, gen) for net in nets]
        s = self.first.schedule
        batch = max(16, min(PROBE_BATCH, PROBE_BYTES // (8 * s.n_patches * s.max_width)))
        probe = torch.randn(batch, s.n_patches, s.n_channels, generator=gen,
                            dtype=torch.float64)  # (P, N, M)
        gains = [[1.0] * len(d) for d in draws]

        def conv(level, side, x, weight):
            out = node_conv(x, weight)
            gains[side][level] = unit_log_gain(out)
            return out.mul_(gains[side][level])

        # the probe runs on the CPU in float64, whatever the networks' device
        self._fold(probe, tuple(net.order.detach().cpu() for net in nets), *draws, conv)
        for net, draw, gain in zip(nets, draws, gains, strict=True):
            for w, d, g in zip(net.weights, draw, gain, strict=True):
                w.copy_((d * g).to(w.dtype))


def _exchange(pa, pb, ia, ib, h):
    """``pa[ia, :, :h]`` and ``pb[ib, :, :h]`` exchanged (out of place, for autograd)."""
    na, nb = pa.clone(), pb.clone()
    na[ia, :, :h] = pb[ib, :, :h]
    nb[ib, :, :h] = pa[ia, :, :h]
    return na, nb


def _level_of(net: ConvAC, node: frozenset) -> int:
    span = 1
    for level, w in enumerate(net.windows, start=1):
        span *= w
        if span == len(node):
            return level
    raise validate.InvalidValueError(f"{sorted(node)} is not a node of the network's tree")
