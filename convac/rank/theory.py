"""The ranks the theorems predict, in one place (benchmarks, tests, table and report use
these; no copy of a formula elsewhere).

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (Thm 1; Sec. 4 on CP).
"""

from __future__ import annotations

import math

from .. import validate

__all__ = ["ht_odd_even_rank", "ht_left_right_rank", "cp_rank", "cp_shared_odd_even_rank"]


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
