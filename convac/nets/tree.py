"""The pooling tree of a schedule, and the one traversal every computation folds over.

A schedule with windows ``w_1 .. w_L`` is a tree: level 0 has ``N`` conv nodes (one per
tree position, reading patch ``order[p]``), and node ``j`` of level ``l >= 1`` pools
the ``w_l`` nodes ``j*w_l .. (j+1)*w_l - 1`` of level ``l-1`` and applies its conv.
:func:`fold` walks it children before parents (as cotengra's
``ContractionTree.traverse``); the forward pass, the coefficient and grid tensors, the
structured and exact ranks and the min-cut bound differ only in what they compute at a
leaf and at a node.  :func:`fold_levels` is the same walk one level at a time, for
computations batched over the nodes of a level (the forward pass).

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (eq. 2-4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from .geometry import PoolingSchedule

__all__ = ["TreeNode", "traverse", "fold", "fold_levels"]


class TreeNode(NamedTuple):
    """One conv node of the pooling tree.

    Attributes
    ----------
    level : int
        ``0`` for the leaf convs (one per tree position), ``1 .. L`` for pooling + conv.
    index : int
        Position of the node within its level (``0 .. nodes[level] - 1``).
    children : range
        Indices of its children at ``level - 1`` (empty at level 0).
    leaves : range
        Tree positions below it.
    is_root : bool
        Whether it is the top node (``level == L``), whose conv is the output layer.
    """

    level: int
    index: int
    children: range
    leaves: range
    is_root: bool


def traverse(schedule: PoolingSchedule) -> Iterator[TreeNode]:
    """Every node of the tree, children before parents (level by level).

    Parameters
    ----------
    schedule : PoolingSchedule

    Yields
    ------
    TreeNode
        ``N`` leaf nodes (level 0), then the nodes of level 1, .., then the root.
    """
    return iter(_levels(schedule)[0])


@functools.lru_cache(maxsize=64)
def _levels(schedule: PoolingSchedule) -> tuple[tuple[TreeNode, ...], tuple[tuple, ...]]:
    """The nodes in traversal order, and per level ``(nodes, windows of child indices)``;
    built once per schedule (schedules are frozen and hashable)."""
    s = schedule
    order, levels = [], []
    for level in range(s.n_levels + 1):
        w = s.windows[level - 1] if level else 0
        nodes = tuple(
            TreeNode(level, j, range(j * w, (j + 1) * w) if level else range(0),
                     s.leaves(level, j), level == s.n_levels)
            for j in range(s.nodes[level])
        )
        order.extend(nodes)
        levels.append(nodes)
    return tuple(order), tuple(levels)


def fold(
    schedule: PoolingSchedule,
    leaf: Callable[[TreeNode], Any],
    node: Callable[[TreeNode, list], Any],
) -> Any:
    """Bottom-up fold over the pooling tree.

    Parameters
    ----------
    schedule : PoolingSchedule
    leaf : callable ``leaf(tree_node) -> value``
        Value of a level-0 conv node (``tree_node.index`` is its tree position).
    node : callable ``node(tree_node, child_values) -> value``
        Value of a level-``l >= 1`` node from its ``w_l`` children's values, in order.

    Returns
    -------
    The root's value.
    """
    levels = _levels(schedule)[1]
    values = [leaf(tn) for tn in levels[0]]
    for nodes in levels[1:]:  # a level is complete: its values feed the next
        values = [node(tn, values[tn.children.start : tn.children.stop]) for tn in nodes]
    return values[0]


def fold_levels(
    schedule: PoolingSchedule,
    leaves: Any,
    level: Callable[[int, int, Any], Any],
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

    Returns
    -------
    The root level's values.

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
    for lvl, w in enumerate(schedule.windows, start=1):
        box.append(level(lvl, w, box.pop()))
    return box.pop()

