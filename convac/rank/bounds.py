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

from .. import validate
from ..nets.network import ConvAC
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.matricization import Partition, sample_partitions
from ..validate import BudgetError
from .cuts import expansion_terms, min_cut_bound
from .methods import matricization_rank

__all__ = ["min_cut_bound", "CPRankBounds", "cp_rank_bounds", "expansion_terms"]


@dataclass(frozen=True)
class CPRankBounds:
    """Lower and upper bounds on the CP-rank of ``A^y``.

    Attributes
    ----------
    lower : int
        The largest matricization rank found: ``rank [A]_{I,J} <= CP-rank`` for every
        partition.  Certified with no tolerance when ``is_certified`` (the rank came
        from exact arithmetic); a numerical rank at tolerance ``rtol`` otherwise
        (``ambiguous`` says whether that decision was close).
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
        What ``lower`` proves, in words (from the rank method; says "numerical" when it
        proves nothing).
    is_certified : bool
        True when ``lower`` is a proven lower bound (exact arithmetic).
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
    is_certified: bool = False

    def __post_init__(self):
        if self.lower > self.upper:
            raise ValueError(
                f"lower bound {self.lower} exceeds upper bound {self.upper}: a rank "
                "computation is wrong (or its tolerance too tight)"
            )


def cp_rank_bounds(net: ConvAC, n_samples: int = 8, seed: int = 0, method: str = "exact",
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
    method : str, default "exact"
        Rank method: ``"exact"`` (certified, any float network), ``"auto"`` (certified
        where it falls back to exact), ``"structured"``, ``"dense"`` (numerical).
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
    net = validate.network(net)
    n_samples = validate.count(n_samples, "n_samples", 0)
    seed = validate.seed(seed)
    rtol = validate.tolerance(rtol)
    output = validate.output(net, output)
    max_bytes = validate.max_bytes(max_bytes)
    n, m = net.n_patches, net.n_channels
    candidates = sample_partitions(n, n_samples, seed)  # odd-even, left-right, balanced
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
        raise BudgetError(f"every one of the {tried} partitions tried exceeds the memory "
                          f"budget of {validate.gib(max_bytes)}")
    upper = min(expansion_terms(net), m ** (n - 1))
    note = best_res.certified
    if not best_res.is_certified:
        note = f"numerical, not certified ({note})"
    return CPRankBounds(best, best_part, upper, best_res.method, best_res.rtol,
                        best_res.ambiguous, tried, note, skipped, best_res.is_certified)

