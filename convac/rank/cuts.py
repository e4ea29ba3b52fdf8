"""Upper bounds on matricization rank from the network's structure alone (exact
integers, no weights): the min-cut bound and the number of expansion terms.

References
----------
Y. Levine, D. Yakira, N. Cohen, A. Shashua, "Deep Learning and Quantum Entanglement:
Fundamental Connections with Implications to Network Design", ICLR 2018.
"""

from __future__ import annotations

from .. import validate
from ..nets.network import ConvAC
from ..nets.tree import fold
from .structured import row_leaves

__all__ = ["min_cut_bound", "expansion_terms"]


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

    Tree dynamic programme (a :func:`convac.nets.tree.fold`): ``f_v(S)`` is the cheapest cut
    inside the subtree of ``v`` given that ``v`` lies on side ``S``;
    ``f_v(S) = prod_c min(f_c(S), w_c f_c(not S))``, and for a copy vertex also
    ``min(.., r_{l-1} prod_c min(f_c(S), f_c(not S)))``.  Python ints, so no overflow.
    """
    s = validate.product_network(net, "the min-cut bound").schedule
    is_row, _ = row_leaves(net, partition)
    m = s.n_channels

    def leaf(tn):  # one child, the mode leaf, through an edge of width M
        return (1, m) if is_row[tn.index] else (m, 1)  # (f(row side), f(col side))

    def node(tn, kids):
        width = tn.rank_in  # the node's rank: edges above the children and pool -> conv
        f_row, f_col, f_split = 1, 1, width  # the pooling (copy) vertex's three states
        for c_row, c_col in kids:
            a, b = _side_costs(c_row, c_col, width)
            f_row, f_col = f_row * a, f_col * b
            f_split *= min(c_row, c_col)  # a split copy tensor: each child picks its piece
        return _side_costs(min(f_row, f_split), min(f_col, f_split), width)  # conv above

    return int(min(fold(s, leaf, node)))


def expansion_terms(net: ConvAC) -> int:
    """Number of rank-one terms of the network's expansion of ``A^y``.

    A level-0 node is one vector (one term); a level-``l`` node sums ``r_{l-1}`` products
    of its children, ``r_{l-1} * prod(children's terms)`` (shared weights alike).  CP of
    width K: ``K``; HT: ``r_{L-1} prod_l r_{l-1}^(nodes_l)``.
    """
    s = validate.product_network(net, "the expansion-term count").schedule

    def node(tn, kids):
        terms = tn.rank_in  # the node's rank
        for k in kids:
            terms *= k
        return terms

    return int(fold(s, lambda tn: 1, node))
