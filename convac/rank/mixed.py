"""Matricization ranks of tree and mixed networks: Theorem 7 and Corollary 8 of Cohen,
Tamari & Shashua (2018), and exact ranks of mixed networks through the rank registry.

Theorem 7 (quoted from arXiv 1703.06846v3, sec. 6): for the tree decomposition of a
binary mode tree ``T`` with size constant ``r`` and discretizers spanning ``R^r``, with
product pooling, the ranks of ``[A^y]_I`` are "no greater than
``r^min{|Theta(I;T)|, |Theta(I^c;T)|}``" and "at least
``r^|{(nu1, nu2) in Theta(I;T) x Theta(I^c;T): nu1 and nu2 are siblings in T with
depth > 1}|`` almost always".  ``Theta(I;T)``, the *tiling* of ``I`` by ``T`` (def. 6),
is the set of maximal tree nodes inside ``I``.

The paper's root outputs its pooled value (``A^y = phi^{[N], y}``, a product of its
two children: a split root pair adds nothing); a convac network's root applies a conv
to ``r`` pooled channels, so a root pair split between the sides contributes ``r`` as
every other pair does.  :func:`tree_rank_bounds` takes ``root="conv"`` (convac,
default) or ``root="product"`` (the paper's statement).
"""

from __future__ import annotations

import dataclasses

from .. import validate
from ..nets.mixed import (
    MixedConvAC,
    check_mode_tree,
    dilated_tree,
    hybrid_tree,
    hybrid_trees,
    mode_tree_nodes,
    swapped_dilations,
)
from ..nets.tree import mode_tree, patch_nodes
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.matricization import RankResult, resolve_partition
from ..tensors.mixed import mixed_coefficient_tensor
from ..theory import mixed_width_needed
from .exact import DEFAULT_PRIMES
from .methods import matricization_rank

__all__ = [
    "tiling",
    "tree_rank_bounds",
    "mixed_rank_lower_bound",
    "mixed_width_needed",
    "mixed_example",
    "mixed_rank",
]

_ROOTS = {"conv": "conv", "product": "product"}


def tiling(tree, rows) -> tuple:
    """``Theta(I; T)``: the maximal nodes of ``tree`` whose patches all lie in ``rows``
    (frozensets, ordered by their smallest patch)."""
    rows = frozenset(rows)
    nodes = patch_nodes(*mode_tree(tree))
    tiles = []

    def walk(key):
        if key <= rows:
            tiles.append(key)
        else:
            for child in nodes[key].children:
                walk(child)

    walk(next(reversed(nodes)))
    return tuple(sorted(tiles, key=min))


def tree_rank_bounds(tree, partition, rank: int, root: str = "conv") -> tuple[int, int]:
    """Theorem 7's bounds on ``rank [A^y]_{I,J}`` of a tree network of width ``r``.

    Parameters
    ----------
    tree : nested tuples
        A binary mode tree over patches ``0 .. N-1``.
    partition : str, sequence of int or Partition
        Row modes ``I``.
    rank : int
        ``r``, the width of every conv (the theorem needs ``M >= r``: discretizers, or
        representation channels, spanning ``R^r``).
    root : {"conv", "product"}
        ``"conv"``: a convac network (the root's conv mixes ``r`` pooled channels);
        ``"product"``: the paper's tree decomposition (the root's pooled value is the
        output: sibling pairs at depth 1 are not counted).

    Returns
    -------
    (lower, upper) : tuple of int
        ``r^(sibling pairs split between I and J)`` (almost every weight) and
        ``r^min(|Theta(I)|, |Theta(J)|)`` (every weight).
    """
    n = len(check_mode_tree(tree, binary=True))
    part = resolve_partition(partition, n)
    r = validate.positive_int(rank, "rank")
    root = validate.option(_ROOTS, root, "root")
    rows, cols = tiling(tree, part.rows), tiling(tree, part.cols)
    col_set = set(cols)
    pairs = 0
    for pn in mode_tree_nodes(tree).values():
        left, right = pn.children
        if (left in rows and right in col_set) or (right in rows and left in col_set):
            pairs += root == "conv" or not pn.node.is_root
    return r**pairs, r ** min(len(rows), len(cols))


def mixed_rank_lower_bound(first, second, mixture, partition, rank: int) -> int:
    """Lower bound, for almost every weight, on the rank of a mixed network of width
    ``r``: the largest Theorem 7 lower bound at width ``r // 2`` over its hybrid trees.

    A mixed network of width ``r`` realises the tree network of any hybrid tree at
    width ``r / 2`` (the paper's claim 5), and the rank of a polynomial map of the
    weights is at its maximum almost everywhere (the paper's app. C), so it is at least
    that hybrid's rank.  ``2^(len(mixture) + 1)`` hybrids are visited.
    """
    r = validate.positive_int(rank, "rank")
    best = 0
    for _, hybrid in hybrid_trees(first, second, mixture):
        best = max(best, tree_rank_bounds(hybrid, partition, r // 2)[0] if r >= 2 else 1)
    return best


def mixed_example(n_levels: int) -> dict:
    """The paper's example (sec. 6): the baseline tree, its even/odd dilation-swapped
    twin, the mixture nodes of depth ``L - 2``, the hybrid tree taking the first half of
    them from the baseline and the rest from the twin, and the index set
    ``I = {2k-1 : k in [N/4]} u {N/2 + 4k - k' : k in [N/8], k' = 2, 3}`` (0-based here).

    Returns
    -------
    dict
        ``baseline``, ``swapped``, ``hybrid`` (nested tuples), ``mixture`` (frozensets),
        ``rows`` (0-based row modes), and the paper's exponents ``tree_exponent``
        (``N/4 + N/8``) and ``hybrid_exponent`` (``N/2``).
    """
    levels = validate.integer(n_levels, "n_levels", 4)
    if levels % 2:
        raise validate.InvalidValueError(
            f"the example swaps even and odd layers: n_levels must be even, got {levels}")
    n = 2**levels
    baseline = dilated_tree(swapped_dilations(levels, 1))
    swapped = dilated_tree(swapped_dilations(levels, 2))
    # the nodes of depth L - 2 of the perfect binary tree: those of height 2
    mixture = sorted((key for key, pn in mode_tree_nodes(baseline).items()
                      if pn.node.level == 2), key=min)
    half = len(mixture) // 2
    choice = {node: int(i >= half) for i, node in enumerate(mixture)}
    choice[frozenset(range(n))] = 1
    hybrid = hybrid_tree(baseline, swapped, choice)
    rows = sorted({2 * k - 2 for k in range(1, n // 4 + 1)}
                  | {n // 2 + 4 * k - kk - 1 for k in range(1, n // 8 + 1) for kk in (2, 3)})
    return {"baseline": baseline, "swapped": swapped, "hybrid": hybrid,
            "mixture": tuple(mixture), "rows": tuple(rows),
            "tree_exponent": n // 4 + n // 8, "hybrid_exponent": n // 2}


def mixed_rank(net: MixedConvAC, partition, method: str = "exact", output: int = 0,
               max_bytes: int = DEFAULT_MAX_BYTES, **options) -> RankResult:
    """Rank of ``[A^y]_{I,J}`` of a mixed network: its coefficient tensor
    (:func:`convac.tensors.mixed.mixed_coefficient_tensor`) through
    :func:`convac.rank.methods.matricization_rank` (default ``"exact"``).

    ``"exact"`` needs integer weights (:func:`convac.rank.exact.integer_weights_`): the
    tensor is computed modulo each of the primes (``primes=``, default
    :data:`convac.rank.exact.DEFAULT_PRIMES`) in exact integer arithmetic and its rank
    over each GF(p) is a certified lower bound on the real rank; the largest is reported.
    """
    if method != "exact":
        tensor = mixed_coefficient_tensor(net, output, max_bytes)
        return matricization_rank(tensor, partition, method, max_bytes=max_bytes, **options)
    primes = tuple(options.pop("primes", None) or DEFAULT_PRIMES)
    results = [matricization_rank(mixed_coefficient_tensor(net, output, max_bytes, p).numpy(),
                                  partition, "exact", max_bytes=max_bytes, prime=p, **options)
               for p in primes]
    best = max(results, key=int)
    ranks = tuple(pair for res in results for pair in res.ranks_mod)
    return dataclasses.replace(
        best, ranks_mod=ranks,
        certified="exact rank over " + ", ".join(f"GF({p}): {r}" for p, r in ranks)
        + " of the mixed network's coefficient tensor computed modulo each prime: a proven "
        "lower bound on its real rank (certified: no floating-point tolerance)")

