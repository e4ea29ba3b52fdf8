"""The pooling tree of a network, and the one traversal every computation folds over.

A tree is either a balanced :class:`~convac.nets.geometry.PoolingSchedule` (windows
``w_1 .. w_L``: level 0 has ``N`` conv nodes, one per tree position, and node ``j`` of
level ``l >= 1`` pools the ``w_l`` nodes ``j*w_l .. (j+1)*w_l - 1`` of level ``l-1``) or
a :class:`PoolingTree` given by its shape: any rooted tree over the ``N`` tree positions,
any arity per node, a rank per inner node.  Either way the leaves under a node are a
contiguous range of tree positions, and tree position ``p`` reads patch ``order[p]``
(the network's patch order).

:func:`fold` walks a tree children before parents (as cotengra's
``ContractionTree.traverse``); the forward pass, the coefficient and grid tensors, the
structured and exact ranks and the min-cut bound differ only in what they compute at a
leaf and at a node.  :func:`fold_levels` is the same walk one level at a time, for
computations batched over the nodes of a level (the forward pass of a balanced schedule).

Ranks of a tree: inner node ``v`` pools its children channel by channel, so its children
share one width, the node's *rank* ``r_v``; every child's conv maps its input to ``r_v``
channels, and the root's conv to the ``Y`` outputs.  For a schedule, the nodes of level
``l >= 1`` have rank ``r_{l-1}``.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (eq. 2-4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .. import validate
from .geometry import DEFAULT_MAX_BYTES, PoolingSchedule

__all__ = ["TreeNode", "PoolingTree", "traverse", "fold", "fold_levels", "nodes_of",
           "tree_from_parents", "build_tree", "caterpillar", "canonical_tree", "tree_tokens",
           "tree_from_tokens", "PatchNode", "patch_nodes", "patch_tree", "mode_tree"]


class TreeNode(NamedTuple):
    """One conv node of the pooling tree.

    Attributes
    ----------
    level : int
        ``0`` for the leaf convs (one per tree position); above, the level of a schedule,
        or the height of a node of a :class:`PoolingTree` (``1 + `` its highest child's).
    index : int
        Position of the node within its level (``0 .. nodes[level] - 1``); a leaf's index
        is its tree position.
    children : range or tuple of int
        A schedule's node: indices of its children at ``level - 1``; a
        :class:`PoolingTree`'s: their keys.  Empty for a leaf.
    leaves : range
        Tree positions below it.
    is_root : bool
        Whether it is the top node, whose conv is the output layer.
    key : int
        Position of the node in the traversal (children before parents; the leaves are
        keys ``0 .. N-1``): the index of its weight in :meth:`ConvAC.node_weights`.
    rank_in : int
        Channels its conv reads: ``M`` at a leaf, the node's rank above.
    rank_out : int
        Channels its conv writes: its parent's rank, ``Y`` at the root.
    """

    level: int
    index: int
    children: Any
    leaves: range
    is_root: bool
    key: int = 0
    rank_in: int = 0
    rank_out: int = 0


def _is_index(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _rebuild(root, leaf: Callable, children_of: Callable) -> Any:
    """Nested tuples shaped like the tree below ``root``, built without recursion (a
    caterpillar of any length stays within Python's recursion limit).

    ``children_of(x, path)`` returns the children of ``x`` (a sequence) or ``None`` for a
    leaf, whose value is ``leaf(x, path)``; ``path()`` spells where ``x`` is
    (``"[1][0]"``), for error messages.
    """
    stack: list = []  # (children, values built so far): the index of the child in hand

    def path() -> str:
        return "".join(f"[{len(built)}]" for _, built in stack)

    kids = children_of(root, path)
    if kids is None:
        return leaf(root, path)
    stack.append((kids, []))
    while True:
        kids, built = stack[-1]
        if len(built) == len(kids):
            stack.pop()
            if not stack:
                return tuple(built)
            stack[-1][1].append(tuple(built))
            continue
        child = kids[len(built)]
        grand = children_of(child, path)
        if grand is None:
            built.append(leaf(child, path))
        else:
            stack.append((grand, []))


def tree_text(tree) -> str:
    """``repr`` of nested tuples of ints, without recursion (Python's own ``repr`` stops
    at its recursion limit: a caterpillar of about a thousand patches)."""
    parts, stack = [], [tree]  # subtrees, and the text that closes them
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, tuple):
            parts.append("(")
            stack.append(",)" if len(item) == 1 else ")")
            for i in reversed(range(len(item))):
                stack.append(item[i])
                if i:
                    stack.append(", ")
        else:
            parts.append(repr(item))
    return "".join(parts)


def tree_tokens(tree) -> tuple[int, ...]:
    """Nested tuples of ints as one flat tuple, without recursion: a leaf is its value
    (``>= 0``), an inner node ``-k`` for its ``k`` children, followed by theirs (pre-order).
    Compared, hashed and pickled where the nested tuples would reach Python's recursion
    limit (a caterpillar of about a thousand patches); :func:`tree_from_tokens` inverts it.
    """
    out, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            out.append(-len(item))
            stack.extend(reversed(item))
        else:
            out.append(item)
    return tuple(out)


def tree_from_tokens(tokens) -> Any:
    """The nested tuples :func:`tree_tokens` flattened into ``tokens``."""
    open_nodes: list[tuple[list, int]] = []  # inner nodes begun: children so far, arity
    for token in tokens:
        if token < 0:
            open_nodes.append(([], -token))
            continue
        item = token
        while open_nodes:  # close every node this completes
            children, arity = open_nodes[-1]
            children.append(item)
            if len(children) < arity:
                break
            open_nodes.pop()
            item = tuple(children)
        else:
            return item
    raise validate.InvalidValueError(
        f"tokens {tuple(tokens)[:20]} end inside a node: expected the output of tree_tokens")


def canonical_tree(spec, what: str = "tree") -> tuple[Any, list[int]]:
    """``spec`` (nested sequences of patch indices) as nested tuples of tree positions,
    and the patch at every position (the leaves left to right)."""
    order: list[int] = []

    def children_of(sub, path):
        if _is_index(sub):
            return None
        if isinstance(sub, (str, bytes)) or not isinstance(sub, Sequence):
            raise validate.InvalidTypeError(
                f"{what}{path()} must be a patch index or a sequence of subtrees, got {sub!r}")
        if len(sub) < 2:
            raise validate.InvalidValueError(
                f"{what}{path()} = {sub!r}: every inner node needs at least two children "
                "(a patch index is a leaf; write it without a tuple around it)")
        return sub

    def leaf(sub, path):
        order.append(int(sub))
        return len(order) - 1

    shape = _rebuild(spec, leaf, children_of)
    if isinstance(shape, int):
        raise validate.InvalidValueError(
            f"{what} must have an inner node over at least two patches, got {spec!r}")
    return shape, order


def tree_from_parents(parents) -> tuple:
    """Nested tuples of patch indices from a parent array.

    Parameters
    ----------
    parents : sequence of int
        ``parents[v]`` is the parent of node ``v`` and ``-1`` for the root.  The nodes
        nobody points to are the leaves and must be ``0 .. N-1`` (patch ``v``); the inner
        nodes are ``N ..``.  A node's children are taken in increasing order.

    Returns
    -------
    tuple
        The tree in the nested form ``ConvAC(tree=...)`` accepts.
    """
    try:
        parents = [int(p) for p in parents]
    except (TypeError, ValueError):
        raise validate.InvalidTypeError(
            f"parents must be a sequence of ints (-1 for the root), got {parents!r}") from None
    n_nodes = len(parents)
    roots = [v for v, p in enumerate(parents) if p == -1]
    if len(roots) != 1:
        raise validate.InvalidValueError(
            f"parents must name exactly one root (-1), got {len(roots)} in {parents}")
    children: list[list[int]] = [[] for _ in range(n_nodes)]
    for v, p in enumerate(parents):
        if p != -1:
            if not 0 <= p < n_nodes or p == v:
                raise validate.InvalidValueError(
                    f"parents[{v}] = {p} is not a node index in 0..{n_nodes - 1} other than {v}")
            children[p].append(v)
    single = [v for v in range(n_nodes) if len(children[v]) == 1]
    if single:
        raise validate.InvalidValueError(
            f"every inner node needs at least two children; nodes {single} of parents "
            f"{parents} have one")
    leaves = [v for v in range(n_nodes) if not children[v]]
    if leaves != list(range(len(leaves))):
        raise validate.InvalidValueError(
            f"the leaves of a parent array must be nodes 0..N-1 (the patches), got {leaves}")
    seen = set()

    def children_of(v, path):
        if v in seen:
            raise validate.InvalidValueError(f"parents has a cycle through node {v}")
        seen.add(v)
        return children[v] or None

    tree = _rebuild(roots[0], lambda v, path: v, children_of)
    if len(seen) != n_nodes:
        raise validate.InvalidValueError(
            f"parents is not one tree: nodes {sorted(set(range(n_nodes)) - seen)} do not "
            "reach the root")
    return tree


def caterpillar(n_patches: int) -> tuple:
    """The caterpillar tree ``(((0, 1), 2), 3) ..`` of a tensor train / recurrent
    arithmetic circuit: node ``k`` pools the hidden state of patches ``0 .. k-1`` with
    patch ``k``."""
    n = validate.positive_int(n_patches, "n_patches", 2)
    tree: Any = (0, 1)
    for p in range(2, n):
        tree = (tree, p)
    return tree


def _inner_post_order(shape) -> list:
    """Inner nodes (nested tuples of positions) children first, left to right."""
    out, stack = [], [(shape, 0)]
    while stack:  # no recursion: a caterpillar is as deep as it is long
        sub, i = stack.pop()
        if i == len(sub):
            out.append(sub)
            continue
        stack.append((sub, i + 1))
        if isinstance(sub[i], tuple):
            stack.append((sub[i], 0))
    return out


@dataclass(frozen=True, eq=False)
class PoolingTree:
    """A pooling tree given by its shape: any arity per node, a rank per inner node.

    Parameters
    ----------
    n_channels : int
        Representation channels ``M``.
    shape : nested tuples of int
        The tree over tree positions: the leaves, left to right, are ``0 .. N-1``
        (:func:`build_tree` makes one from a tree over patch indices).
    ranks : int, tuple of int or callable
        The rank of every inner node (the width of the channels it pools), inner nodes
        in post-order (children before parents, left to right); an int for every node or
        a callable of the node's subtree, as for :func:`build_tree`.
    n_outputs : int, default 1

    Notes
    -----
    Frozen and hashable; its traversal (:func:`nodes_of`) is built once, at
    construction.  A tree whose every level is uniform (one arity and one rank per depth,
    every leaf at the same depth) is a :class:`PoolingSchedule`; :func:`build_tree`
    returns one for it.
    """

    n_channels: int
    shape: tuple
    ranks: tuple
    n_outputs: int = 1
    n_patches: int = field(init=False)

    def __repr__(self) -> str:
        return (f"PoolingTree(n_channels={self.n_channels}, shape={tree_text(self.shape)}, "
                f"ranks={self.ranks}, n_outputs={self.n_outputs})")

    def __post_init__(self):
        validate.positive_int(self.n_channels, "n_channels")
        validate.positive_int(self.n_outputs, "n_outputs")
        shape, order = canonical_tree(self.shape, "shape")
        if order != list(range(len(order))):
            raise validate.InvalidValueError(
                f"a PoolingTree's shape must hold the tree positions 0..N-1 left to right, "
                f"got leaves {order} (use build_tree for a tree over patch indices)")
        ranks = _resolve_ranks(self.ranks, shape, shape)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "ranks", ranks)
        object.__setattr__(self, "n_patches", len(order))
        # the traversal, built once (not a field: equality and hashing ignore it); an
        # attribute, not a cache lookup, so torch.compile reads it as a constant
        object.__setattr__(self, "_nodes", _build_nodes(self))
        # the shape flat: equality, hashing, copies and pickling of any depth
        object.__setattr__(self, "_tokens", tree_tokens(shape))

    def _key(self) -> tuple:
        return self.n_channels, self._tokens, self.ranks, self.n_outputs

    def __eq__(self, other) -> bool:
        if not isinstance(other, PoolingTree):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __copy__(self) -> PoolingTree:
        return self  # frozen: a copy would be the same tree

    def __deepcopy__(self, memo) -> PoolingTree:
        return self

    def __reduce__(self):
        return _tree_from_key, self._key()

    @property
    def windows(self) -> None:
        """``None``: a tree given by its shape has no per-level windows."""
        return None

    @property
    def n_levels(self) -> int:
        """Height of the tree (the root's level)."""
        return nodes_of(self)[-1].level

    @property
    def n_nodes(self) -> int:
        return len(nodes_of(self))

    @property
    def max_width(self) -> int:
        """The widest channel count anywhere: ``M``, a rank or ``Y``."""
        return max((self.n_channels, self.n_outputs) + self.ranks)

    def parameter_count(self, shared: bool = False) -> int:
        """Parameters: ``sum over nodes of rank_in * rank_out`` (no sharing)."""
        if validate.boolean(shared, "shared"):
            raise validate.InvalidValueError(
                "shared weights need a balanced schedule (windows=); a tree given by its "
                "shape has one weight per node")
        return sum(tn.rank_in * tn.rank_out for tn in nodes_of(self))

    def check_parameter_budget(self, shared: bool = False, itemsize: int = 8,
                               max_bytes: int = DEFAULT_MAX_BYTES) -> int:
        """As :meth:`PoolingSchedule.check_parameter_budget`."""
        count = self.parameter_count(shared)
        itemsize = validate.positive_int(itemsize, "itemsize")
        validate.check_shape_budget((count,), max_bytes, "network's parameters", itemsize)
        return count

    def as_schedule(self) -> PoolingSchedule | None:
        """The same tree as a balanced :class:`PoolingSchedule`, or ``None`` if a level
        has two arities or two ranks, or the leaves are not all at one depth."""
        windows, ranks = [], []
        level = [self.shape]
        inner = _inner_post_order(self.shape)
        rank_of = {id(sub): r for sub, r in zip(inner, self.ranks, strict=True)}
        while isinstance(level[0], tuple):
            if not all(isinstance(s, tuple) and len(s) == len(level[0]) for s in level):
                return None
            level_ranks = {rank_of[id(s)] for s in level}
            if len(level_ranks) != 1:
                return None
            windows.append(len(level[0]))
            ranks.append(level_ranks.pop())
            level = [child for s in level for child in s]
        if not all(isinstance(s, int) for s in level):
            return None
        return PoolingSchedule(self.n_patches, self.n_channels, tuple(reversed(windows)),
                               tuple(reversed(ranks)), self.n_outputs)


def _tree_from_key(n_channels: int, tokens: tuple, ranks: tuple, n_outputs: int) -> PoolingTree:
    """A :class:`PoolingTree` from its pickled key (its shape as :func:`tree_tokens`)."""
    return PoolingTree(n_channels, tree_from_tokens(tokens), ranks, n_outputs)


def nodes_of(tree: PoolingTree) -> tuple[TreeNode, ...]:
    """The nodes of a :class:`PoolingTree` in traversal order: the ``N`` leaves, then the
    inner nodes by height and, within a height, left to right (built once per tree)."""
    return tree._nodes


def _build_nodes(tree: PoolingTree) -> tuple[TreeNode, ...]:
    inner = _inner_post_order(tree.shape)
    rank_of = {id(sub): r for sub, r in zip(inner, tree.ranks, strict=True)}
    height: dict[int, int] = {}
    parent_rank: dict[int, int] = {}
    span: dict[int, tuple[int, int]] = {}  # first and last tree position below a node
    for sub in inner:
        height[id(sub)] = 1 + max(height.get(id(c), 0) if isinstance(c, tuple) else 0
                                  for c in sub)
        first, last = sub[0], sub[-1]
        span[id(sub)] = (span[id(first)][0] if isinstance(first, tuple) else first,
                         span[id(last)][1] if isinstance(last, tuple) else last)
        for c in sub:
            parent_rank[id(c) if isinstance(c, tuple) else -1 - c] = rank_of[id(sub)]
    ordered = sorted(inner, key=lambda sub: (height[id(sub)], span[id(sub)][0]))
    key_of = {id(sub): tree.n_patches + k for k, sub in enumerate(ordered)}
    nodes = [TreeNode(0, p, (), range(p, p + 1), False, p, tree.n_channels,
                      parent_rank[-1 - p]) for p in range(tree.n_patches)]
    per_level: dict[int, int] = {}
    for sub in ordered:
        level = height[id(sub)]
        index = per_level.get(level, 0)
        per_level[level] = index + 1
        first, last = span[id(sub)]
        children = tuple(key_of[id(c)] if isinstance(c, tuple) else c for c in sub)
        is_root = sub is tree.shape
        nodes.append(TreeNode(level, index, children, range(first, last + 1),
                              is_root, key_of[id(sub)], rank_of[id(sub)],
                              tree.n_outputs if is_root else parent_rank[id(sub)]))
    return tuple(nodes)


def _resolve_ranks(ranks, patch_tree, shape) -> tuple:
    """One rank per inner node (post-order) from an int, a sequence or a callable of the
    node's subtree (in patch indices)."""
    inner = _inner_post_order(shape)
    if _is_index(ranks):
        return (validate.positive_int(ranks, "ranks"),) * len(inner)
    if callable(ranks):
        subs = _inner_post_order(_as_tuples(patch_tree))
        return tuple(validate.positive_int(ranks(sub), f"ranks({sub!r})") for sub in subs)
    if isinstance(ranks, Sequence) and not isinstance(ranks, (str, bytes)):
        if len(ranks) != len(inner):
            raise validate.InvalidValueError(
                f"ranks must be an int, a callable of a subtree, or one rank per inner node "
                f"({len(inner)}, in post-order: children before parents, left to right), got "
                f"{len(ranks)} values")
        return tuple(validate.positive_int(r, f"ranks[{i}]") for i, r in enumerate(ranks))
    raise validate.InvalidTypeError(
        f"ranks must be an int, a sequence of ints or a callable, got {type(ranks).__name__}")


def _as_tuples(spec):
    return _rebuild(spec, lambda sub, path: int(sub),
                    lambda sub, path: None if _is_index(sub) else sub)


def build_tree(n_patches: int, n_channels: int, tree, ranks, n_outputs: int = 1
               ) -> tuple[PoolingSchedule | PoolingTree, np.ndarray]:
    """The pooling tree and patch order of a tree over patch indices.

    Parameters
    ----------
    n_patches, n_channels : int
    tree : nested sequences of int, or a parent array
        E.g. ``((0, 1), ((2, 3), (4, (5, 6))))``: every patch ``0 .. N-1`` exactly once,
        every inner node with at least two children.  A flat sequence of ints holding
        ``-1`` (the root's parent) is a parent array (:func:`tree_from_parents`); a flat
        sequence of patch indices without it is one node over all of them (CP).
    ranks : int, sequence of int or callable
        An int for every inner node; one rank per inner node in post-order (children
        before parents, left to right; for :func:`caterpillar` the bond ranks
        ``r_1 .. r_{N-1}``); or a callable ``ranks(subtree) -> int`` of the node's subtree
        as nested tuples of patch indices.
    n_outputs : int, default 1

    Returns
    -------
    tree : PoolingSchedule or PoolingTree
        A schedule where every level is uniform (the same networks as ``windows=``, with
        their level-batched forward), a :class:`PoolingTree` otherwise.
    order : ndarray of int, shape ``(N,)``
        ``order[p]``: the patch at tree position ``p`` (the leaves left to right).
    """
    n = validate.positive_int(n_patches, "n_patches", 2)
    if isinstance(tree, np.ndarray):
        tree = tree.tolist()
    if (isinstance(tree, Sequence) and all(_is_index(v) for v in tree)
            and any(v == -1 for v in tree)):
        tree = tree_from_parents(tree)  # a flat sequence naming a root (-1): parents
    shape, order = canonical_tree(tree)
    if sorted(order) != list(range(n)):
        raise validate.InvalidValueError(
            f"tree must hold every patch 0..{n - 1} exactly once, got leaves {order}")
    tree_ranks = _resolve_ranks(ranks, tree, shape)
    built = PoolingTree(n_channels, shape, tree_ranks, n_outputs)
    schedule = built.as_schedule()
    return (built if schedule is None else schedule), np.asarray(order, dtype=np.int64)


def traverse(schedule: PoolingSchedule | PoolingTree) -> Iterator[TreeNode]:
    """Every node of the tree, children before parents.

    Parameters
    ----------
    schedule : PoolingSchedule or PoolingTree

    Yields
    ------
    TreeNode
        ``N`` leaf nodes (level 0), then the inner nodes up to the root.
    """
    if isinstance(schedule, PoolingTree):
        return iter(nodes_of(schedule))
    return iter(_levels(schedule)[0])


@functools.lru_cache(maxsize=64)
def _levels(schedule: PoolingSchedule) -> tuple[tuple[TreeNode, ...], tuple[tuple, ...]]:
    """The nodes in traversal order, and per level ``(nodes, windows of child indices)``;
    built once per schedule (schedules are frozen and hashable)."""
    s = schedule
    order, levels = [], []
    widths = (s.n_channels,) + s.widths
    for level in range(s.n_levels + 1):
        w = s.windows[level - 1] if level else 0
        nodes = tuple(
            TreeNode(level, j, range(j * w, (j + 1) * w) if level else range(0),
                     s.leaves(level, j), level == s.n_levels, len(order) + j,
                     widths[level], widths[level + 1])
            for j in range(s.nodes[level])
        )
        order.extend(nodes)
        levels.append(nodes)
    return tuple(order), tuple(levels)


def fold(
    schedule: PoolingSchedule | PoolingTree,
    leaf: Callable[[TreeNode], Any],
    node: Callable[[TreeNode, list], Any],
) -> Any:
    """Bottom-up fold over the pooling tree.

    Parameters
    ----------
    schedule : PoolingSchedule or PoolingTree
    leaf : callable ``leaf(tree_node) -> value``
        Value of a level-0 conv node (``tree_node.index`` is its tree position).
    node : callable ``node(tree_node, child_values) -> value``
        Value of an inner node from its children's values, in order.

    Returns
    -------
    The root's value.
    """
    if isinstance(schedule, PoolingTree):
        nodes = nodes_of(schedule)
        n = schedule.n_patches
        values = [leaf(tn) for tn in nodes[:n]]
        for tn in nodes[n:]:
            values.append(node(tn, [values[c] for c in tn.children]))
        return values[-1]
    levels = _levels(schedule)[1]
    values = [leaf(tn) for tn in levels[0]]
    for nodes in levels[1:]:  # a level is complete: its values feed the next
        values = [node(tn, values[tn.children.start : tn.children.stop]) for tn in nodes]
    return values[0]


def fold_levels(
    schedule: PoolingSchedule,
    leaves: Any,
    level: Callable[[int, int, Any], Any],
    start: int = 1,
    stop: int | None = None,
) -> Any:
    """The same walk one level at a time, for computations batched over nodes.

    Parameters
    ----------
    schedule : PoolingSchedule
    leaves : any
        The values of all level-0 nodes at once (e.g. a tensor ``(N, batch, r_0)``).
    level : callable ``level(l, w_l, values) -> values``
        Maps the values of the ``nodes[l-1]`` nodes of level ``l - 1`` (children of
        window ``j`` are nodes ``j*w_l .. (j+1)*w_l - 1``) to those of level ``l``.

    start, stop : int, optional
        Walk only levels ``start .. stop`` (default: ``1 .. L``, every level); then
        ``leaves`` are the values of level ``start - 1`` and the result those of level
        ``stop``.

    Returns
    -------
    The root level's values (level ``stop``'s).

    Notes
    -----
    The walk holds no reference to a level once it is handed to ``level``, so a level's
    tensors are freed as soon as ``level`` drops them (e.g. right after pooling) and the
    next ones reuse their memory, still in cache: holding them (as a plain
    ``values = level(..., values)`` loop does for the duration of the call) made the
    log-space forward of an HT with N = 256 about 8% slower.  Pass ``leaves`` without
    keeping a name for it, and in ``level`` drop the argument once it is consumed.
    """
    box = [leaves]
    del leaves
    windows = schedule.windows
    for lvl in range(start, len(windows) + 1 if stop is None else stop + 1):
        box.append(level(lvl, windows[lvl - 1], box.pop()))
    return box.pop()


class PatchNode(NamedTuple):
    """A node of a tree read in patch indices (:func:`patch_nodes`).

    Attributes
    ----------
    node : TreeNode
        The node (level, index, key, ranks) in its tree.
    patches : frozenset of int
        The patches below it (its key in :func:`patch_nodes`).
    children : tuple of frozenset
        Its children's patch sets, in order (empty for a leaf).
    subtree : int or nested tuples of int
        The subtree below it in patch indices (a leaf: its patch).
    """

    node: TreeNode
    patches: frozenset
    children: tuple
    subtree: Any


def patch_nodes(schedule: PoolingSchedule | PoolingTree, order) -> dict[frozenset, PatchNode]:
    """Every node of a tree in patch indices, keyed by its set of patches.

    Parameters
    ----------
    schedule : PoolingSchedule or PoolingTree
    order : sequence of int
        ``order[p]``: the patch at tree position ``p`` (a network's patch order).

    Returns
    -------
    dict
        ``{frozenset of patches: PatchNode}`` in traversal order (children before
        parents; the root last).  Mode trees, mixed networks and min-cut graphs read a
        tree through it.
    """
    order = [int(p) for p in order]
    nodes: dict[frozenset, PatchNode] = {}

    def leaf(tn):
        key = frozenset((order[tn.index],))
        nodes[key] = PatchNode(tn, key, (), order[tn.index])
        return nodes[key]

    def node(tn, kids: list):
        key = frozenset().union(*(k.patches for k in kids))
        nodes[key] = PatchNode(tn, key, tuple(k.patches for k in kids),
                               tuple(k.subtree for k in kids))
        return nodes[key]

    fold(schedule, leaf, node)
    return nodes


def patch_tree(schedule: PoolingSchedule | PoolingTree, order) -> tuple:
    """The tree as nested tuples of patch indices (tree position ``p`` holds patch
    ``order[p]``), the form ``ConvAC(tree=...)`` accepts."""
    return next(reversed(patch_nodes(schedule, order).values())).subtree


def mode_tree(spec, n_patches: int | None = None) -> tuple[PoolingTree, np.ndarray]:
    """A tree over patch indices (nested sequences, e.g. a mixed network's mode tree)
    as a :class:`PoolingTree` of its shape alone (one channel, rank 1) and its patch
    order (the leaves left to right).

    Raises
    ------
    convac.validate.InvalidValueError
        The leaves are not a permutation of ``range(n_patches)`` (of ``range(N)`` with
        ``N`` leaves when ``n_patches`` is ``None``).
    """
    shape, order = canonical_tree(spec, "mode tree")
    n = len(order) if n_patches is None else validate.positive_int(n_patches, "n_patches", 2)
    if sorted(order) != list(range(n)):
        raise validate.InvalidValueError(
            f"the leaves of a mode tree must be a permutation of range({n}), got {order}")
    return PoolingTree(1, shape, 1), np.asarray(order, dtype=np.int64)
