"""The ranks the theorems predict, in one place (benchmarks, tests, table and report use
these; no copy of a formula elsewhere).

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (Thm 1; Sec. 4 on CP).
V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
ICLR 2018 (Thm 1: generic tensor trains; Thm 2 and Table 2: TT- against HT-ranks).
Y. Levine, O. Sharir, A. Shashua, "Benefits of depth for long-term memory of recurrent
networks", arXiv:1710.09431 (start-end separation ranks of shallow and deep RACs; the
theorem's text was not retrieved, see ``docs/recurrent.md``).
N. Cohen, R. Tamari, A. Shashua, "Boosting Dilated Convolutional Networks with Mixed
Tensor Decompositions", ICLR 2018 (Corollary 8: the width a single network needs).
"""

from __future__ import annotations

import math

from . import validate

__all__ = ["ht_odd_even_rank", "ht_left_right_rank", "cp_rank", "cp_shared_odd_even_rank",
           "tt_odd_even_rank", "tt_to_ht_rank_bound", "ht_to_tt_rank_bound",
           "rac_shallow_start_end_bound", "rac_deep_start_end_lower",
           "rac_deep_start_end_upper", "mixed_width_needed"]


def _nm(n_patches, n_channels) -> tuple[int, int]:
    return (validate.positive_int(n_patches, "n_patches", 2),
            validate.positive_int(n_channels, "n_channels"))


def ht_odd_even_rank(n_patches: int, n_channels: int, r0: int) -> int:
    """``min(r_0, M)^(N/2)``: the odd-even rank of an HT with size-2 contiguous pooling
    for almost every weight (COLT 2016, Thm 1; shared weights too).

    Parameters
    ----------
    n_patches : int
        ``N``, even.
    n_channels : int
        ``M``.
    r0 : int
        The first-level rank ``r_0``.
    """
    n, m = _nm(n_patches, n_channels)
    if n % 2:
        raise validate.InvalidValueError(f"n_patches must be even, got {n}")
    return validate.power(min(validate.positive_int(r0, "r0"), m), n // 2,
                          "min(r0, M)^(N/2)", "choose a smaller n_patches")


def ht_left_right_rank(n_patches: int, n_channels: int, r: int) -> int:
    """``min(r, M^(N/2))``: the generic left-right rank of an HT with every rank ``r``
    (the top cut carries ``r_{L-1} = r``; each half has ``M^(N/2)`` values)."""
    n, m = _nm(n_patches, n_channels)
    return validate.min_power(validate.positive_int(r, "r"), m, n // 2)


def cp_rank(n_patches: int, n_channels: int, width: int, n_rows: int | None = None) -> int:
    """``min(K, M^|I|, M^|J|)``: the rank of any matricization of a generic unshared CP
    net of width ``K`` with ``|I| = n_rows`` (default ``N // 2``)."""
    n, m = _nm(n_patches, n_channels)
    rows = n // 2 if n_rows is None else validate.integer(n_rows, "n_rows", 1, n - 1)
    k = validate.positive_int(width, "width")
    return validate.min_power(validate.min_power(k, m, rows), m, n - rows)


def cp_shared_odd_even_rank(n_patches: int, n_channels: int, width: int) -> int:
    """``min(K, C(M + N/2 - 1, N/2))``: the odd-even rank of a generic shared-weight CP
    net (its tensor is symmetric)."""
    n, m = _nm(n_patches, n_channels)
    k = validate.positive_int(width, "width")
    return min(k, math.comb(m + n // 2 - 1, n // 2))


def tt_odd_even_rank(n_patches: int, n_channels: int, r: int) -> int:
    """``min(M, r)^(N/2)``: the CP-rank lower bound of a generic tensor train with every
    TT-rank ``r`` (Khrulkov, Novikov & Oseledets, ICLR 2018, Thm 1, ``d = N`` even,
    ``q = min(n, r)``), reached by its odd-even matricization."""
    n, m = _nm(n_patches, n_channels)
    if n % 2:
        raise validate.InvalidValueError(f"n_patches must be even, got {n}")
    return min(validate.positive_int(r, "r"), m) ** (n // 2)


def tt_to_ht_rank_bound(r: int) -> int:
    """``r^2``: the HT-rank of a tensor of TT-rank ``r`` is at most this (Khrulkov,
    Novikov & Oseledets, Thm 2, first estimate, cited from Grasedyck 2010; their Table 2,
    column TT-Network, row HT-Network)."""
    return validate.positive_int(r, "r") ** 2


def ht_to_tt_rank_bound(n_modes: int, r: int) -> float:
    """``r^(log2(d) / 2)`` as the paper prints it: the TT-rank of a tensor of HT-rank
    ``r`` over ``d = n_modes`` modes is at most this (Khrulkov, Novikov & Oseledets,
    Thm 2, second estimate; Table 2, column HT-Network, row TT-Network).

    Notes
    -----
    The exponent is an integer only when ``d`` is a power of 4.  For the balanced tree
    over ``d = 8`` modes the cut ``{1, 2, 3} | {4 .. 8}`` crosses two rank-``r`` edges
    and convac certifies TT-rank ``r^2`` there, above ``r^1.5`` (see ``docs/recurrent.md``).
    """
    d = validate.positive_int(n_modes, "n_modes", 2)
    return float(validate.positive_int(r, "r")) ** (math.log2(d) / 2)


def _even_steps(n_steps) -> int:
    t = validate.positive_int(n_steps, "n_steps", 2)
    if t % 2:
        raise validate.InvalidValueError(
            f"the start-end partition needs an even n_steps, got {t}")
    return t


def rac_shallow_start_end_bound(n_steps: int, n_channels: int, width: int) -> int:
    """``min(R, M^(T/2))``: the start-end separation rank of a depth-1 RAC of width ``R``
    is at most ``R`` for every ``T`` (the depth-1 part of Levine, Sharir & Shashua's
    Thm 1 in the form convac assumes, not verified from the paper's text; it holds
    because the hidden state after ``T/2`` steps carries everything the end sees of the
    start)."""
    t = _even_steps(n_steps)
    m = validate.positive_int(n_channels, "n_channels")
    return min(validate.positive_int(width, "width"), m ** (t // 2))


def rac_deep_start_end_lower(n_steps: int, n_channels: int, width: int) -> int:
    """``C(min(M, R) + T/2 - 1, T/2)``, the multiset coefficient: the start-end
    separation rank of a depth-2 RAC of width ``R`` is at least this for almost every
    weight (the depth-2 part of Levine, Sharir & Shashua's Thm 1 in the form convac
    assumes, not verified from the paper's text): it grows with ``T``."""
    t = _even_steps(n_steps)
    q = min(validate.positive_int(width, "width"),
            validate.positive_int(n_channels, "n_channels"))
    return math.comb(q + t // 2 - 1, t // 2)


def rac_deep_start_end_upper(n_steps: int, n_channels: int, width: int) -> int:
    """``min(M^(T/2), R * C(R + T/2 - 1, T/2))``: an upper bound on the start-end
    separation rank of a depth-2 RAC of width ``R`` (convac's count, not the paper's).

    Notes
    -----
    After step ``s = T/2`` the end steps see the start only through ``h^1_s`` and
    ``h^2_s``: each later ``h^1_t`` is linear in ``h^1_s``, each later ``h^2_t`` is linear
    in ``h^2_{t-1}`` and in ``h^1_t``, so the output is a sum over the ``R`` entries of
    ``h^2_s`` times a monomial of degree ``T/2`` in the ``R`` entries of ``h^1_s``, with
    coefficients that depend on the end only: at most ``R * C(R + T/2 - 1, T/2)`` terms,
    each separable.
    """
    t = _even_steps(n_steps)
    r = validate.positive_int(width, "width")
    m = validate.positive_int(n_channels, "n_channels")
    return min(m ** (t // 2), r * math.comb(r + t // 2 - 1, t // 2))


def mixed_width_needed(rank: int, group: int) -> float:
    """Corollary 8: ``(r/2)^(2 / (1 + 2^(1-k)))``, the channels per layer a single dilated
    network (or a sum of the two) needs to realise almost every function of the mixed
    network with ``r`` channels whose trees swap dilations in groups of ``k`` layers."""
    r = validate.positive_int(rank, "rank")
    k = validate.positive_int(group, "group")
    return (r / 2) ** (2 / (1 + 2 ** (1 - k)))
