"""Arithmetic modulo a prime ``p`` on float64 arrays: exact residues of floats and the
rank (or a row echelon basis) of a matrix over GF(p).

Residues are kept as float64 integers in ``[0, p)`` with ``p < 2^22``: a product of two
is below ``2^44`` and a sum of up to ``2^53 / (p-1)^2 >= 512`` such products is still an
exact float64 integer, so matrix products of residue blocks run as ordinary BLAS float64
matrix multiplications and stay exact (the idea of FFLAS-FFPACK).  No Python lists, no
object arrays: a 16384 x 16384 matrix is 2 GiB of float64.

A float is a dyadic rational ``m * 2^e`` (``m`` an integer below ``2^53``), so every
float64/float32 array maps exactly into GF(p) for odd ``p``: ``m * (2^e mod p)``, with
``2^e`` invertible.  The rank over GF(p) of that image is a lower bound on the rank over
the rationals of the exact float values (a nonzero minor mod ``p`` is a nonzero minor).

References
----------
J.-G. Dumas, P. Giorgi, C. Pernet, "Dense linear algebra over word-size prime fields:
the FFLAS and FFPACK packages", ACM TOMS 35(3), 2008 (exact float BLAS over GF(p)).
"""

from __future__ import annotations

import math

import numpy as np

from . import validate

__all__ = [
    "MAX_PRIME",
    "DEFAULT_PRIMES",
    "check_prime",
    "residues",
    "mul_mod",
    "echelon_rows",
    "rank_mod",
    "max_block",
]

MAX_PRIME = 2**22
"""Primes must lie below this: products of two residues stay below ``2^44``."""

DEFAULT_PRIMES = (4_194_301, 4_194_287)
"""The two largest primes below ``2^22``: ``exact`` runs both and reports both."""

_EXACT = 2.0**53
_BLOCK = 256
"""Column panel width of the blocked elimination (bounded by :func:`max_block`)."""


def check_prime(prime) -> int:
    """``prime`` as an int if it is a prime below :data:`MAX_PRIME` (trial division,
    exact), else an error naming it.  (2 serves integer values only: ``2^e`` must be
    invertible for floats.)"""
    p = validate.integer(prime, "prime")
    if not 2 <= p < MAX_PRIME or any(p % d == 0 for d in range(2, math.isqrt(p) + 1)):
        raise validate.InvalidValueError(f"prime must be a prime below 2^22, got {p}")
    return p


def max_block(prime: int) -> int:
    """Largest number of residue products whose float64 sum is exact: ``k (p-1)^2 < 2^53``."""
    return max(1, int((_EXACT - 1) // ((prime - 1) ** 2)))


def residues(values, prime: int, what: str = "value") -> np.ndarray:
    """Exact images in GF(prime) of integers or finite floats, as float64 in ``[0, prime)``.

    Parameters
    ----------
    values : array_like of int or float, any shape
        Floats are exact dyadic rationals ``m * 2^e``; integers must fit int64 (unsigned
        values ``>= 2^63`` are refused, not wrapped).
    prime : int
        An odd prime below :data:`MAX_PRIME`.
    what : str
        Name used in errors.

    Returns
    -------
    ndarray of float64, same shape

    Raises
    ------
    ValueError
        A non-finite float (naming its index and value) or an integer out of range.
    """
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.unsignedinteger) and arr.size and arr.max() >= 2**63:
            idx = tuple(int(i) for i in np.argwhere(arr >= 2**63)[0])
            raise validate.InvalidValueError(
                f"{what} {idx} is {int(arr[idx])}, above the int64 range (< 2^63)")
        return np.mod(arr.astype(np.int64), prime).astype(np.float64)
    if not np.issubdtype(arr.dtype, np.floating):
        raise validate.InvalidTypeError(
            f"{what}s must be integers or floats, got dtype {arr.dtype}")
    flt = arr.astype(np.float64)  # exact for float16/32
    bad = ~np.isfinite(flt)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise validate.InvalidValueError(
            f"{what} {idx} is {float(flt[idx])!r}: only finite values have an exact residue")
    if np.all(flt == np.round(flt)) and np.all(np.abs(flt) < 2.0**62):
        return np.mod(flt.astype(np.int64), prime).astype(np.float64)  # integers: direct
    if prime == 2:
        raise validate.InvalidValueError(
            f"prime 2 cannot represent the non-integer {what}s of this array (2^e is not "
            "invertible mod 2); use an odd prime")
    frac, exp = np.frexp(flt)  # flt = frac * 2^exp, |frac| in [0.5, 1)
    mant = np.ldexp(frac, 53).astype(np.int64)  # exact integer, |mant| < 2^53
    exp = exp.astype(np.int64) - 53  # flt = mant * 2^exp
    uniq, inverse = np.unique(exp, return_inverse=True)
    pow2 = np.array([pow(2, int(e), prime) for e in uniq], dtype=np.int64)  # 2^e mod p
    out = np.mod(mant, prime) * pow2[inverse.reshape(exp.shape)] % prime  # < 2^44
    return out.astype(np.float64)


def mul_mod(a: np.ndarray, b: np.ndarray, prime: int) -> np.ndarray:
    """``a @ b mod prime`` for residue matrices ``(m, k) @ (k, n)``, exact: the inner
    dimension is cut into chunks of :func:`max_block` so every float64 sum is exact."""
    step = max_block(prime)
    k = a.shape[-1]
    if k <= step:
        return np.remainder(a @ b, prime)  # (m, n)
    out = np.zeros(a.shape[:-1] + b.shape[-1:])
    for s in range(0, k, step):
        out += np.remainder(a[..., s:s + step] @ b[s:s + step], prime)  # each < p
        if (s // step) % step == step - 1:
            np.remainder(out, prime, out=out)
    return np.remainder(out, prime, out=out)


def _inverse_unit_lower(low: np.ndarray, prime: int) -> np.ndarray:
    """Inverse of a unit lower triangular residue matrix ``(k, k)``, by forward substitution."""
    k = low.shape[0]
    inv = np.eye(k)
    for t in range(k - 1):  # row t of inv is final once rows < t are subtracted
        inv[t + 1:] = np.remainder(inv[t + 1:] - np.outer(low[t + 1:, t], inv[t]), prime)
    return inv  # (k, k)


def _eliminate(a: np.ndarray, prime: int, block: int, keep_rows: bool):
    """Blocked Gaussian elimination of ``a`` over GF(prime), in place.

    Panels of ``block`` columns are eliminated column by column (vectorised over rows);
    the rows below each panel get its Schur complement through one float64 matrix
    product with inner dimension ``<= block``.

    Returns
    -------
    rank : int
    rows : ndarray ``(rank, n)`` or None
        The nonzero rows of a row echelon form of ``a`` (when ``keep_rows``).
    """
    m, n = a.shape
    top, out = 0, []  # rows above ``top`` hold pivots
    for j0 in range(0, n, block):
        if top == m:
            break
        j1 = min(n, j0 + block)
        panel = a[top:, j0:j1]  # view: (m - top, b)
        k, pivots = 0, []
        for c in range(j1 - j0):
            if k == panel.shape[0]:
                break
            nz = np.flatnonzero(panel[k:, c])
            if nz.size == 0:
                continue  # a dependent column
            i = k + int(nz[0])
            if i != k:  # swap whole rows from j0 on (LAPACK style: stored multipliers too)
                a[[top + k, top + i], j0:] = a[[top + i, top + k], j0:]
            inv = pow(int(panel[k, c]), prime - 2, prime)
            f = np.remainder(panel[k + 1:, c] * inv, prime)  # (rows below,), multipliers
            upd = np.outer(f, panel[k, c + 1:])  # (rows below, b - c - 1), each < 2^44
            panel[k + 1:, c + 1:] = np.remainder(panel[k + 1:, c + 1:] - upd, prime)
            panel[k + 1:, c] = f  # L below the pivot
            pivots.append(c)
            k += 1
        if k == 0:
            continue
        low = panel[:k, pivots]  # (k, k) unit lower triangular (diagonal holds pivots)
        low = np.tril(low, -1) + np.eye(k)
        u12 = a[top:top + k, j1:]  # (k, n - j1)
        if j1 < n:
            u12 = mul_mod(_inverse_unit_lower(low, prime), u12, prime)  # L11^-1 A12
            a[top:top + k, j1:] = u12
            if top + k < m:
                l21 = panel[k:, pivots]  # (rows below, k)
                below = a[top + k:, j1:]  # view
                below -= mul_mod(l21, u12, prime)
                np.remainder(below, prime, out=below)
                panel[k:, pivots] = 0.0  # eliminated
        if keep_rows:
            rows = np.zeros((k, n))
            for t, c in enumerate(pivots):
                rows[t, j0 + c:j1] = panel[t, c:]  # columns < c hold multipliers, not U
            rows[:, j1:] = u12
            out.append(rows)
        top += k
    rows = np.concatenate(out) if out else np.zeros((0, n))
    return top, (rows if keep_rows else None)


def _as_residue_matrix(mat, prime: int, copy: bool) -> np.ndarray:
    arr = np.asarray(mat)
    if arr.ndim != 2:
        raise validate.InvalidValueError(f"expected a matrix, got shape {arr.shape}")
    if arr.dtype == np.float64 and not copy:
        return arr
    return np.array(arr, dtype=np.float64)


def rank_mod(mat, prime: int, overwrite: bool = False, block: int = _BLOCK) -> int:
    """Rank of a residue matrix over GF(prime).

    Parameters
    ----------
    mat : ndarray, shape ``(m, n)``
        Integer residues in ``[0, prime)`` (any numeric dtype; float64 is used as is).
    prime : int
        An odd prime below :data:`MAX_PRIME`.
    overwrite : bool, default False
        Eliminate in ``mat`` itself (float64 only) instead of a copy: no second matrix
        in memory.
    block : int, default 256
        Panel width, capped at :func:`max_block`.

    Returns
    -------
    int

    Notes
    -----
    Cost ``O(m n min(m, n))`` operations, most of them in float64 matrix products; the
    column-by-column work is ``O(m n block)``.
    """
    prime = check_prime(prime)
    block = min(validate.positive_int(block, "block"), max_block(prime))
    a = _as_residue_matrix(mat, prime, copy=not overwrite)
    if a.size == 0:
        return 0
    if a.shape[0] > a.shape[1]:
        a = np.ascontiguousarray(a.T)  # eliminate along the short side
    return _eliminate(a, prime, block, keep_rows=False)[0]


def echelon_rows(mat, prime: int, block: int = _BLOCK) -> np.ndarray:
    """Nonzero rows of a row echelon form of ``mat`` over GF(prime).

    Returns
    -------
    ndarray of float64, shape ``(rank, n)``
        ``mat = B @ rows`` for some ``B`` of full column rank: the rows span the row
        space of ``mat``.
    """
    prime = check_prime(prime)
    block = min(validate.positive_int(block, "block"), max_block(prime))
    a = _as_residue_matrix(mat, prime, copy=True)
    if a.size == 0:
        return np.zeros((0, a.shape[1]))
    return _eliminate(a, prime, block, keep_rows=True)[1]
