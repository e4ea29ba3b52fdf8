"""Bounds on matricization rank and CP-rank from a ConvAC's structure and weights.

* :func:`min_cut_bound`: ``rank [A^y]_{I,J} <=`` the minimum, over sets of tree edges
  whose removal separates the row leaves from the column leaves, of the product of the
  cut edges' widths (Levine, Yakira, Cohen & Shashua 2018).
* :func:`cp_rank_bounds`: a certified lower bound on CP-rank (the best matricization
  rank over several partitions) and an upper bound from the structure.

References
----------
Y. Levine, D. Yakira, N. Cohen, A. Shashua, "Deep Learning and Quantum Entanglement:
Fundamental Connections with Implications to Network Design", ICLR 2018.
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .matricize import Partition, matricization_rank, resolve_partition
from .network import ConvAC
from .rank import BudgetError, row_leaves
from .tensors import DEFAULT_MAX_BYTES

__all__ = ["min_cut_bound", "CPRankBounds", "cp_rank_bounds", "expansion_terms"]


def _check_net(net) -> ConvAC:
    if not isinstance(net, ConvAC):
        raise ValueError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    return net


def _side_costs(f_row: int, f_col: int, width: int) -> tuple[int, int]:
    """Cheapest cut below an edge of ``width`` when its upper end is a row / column node:
    keep the child on the same side, or cut the edge and put it on the other."""
    return min(f_row, f_col * width), min(f_col, f_row * width)


def min_cut_bound(net: ConvAC, partition) -> int:
    """Upper bound on ``rank [A^y]_{I,J}`` from the tree's edge widths (exact integers).

    Parameters
    ----------
    net : ConvAC
    partition : str, sequence of int or Partition
        Row modes ``I`` (patch indices).

    Returns
    -------
    int
        ``min over cuts of prod(widths of cut edges)``, where a cut is a set of edges
        of the network's tensor-network tree whose removal leaves no path from a row
        mode to a column mode.  Holds for every output ``y`` and all weights; Levine et
        al. (2018) find it tight for generic weights in almost every case.

    Notes
    -----
    The tree: mode ``i`` joins its level-0 conv node through an edge of width ``M``;
    the edge above a level-``l`` conv node has width ``r_l``; a level-``l >= 1`` node is
    a product pooling (a copy tensor joining its children's ``r_{l-1}``-edges) followed
    by its conv, joined by one more edge of width ``r_{l-1}``.  A copy tensor may also be
    split in two copy tensors joined by an edge of width ``r_{l-1}`` (its matricizations
    all have rank ``r_{l-1}``), each child joining either piece: that is what makes a CP
    net's bound its width ``K`` and caps every pooling node at ``r_{l-1}``.

    Tree dynamic programme: ``f_v(S)`` is the cheapest cut inside the subtree of ``v``
    given that ``v`` lies on side ``S``; ``f_v(S) = prod_c min(f_c(S), w_c f_c(not S))``,
    and for a copy vertex also ``min(.., r_{l-1} prod_c min(f_c(S), f_c(not S)))``.
    Python ints, so no overflow.
    """
    net = _check_net(net)
    s = net.schedule
    is_row, _ = row_leaves(net, partition)
    m = s.n_channels
    # level-0 nodes: one child, the mode leaf, through an edge of width M
    nodes = [(1, m) if row else (m, 1) for row in is_row]  # (f(row side), f(col side))
    for level, w in enumerate(s.windows, start=1):
        width = s.ranks[level - 1]  # edges above the children and pool -> conv
        merged = []
        for j in range(s.nodes[level]):
            kids = nodes[j * w : (j + 1) * w]
            f_row, f_col, f_split = 1, 1, width  # the pooling (copy) vertex's three states
            for child in kids:
                c_row, c_col = _side_costs(child[0], child[1], width)
                f_row, f_col = f_row * c_row, f_col * c_col
                f_split *= min(child)  # a split copy tensor: each child picks its piece
            f_row, f_col = min(f_row, f_split), min(f_col, f_split)
            merged.append(_side_costs(f_row, f_col, width))  # the conv vertex above it
        nodes = merged
    return int(min(nodes[0]))


def expansion_terms(net: ConvAC) -> int:
    """Number of rank-one terms of the network's expansion of ``A^y``.

    A level-0 node is one vector (one term); a level-``l`` node sums ``r_{l-1}`` products
    of its children, ``r_{l-1} * prod(children's terms)`` (shared weights alike).  CP of
    width K: ``K``; HT: ``r_{L-1} prod_l r_{l-1}^(nodes_l)``.
    """
    s = _check_net(net).schedule
    terms = 1
    for level, w in enumerate(s.windows, start=1):
        terms = s.ranks[level - 1] * terms**w
    return int(terms)


@dataclass(frozen=True)
class CPRankBounds:
    """Lower and upper bounds on the CP-rank of ``A^y``.

    Attributes
    ----------
    lower : int
        The largest matricization rank found: ``rank [A]_{I,J} <= CP-rank`` for every
        partition.  Certified with no tolerance when ``method == "exact"``; a numerical
        rank at tolerance ``rtol`` otherwise (``ambiguous`` says whether that decision
        was close).
    partition : Partition
        The partition that gave ``lower``.
    upper : int
        ``min(expansion_terms(net), M^(N-1))``: the width of a CP net, the number of
        rank-one terms of a deeper net's expansion, capped by the CP-rank of any tensor
        of this shape.
    method : str
        Rank method used for ``lower``.
    rtol : float or None
        Tolerance of that method (``None`` for exact ranks).
    ambiguous : bool
        True when the numerical decision behind ``lower`` was close.
    n_partitions : int
        How many partitions were tried.
    n_skipped : int
        How many of them were skipped because their rank is too large to compute within
        ``max_bytes`` (the bound then comes from the others).
    certified : str
        What ``lower`` proves, in words (from the rank method).
    """

    lower: int
    partition: Partition
    upper: int
    method: str
    rtol: float | None
    ambiguous: bool
    n_partitions: int
    certified: str = ""
    n_skipped: int = 0

    def __post_init__(self):
        if self.lower > self.upper:
            raise ValueError(
                f"lower bound {self.lower} exceeds upper bound {self.upper}: a rank "
                "computation is wrong (or its tolerance too tight)"
            )


def _balanced_partitions(n: int, n_samples: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [tuple(sorted(rng.choice(n, size=n // 2, replace=False).tolist()))
            for _ in range(n_samples)]


def cp_rank_bounds(net: ConvAC, n_samples: int = 8, seed: int = 0, method: str = "auto",
                   rtol: float | None = None, output: int = 0,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> CPRankBounds:
    """Certified lower bound and structural upper bound on the CP-rank of ``A^y``.

    Parameters
    ----------
    net : ConvAC
    n_samples : int, default 8
        Random balanced partitions (``N // 2`` row modes) tried besides odd-even and
        left-right.
    seed : int, default 0
        Seed of the sampled partitions.
    method : str, default "auto"
        Rank method (``"structured"``, ``"dense"``, ``"exact"`` for integer weights,
        ``"auto"``).
    rtol : float, optional
        Tolerance of a numerical method.
    output : int, default 0
    max_bytes : int, default 2 GiB
        Memory budget of the structured and exact methods; a partition whose cores would
        exceed it is skipped (counted in ``n_skipped``).

    Returns
    -------
    CPRankBounds

    Raises
    ------
    ValueError
        If every partition exceeds the budget.

    Notes
    -----
    A partition whose min-cut bound cannot beat the current best is skipped (its rank
    could not either).  Ties keep the first partition in the order odd-even, left-right,
    samples.
    """
    net = _check_net(net)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or (
        n_samples < 0
    ):
        raise ValueError(f"n_samples must be an int >= 0, got {n_samples!r}")
    n, m = net.n_patches, net.n_channels
    candidates = [resolve_partition("odd-even", n), resolve_partition("left-right", n)]
    candidates += [resolve_partition(rows, n) for rows in _balanced_partitions(n, n_samples,
                                                                               seed)]
    best, best_part, best_res, tried, skipped = -1, None, None, 0, 0
    kwargs = {} if method == "dense" else {"max_bytes": max_bytes}
    seen = set()
    for part in candidates:
        if part.rows in seen:
            continue
        seen.add(part.rows)
        tried += 1
        if best_part is not None and min_cut_bound(net, part) <= best:
            continue
        try:
            res = matricization_rank(net, part, method=method, rtol=rtol, output=output,
                                     **kwargs)
        except BudgetError:
            skipped += 1
            continue
        if res.rank > best:
            best, best_part, best_res = res.rank, part, res
    if best_res is None:
        raise ValueError(
            f"all {tried} partitions exceed the memory budget max_bytes={max_bytes}; "
            "raise max_bytes"
        )
    upper = min(expansion_terms(net), m ** (n - 1))
    return CPRankBounds(best, best_part, upper, best_res.method, best_res.rtol,
                        best_res.ambiguous, tried, best_res.certified, skipped)

