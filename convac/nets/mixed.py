"""Mixed networks: two pooling trees over the same patches, interconnected at chosen nodes.

A mode tree is given as nested tuples of patch indices, e.g. ``((0, 1), (2, 3))``, and
read as the networks' own tree type: :func:`convac.nets.tree.mode_tree` makes it a
:class:`~convac.nets.tree.PoolingTree` and its patch order, and
:func:`convac.nets.tree.patch_nodes` lists the nodes of a mode tree and of a
:class:`~convac.nets.network.ConvAC`'s tree alike by their sets of patches
(:func:`convac.nets.tree.patch_tree`: a ConvAC's tree as nested tuples).

A dilated convolutional network with size-2 filters and dilations ``d_1 .. d_L`` is a
perfect binary mode tree (:func:`dilated_tree`); the baseline has ``d_l = 2^(l-1)``, its
dilation-swapped twins (:func:`swapped_dilations`) are the same balanced tree over
another patch order (:func:`dilated_order`).

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
    signed_log,
    signed_log_conv,
    unit_log_gain,
)
from .pooling import PRODUCT
from .tree import mode_tree, nodes_of, patch_nodes

__all__ = [
    "check_mode_tree",
    "mode_tree_nodes",
    "network_nodes",
    "dilated_tree",
    "dilated_order",
    "swapped_dilations",
    "common_nodes",
    "hybrid_trees",
    "hybrid_tree",
    "MixedConvAC",
]


def check_mode_tree(tree, n_patches: int | None = None, binary: bool = False) -> tuple:
    """Validate a mode tree given as nested tuples of patch indices; return its leaves.

    The structure is checked by :func:`convac.nets.tree.mode_tree` (every interior node
    a sequence of at least two children, the leaves a permutation of ``range(N)``); here
    also: nested tuples (the tree is a key), exactly two children per node when
    ``binary``.

    Raises
    ------
    convac.validate.InvalidValueError, convac.validate.InvalidTypeError
        Naming the offending node.
    """
    if not isinstance(tree, tuple):
        raise validate.InvalidTypeError(
            f"a mode tree is nested tuples of patch indices, got {tree!r} "
            f"({type(tree).__name__})")
    shape, order = mode_tree(tree, n_patches)
    if binary:
        wide = [tn for tn in nodes_of(shape) if tn.level and len(tn.children) != 2]
        if wide:
            raise validate.InvalidValueError(
                f"every interior node needs exactly 2 children, got {len(wide[0].children)} "
                f"in a node of {tree!r}")
    return tuple(int(p) for p in order)


def mode_tree_nodes(tree) -> dict:
    """The interior nodes of a mode tree (nested tuples of patch indices):
    ``{frozenset of patches: PatchNode}`` (:func:`convac.nets.tree.patch_nodes`; a
    node's ``node.level`` is its height), children before parents, the root last."""
    return {key: pn for key, pn in patch_nodes(*mode_tree(tree)).items() if pn.children}


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
    return mode_tree(dilated_tree(dilations))[1]


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


def network_nodes(net: ConvAC) -> dict:
    """Every node of a ConvAC's tree by its set of patches
    (:func:`convac.nets.tree.patch_nodes` over the network's patch order)."""
    return patch_nodes(net.schedule, net.order.detach().cpu().tolist())


def common_nodes(first: ConvAC, second: ConvAC, levels=None) -> tuple:
    """The interior nodes (patch sets) the two networks' trees share at the same level,
    root excluded, optionally only those of the given levels (``1 .. L-1``); smallest
    first."""
    a, b = network_nodes(first), network_nodes(second)
    n_levels = first.schedule.n_levels
    keep = set(range(1, n_levels)) if levels is None else {
        validate.integer(lv, "level", 1, n_levels - 1) for lv in levels}
    shared = [key for key, pn in a.items() if pn.node.level in keep and key in b
              and b[key].node.level == pn.node.level and not b[key].node.is_root]
    return tuple(sorted(shared, key=lambda key: (a[key].node.level, a[key].node.index)))


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
    keys = (*mix, frozenset(check_mode_tree(first)))
    for bits in itertools.product((0, 1), repeat=len(keys)):
        choice = dict(zip(keys, bits, strict=True))
        yield choice, hybrid_tree(first, second, choice)


def hybrid_tree(first, second, choice: dict) -> tuple:
    """The hybrid tree taking, below each mixture node and the root (the keys of
    ``choice``, frozensets of patches), the segment of tree ``choice[node]`` (0: first,
    1: second) down to the next mixture nodes."""
    nodes = [patch_nodes(*mode_tree(t)) for t in (first, second)]
    root = next(reversed(nodes[0]))
    if root not in choice:
        raise validate.InvalidValueError("choice must name the tree of the root's segment")

    def graft(key, tree):  # the node `key` of the segment of tree `tree`
        pn = nodes[tree][key]
        if not pn.children:
            return pn.subtree
        return tuple(graft(child, choice.get(child, tree)) for child in pn.children)

    return graft(root, choice[root])


def _check_mixture(trees, mixture) -> tuple:
    """Mixture nodes as frozensets, each an interior non-root node of both trees."""
    interiors = [mode_tree_nodes(t) for t in trees]
    root = next(reversed(interiors[0]))
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
        nodes = (network_nodes(first), network_nodes(second))
        self.mixture = _check_mixture(self.trees(), mixture)
        swaps = {}
        for key in self.mixture:
            na, nb = nodes[0][key].node, nodes[1][key].node  # same size: same level
            if na.rank_in != nb.rank_in:
                raise validate.InvalidValueError(
                    f"mixture node {sorted(key)} pools {na.rank_in} channels in first and "
                    f"{nb.rank_in} in second; exchanging needs equal widths")
            swaps.setdefault(na.level, ([], []))
            swaps[na.level][0].append(na.index)
            swaps[na.level][1].append(nb.index)
        self._swaps = {lv: (torch.tensor(a), torch.tensor(b)) for lv, (a, b) in swaps.items()}
        self._widths = {key: nodes[0][key].node.rank_in for key in self.mixture}

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
        return self.first.patch_tree(), self.second.patch_tree()

    def swap_width(self, node) -> int:
        """Channels exchanged at a mixture node (half its pooled width, rounded down)."""
        key = frozenset(node)
        if key not in self.mixture:
            raise validate.InvalidValueError(f"{sorted(key)} is not a mixture node")
        return self._widths[key] // 2

    def extra_repr(self) -> str:
        return f"mixture={[sorted(m) for m in self.mixture]}"

    def _walk(self, features: torch.Tensor, leaf, pool, conv) -> tuple:
        """The two trees level by level, exchanging at the mixture nodes: a value is a
        tuple of tensors ``(nodes, B, r)`` (the linear activations, or log-magnitudes and
        signs); ``leaf`` maps the leaf convs to a value, ``pool(value, w)`` pools windows
        of ``w`` nodes, ``conv(value, weight)`` is a level's conv.  Returns the two roots'
        values."""
        a_net, b_net = self.first, self.second
        n, m = a_net.n_patches, a_net.n_channels
        if not isinstance(features, torch.Tensor) or features.ndim != 3 or \
                tuple(features.shape[1:]) != (n, m):
            shape = tuple(features.shape) if isinstance(features, torch.Tensor) else features
            raise validate.InvalidValueError(
                f"features must be a tensor (batch, {n}, {m}), got {shape}")
        wa, wb = a_net.weight_levels(), b_net.weight_levels()
        features = features.to(wa[0].dtype)
        a = leaf(node_conv(features.index_select(1, a_net.order).transpose(0, 1), wa[0]))
        b = leaf(node_conv(features.index_select(1, b_net.order).transpose(0, 1), wb[0]))
        for level, w in enumerate(a_net.windows, start=1):
            pa, pb = pool(a, w), pool(b, w)  # (nodes/w, B, r_{l-1}) each
            if level in self._swaps:
                ia, ib = (idx.to(pa[0].device) for idx in self._swaps[level])
                h = pa[0].shape[-1] // 2
                swapped = [_exchange(xa, xb, ia, ib, h) for xa, xb in zip(pa, pb, strict=True)]
                pa, pb = tuple(x for x, _ in swapped), tuple(y for _, y in swapped)
            a, b = conv(pa, wa[level]), conv(pb, wb[level])  # (nodes/w, B, r_l) each
        return a, b

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, Y)`` of the mixed network on features ``(batch, N, M)``."""
        a, b = self._walk(features, lambda x: (x,), _product_pool,
                          lambda value, weight: (node_conv(value[0], weight),))
        return (a[0] + b[0])[0]  # (B, Y)

    def forward_log(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs as signed log-magnitudes ``(log|h_y(X)|, sign(h_y(X)))``, each
        ``(batch, Y)``, the convention of :meth:`ConvAC.forward_log`.

        Products become sums of ``log|x|`` (signs multiply), each conv and the final sum
        of the two trees' outputs a signed log-sum-exp, so no intermediate overflows or
        underflows; the exchange at a mixture node moves log-magnitudes and signs alike.
        """

        def pool(value, w):
            log_abs, sign = value
            nodes, batch, r = log_abs.shape
            return (log_abs.view(nodes // w, w, batch, r).sum(dim=1),
                    sign.view(nodes // w, w, batch, r).prod(dim=1))

        a, b = self._walk(features, lambda x: signed_log(x), pool,
                          lambda value, weight: signed_log_conv(*value, weight))
        # the sum of the two roots (1, B, Y): a signed log-sum-exp over a last axis of 2
        log_abs = torch.stack((a[0][0], b[0][0]), dim=-1)  # (B, Y, 2)
        sign = torch.stack((a[1][0], b[1][0]), dim=-1)  # (B, Y, 2)
        ones = torch.ones(1, 2, dtype=log_abs.dtype, device=log_abs.device)
        log_abs, sign = signed_log_conv(log_abs, sign, ones)  # (B, Y, 1) each
        return log_abs[..., 0], sign[..., 0]

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw new weights for both networks, scaled for the mixed forward.

        Every level of ``first`` and then of ``second`` is drawn ``N(0, 1 / fan_in)`` from
        one seeded stream, then multiplied by one constant per level and network so that,
        on features with i.i.d. standard-normal channels, every conv output of the mixed
        forward (the exchanged channels included) has geometric-mean magnitude 1: the
        rule of :meth:`ConvAC.reset_parameters`, its probe (drawn from the same stream
        after the weights) run through the mixed forward, in the networks' dtype and on
        their device.  The two networks' own defaults
        are each scaled for its tree alone; the exchange changes the channels a level
        reads, and products carry the change up the tree (measured: median |output| 3e4 at
        N = 256, ``docs/initialisation.md``).  The constructor keeps the weights it is
        given (e.g. integer weights for exact ranks): call this for the default.
        """
        gen = seeded_generator(seed)
        nets = (self.first, self.second)
        for net in nets:
            for w, draw in zip(net.weights, fan_in_draws(net.weights, gen), strict=True):
                w.copy_(draw)
        s = self.first.schedule
        batch = max(16, min(PROBE_BATCH, PROBE_BYTES // (8 * s.n_patches * s.max_width)))
        probe = torch.randn(batch, s.n_patches, s.n_channels, generator=gen,
                            dtype=torch.float64)  # (P, N, M)
        # which (network, level) a conv belongs to, by its weight; _walk convolves first's
        # leaves before second's
        key_of = {id(w): (side, level) for side, net in enumerate(nets)
                  for level, w in enumerate(net.weight_levels())}
        leaf_keys = iter(((0, 0), (1, 0)))
        gains = {}

        def scaled(key, x: torch.Tensor) -> tuple:
            gains[key] = unit_log_gain(x)
            return (x.mul_(gains[key]),)  # the next level pools the rescaled outputs

        self._walk(probe.to(self.first.weights[0]), lambda x: scaled(next(leaf_keys), x),
                   _product_pool,
                   lambda value, weight: scaled(key_of[id(weight)], node_conv(value[0], weight)))
        for (side, level), gain in gains.items():
            nets[side].weights[level].mul_(gain)


def _product_pool(value: tuple, w: int) -> tuple:
    """Product pooling of windows of ``w`` nodes of a linear value ``(x,)``, ``x`` of
    shape ``(nodes, B, r)``."""
    x = value[0]
    nodes, batch, r = x.shape
    return (x.view(nodes // w, w, batch, r).prod(dim=1),)


def _exchange(pa, pb, ia, ib, h):
    """``pa[ia, :, :h]`` and ``pb[ib, :, :h]`` exchanged (out of place, for autograd)."""
    na, nb = pa.clone(), pb.clone()
    na[ia, :, :h] = pb[ib, :, :h]
    nb[ib, :, :h] = pa[ia, :, :h]
    return na, nb
