"""Arithmetic modulo a prime ``p`` on float64 arrays: exact residues of floats and the
rank (or a row echelon basis) of a matrix over GF(p).

Residues are kept as float64 integers in ``[0, p)`` with ``p < 2^22``: a product of two
is below ``2^44`` and a sum of up to ``2^53 / (p-1)^2 >= 512`` such products is still an
exact float64 integer, so matrix products of residue blocks run as ordinary BLAS float64
matrix multiplications and stay exact (the idea of FFLAS-FFPACK).  Ranks are computed by
the blocked elimination of :mod:`convac.rank.modlu` (centred residues, delayed reduction).
No Python lists, no object arrays: a 16384 x 16384 matrix is 2 GiB of float64.

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

import contextlib
import functools
import math

import numpy as np
import threadpoolctl
import torch

from .. import validate
from . import modlu

__all__ = [
    "MAX_PRIME",
    "DEFAULT_PRIMES",
    "check_prime",
    "residues",
    "mul_mod",
    "echelon_rows",
    "rank_mod",
    "max_block",
    "kron_pair_nonsingular",
]

MAX_PRIME = 2**22
"""Primes must lie below this: products of two residues stay below ``2^44``."""

DEFAULT_PRIMES = (2_097_143, 2_097_133)
"""The two largest primes below ``2^21``: ``exact`` runs both and reports both.  Below
``2^21`` a float64 sum of 2048 residue products is exact, so the matrix products of
the elimination need no splitting up to inner dimension 2048."""

_EXACT = 2.0**53
_BLOCK = 16
"""Width below which :func:`echelon_rows` eliminates columns one by one (vectorised over
rows)."""


def check_prime(prime) -> int:
    """``prime`` as an int if it is a prime below :data:`MAX_PRIME` (trial division,
    exact), else an error naming it.  (2 serves integer values only: ``2^e`` must be
    invertible for floats.)"""
    p = validate.integer(prime, "prime")
    if not 2 <= p < MAX_PRIME or not _is_prime(p):
        raise validate.InvalidValueError(f"prime must be a prime below 2^22, got {p}")
    return p


@functools.lru_cache(maxsize=64)
def _is_prime(p: int) -> bool:
    # cached: trial division up to sqrt(2^22) took half of an exact rank of a 256 x 256
    # matricization (every elimination step re-checks its prime)
    return all(p % d for d in range(2, math.isqrt(p) + 1))


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
    scaled = _as_scaled_integers(flt)
    if scaled is not None:  # flt = ints * 2^-shift with int64 ints: one pass
        ints, shift = scaled
        if shift == 0:
            return np.mod(ints, prime).astype(np.float64)
        if prime != 2:
            inverse = pow(2, -shift, prime)  # 2^-shift mod p, < 2^22
            return (np.mod(ints, prime) * inverse % prime).astype(np.float64)  # < 2^44
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


def _as_scaled_integers(flt: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(ints, shift)`` with ``flt == ints * 2^-shift`` exactly and ``ints`` int64, or
    None when the values span too many binary orders for int64 (the general path of
    :func:`residues` then takes each value's own exponent).

    The shift is the largest that keeps every ``|ints| < 2^62`` (none for integers that
    fit): float32 weights ``N(0, 1)`` span far fewer than 62 - 24 binary orders, so a
    network's weights take this path (measured: ``residues`` of 16 x 16 such weights,
    one thread, 14 against 22 us per call by the per-exponent path).
    """
    if flt.size == 0:
        return flt.astype(np.int64), 0
    biggest = float(np.max(np.abs(flt)))
    if biggest >= 2.0**62:
        return None
    if np.array_equal(flt, np.round(flt)):  # integers (zeros too): no shift, prime 2 serves
        return flt.astype(np.int64), 0
    shift = 62 - math.frexp(biggest)[1]  # biggest * 2^shift < 2^62
    scaled = np.ldexp(flt, shift)  # exact: a power-of-two scaling, no overflow
    if not np.array_equal(scaled, np.round(scaled)):
        return None
    return scaled.astype(np.int64), shift


def remainder_(x: np.ndarray, prime: int) -> np.ndarray:
    """``x mod prime`` in ``[0, prime)``, in place, for float64 integers ``|x| < 2^53``;
    returns ``x``.  The same as ``np.remainder`` (which costs 15 ns an entry on these
    machines) in about a quarter of its time: the floored quotient from one product may
    miss by one, and the two masked corrections put it right."""
    if x.size <= _REMAINDER_SMALL:  # its five passes cost more than np.remainder's one
        return np.remainder(x, prime, out=x)
    if x.ndim and x.size > _REMAINDER_CHUNK:  # bounded temporaries: root cores are GiBs
        per = x.size // x.shape[0]  # entries under one index of the first axis
        if per > _REMAINDER_CHUNK:
            for i in range(x.shape[0]):
                remainder_(x[i], prime)
        else:
            rows = _REMAINDER_CHUNK // per
            for i in range(0, x.shape[0], rows):
                remainder_(x[i:i + rows], prime)
        return x
    t = np.floor(x * (1.0 / prime))
    t *= prime
    x -= t  # in [-p, 2p)
    np.add(x, prime, out=x, where=x < 0)
    np.subtract(x, prime, out=x, where=x >= prime)
    return x


_REMAINDER_CHUNK = 2**22
"""Entries :func:`remainder_` reduces at a time (a 32 MiB temporary)."""

_REMAINDER_SMALL = 512
"""Entries up to which :func:`remainder_` calls ``np.remainder``: below it the fixed cost
of five numpy calls outweighs the per-entry saving (measured, one thread: 4 entries in
0.7 against 5.2 us, 512 at par, 4096 in 43 against 11 us)."""


def mul_mod(a: np.ndarray, b: np.ndarray, prime: int) -> np.ndarray:
    """``a @ b mod prime`` for residue matrices ``(m, k) @ (k, n)``, exact: the inner
    dimension is cut into chunks of :func:`max_block` so every float64 sum is exact."""
    step = max_block(prime)
    k = a.shape[-1]
    if k <= step:
        return remainder_(a @ b, prime)  # (m, n)
    out = np.zeros(a.shape[:-1] + b.shape[-1:])
    for s in range(0, k, step):
        out += remainder_(a[..., s:s + step] @ b[s:s + step], prime)  # each < p
        if (s // step) % step == step - 1:
            remainder_(out, prime)
    return remainder_(out, prime)


def _inverse_unit_lower(low: np.ndarray, prime: int) -> np.ndarray:
    """Inverse of a unit lower triangular residue matrix ``(k, k)``, by forward substitution."""
    k = low.shape[0]
    inv = np.eye(k)
    for t in range(k - 1):  # row t of inv is final once rows < t are subtracted
        inv[t + 1:] = remainder_(inv[t + 1:] - np.outer(low[t + 1:, t], inv[t]), prime)
    return inv  # (k, k)


def _trsm(low: np.ndarray, b: np.ndarray, prime: int, base: int) -> np.ndarray:
    """Solve ``low @ x = b`` for unit lower triangular ``low (k, k)``, ``b (k, n)``:
    recursive halves, so the work is in matrix products."""
    k = low.shape[0]
    if k <= base:
        return mul_mod(_inverse_unit_lower(low, prime), b, prime)  # (k, n)
    h = k // 2
    top = _trsm(low[:h, :h], b[:h], prime, base)  # (h, n)
    rest = remainder_(b[h:] - mul_mod(low[h:, :h], top, prime), prime)  # (k - h, n)
    return np.concatenate([top, _trsm(low[h:, h:], rest, prime, base)])


def _panel(a: np.ndarray, top: int, c0: int, c1: int, prime: int) -> list:
    """Unblocked elimination of columns ``c0 .. c1-1`` of rows ``top ..``, in place.

    Rows are swapped whole (every column, so multipliers stored to the left follow);
    each pivot's multipliers are stored below it (the ``L`` of ``P A = L U``).
    Returns the pivot columns.
    """
    m = a.shape[0]
    pivots, k = [], top
    for c in range(c0, c1):
        if k == m:
            break
        nz = np.flatnonzero(a[k:, c])
        if nz.size == 0:
            continue  # a dependent column
        i = k + int(nz[0])
        if i != k:
            a[[k, i]] = a[[i, k]]
        inv = pow(int(a[k, c]), prime - 2, prime)
        f = remainder_(a[k + 1:, c] * inv, prime)  # (rows below,), multipliers
        if c + 1 < c1:
            upd = np.outer(f, a[k, c + 1:c1])  # (rows below, c1 - c - 1), each < 2^42
            a[k + 1:, c + 1:c1] = remainder_(a[k + 1:, c + 1:c1] - upd, prime)
        a[k + 1:, c] = f
        pivots.append(c)
        k += 1
    return pivots


def _eliminate(a: np.ndarray, top: int, c0: int, c1: int, prime: int, base: int) -> list:
    """Recursive Gaussian elimination (``P A = L U``) of columns ``c0 .. c1-1`` of rows
    ``top ..`` of ``a``, in place, over GF(prime).

    The left half is eliminated, the right half gets its Schur complement through a
    triangular solve and one matrix product, then the right half is eliminated
    (Toledo's recursive LU): all but ``O(m n base)`` of the work is float64 matrix
    products, exact because every inner dimension is cut at :func:`max_block`.

    Returns
    -------
    list of int
        The pivot columns, ascending; their number is the rank of the block.
    """
    if top >= a.shape[0]:
        return []
    if c1 - c0 <= base:
        return _panel(a, top, c0, c1, prime)
    mid = (c0 + c1) // 2
    left = _eliminate(a, top, c0, mid, prime, base)
    k = len(left)
    if k:
        low = np.tril(a[top:top + k][:, left], -1) + np.eye(k)  # (k, k) unit lower
        u12 = _trsm(low, a[top:top + k, mid:c1], prime, base)  # (k, c1 - mid)
        a[top:top + k, mid:c1] = u12
        if top + k < a.shape[0]:
            below = a[top + k:, mid:c1]  # view: the Schur complement's rows
            below -= mul_mod(a[top + k:][:, left], u12, prime)
            remainder_(below, prime)
    return left + _eliminate(a, top + k, mid, c1, prime, base)


def _as_residue_matrix(mat, prime: int, copy: bool) -> np.ndarray:
    arr = np.asarray(mat)
    if arr.ndim != 2:
        raise validate.InvalidValueError(f"expected a matrix, got shape {arr.shape}")
    if arr.dtype == np.float64 and not copy:
        return arr
    return np.array(arr, dtype=np.float64)


FLINT_MAX_SIDE = 128
"""Matrices with no side above this go to python-flint's ``nmod_mat`` (FLINT, C) when it
is installed: below it the C elimination beats the float64 blocked one here, above it the
matrix products win (measured, one thread, residues mod 2097143, per rank:
25 x 25 0.08 against 0.47 ms, 64 x 64 1.3 against 2.7, 125 x 125 6.4 against 8.9,
256 x 256 34 against 12)."""


@functools.cache
def _flint():
    """python-flint, or None: it is optional (the float64 elimination does the same,
    slower on small matrices); looked up once."""
    try:
        import flint
    except ImportError:
        return None
    return flint


def _flint_matrix(a: np.ndarray, prime: int):
    """``a`` (residues, float64) as a ``flint.nmod_mat``, or None when it is too large
    for FLINT to pay off or python-flint is not installed."""
    flint = _flint()
    if flint is None or max(a.shape) > FLINT_MAX_SIDE:
        return None
    return flint.nmod_mat(a.shape[0], a.shape[1], a.astype(np.int64).ravel().tolist(), prime)


def rank_mod(mat, prime: int, overwrite: bool = False, block: int = modlu.BLOCK,
             threads: int | None = None, device=None) -> int:
    """Rank of a residue matrix over GF(prime).

    Parameters
    ----------
    mat : ndarray or torch.Tensor, shape ``(m, n)``
        Integer residues in ``[0, prime)`` (any numeric dtype; float64 is used as is).
        A torch tensor is eliminated on its own device.
    prime : int
        An odd prime below :data:`MAX_PRIME`.
    overwrite : bool, default False
        Eliminate in ``mat`` itself (float64 only) instead of a copy: no second matrix
        in memory.
    block : int, default 256
        Rows per panel of the blocked elimination (:mod:`convac.rank.modlu`).
    threads : int, optional
        BLAS threads for the matrix products (threadpoolctl; torch's intra-op threads
        for a CPU tensor); default: leave them as they are.
    device : str or torch.device, optional
        Eliminate a copy of the residues as float64 on this torch device (``"cuda"``:
        cuBLAS matrix products; the rank is the CPU path's, exactly).

    Returns
    -------
    int

    Notes
    -----
    ``2 m n min(m, n)`` operations, almost all in float64 matrix products with delayed
    reduction (:mod:`convac.rank.modlu`); small matrices (no side above
    :data:`FLINT_MAX_SIDE`) go to python-flint when it is installed.
    """
    prime = check_prime(prime)
    block = min(validate.positive_int(block, "block"), modlu.room(prime))
    if threads is not None:
        threads = validate.positive_int(threads, "threads")
    if device is not None or isinstance(mat, torch.Tensor):
        a = _as_residue_tensor(mat, device, copy=not overwrite)
        with _threads(threads, torch_too=a.device.type == "cpu"):
            return modlu.rank_blocked(a, prime, block) if a.numel() else 0
    a = _as_residue_matrix(mat, prime, copy=not overwrite)
    if a.size == 0:
        return 0
    small = _flint_matrix(a, prime)
    if small is not None:
        return int(small.rank())
    with _threads(threads):
        return modlu.rank_blocked(a, prime, block)


def _as_residue_tensor(mat, device, copy: bool) -> torch.Tensor:
    """``mat`` as a float64 tensor on ``device`` (its own device if None)."""
    if isinstance(mat, torch.Tensor):
        if mat.ndim != 2:
            raise validate.InvalidValueError(f"expected a matrix, got shape {tuple(mat.shape)}")
        out = mat.to(device=device, dtype=torch.float64)
        return out.clone() if copy and out is mat else out
    arr = _as_residue_matrix(mat, 0, copy=False)
    return torch.tensor(arr, dtype=torch.float64, device=device)


@contextlib.contextmanager
def _threads(threads: int | None, torch_too: bool = False):
    """BLAS (and optionally torch) thread count set for the block, restored after."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
        if torch_too:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


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
    small = _flint_matrix(a, prime)
    if small is not None:  # the reduced row echelon form: also an echelon form
        echelon, k = small.rref()
        rows = [[int(x) for x in row] for row in echelon.tolist()[:k]]
        return np.array(rows, dtype=np.float64).reshape(k, a.shape[1])  # (k, n)
    pivots = np.asarray(_eliminate(a, 0, 0, a.shape[1], prime, block), dtype=np.int64)
    k = pivots.size
    # row t of U starts at its pivot column; left of it the row holds multipliers
    upper = np.arange(a.shape[1])[None, :] >= pivots[:, None]  # (k, n)
    return np.where(upper, a[:k], 0.0)  # (k, n)


KRON_MAX_SIDE = 1024
"""Largest factor side for :func:`kron_pair_nonsingular` (FLINT's inverse and
characteristic polynomial take a Python list of the factor's entries)."""


def _flint_inverse(mat: np.ndarray, prime: int):
    """``mat^-1`` mod prime as float64 residues, or None where ``mat`` is singular."""
    fm = _flint().nmod_mat(mat.shape[0], mat.shape[1],
                           np.mod(mat, prime).astype(np.int64).ravel().tolist(), prime)
    if fm.rank() < mat.shape[0]:
        return None
    return np.array([[int(x) for x in row] for row in fm.inv().tolist()], dtype=np.float64)


def kron_pair_nonsingular(head, last, prime: int) -> bool | None:
    """Whether ``A = H_0 kron L_0 + H_1 kron L_1`` is nonsingular over GF(prime), from
    the factors alone (``A`` itself is never formed).

    Parameters
    ----------
    head : ndarray, shape ``(2, n, n)``
        Residues of ``H_0, H_1``.
    last : ndarray, shape ``(2, m, m)``
        Residues of ``L_0, L_1``.
    prime : int

    Returns
    -------
    bool or None
        True: ``det A != 0``, so ``rank A = n m`` over GF(prime).  False: ``det A = 0``.
        None: undecided (no pair ``H_a, L_a`` both invertible, a side above
        :data:`KRON_MAX_SIDE`, non-square factors, or python-flint missing).

    Notes
    -----
    With ``H_a``, ``L_a`` invertible and ``b = 1 - a``,
    ``A = (H_a kron L_a)(I + X kron Y)``, ``X = H_a^-1 H_b``, ``Y = L_a^-1 L_b``.  Over
    the algebraic closure of GF(p), with eigenvalues ``x_i`` of ``X`` and ``y_j`` of
    ``Y``, ``det(I + X kron Y) = prod_ij (1 + x_i y_j) = prod_j q(y_j) = det q(Y)``
    where ``q(s) = det(I + s X)`` is the reversed characteristic polynomial of ``X``
    (FLINT).  ``q(Y)`` is ``n`` products of ``m x m`` residue matrices (Horner), and its
    determinant is nonzero iff its rank is ``m``: a certificate of rank ``n m`` at the
    cost of a few ``max(n, m)``-sided matrices.
    """
    prime = check_prime(prime)
    head, last = np.asarray(head, np.float64), np.asarray(last, np.float64)
    if (head.ndim != 3 or last.ndim != 3 or head.shape[0] != 2 or last.shape[0] != 2
            or head.shape[1] != head.shape[2] or last.shape[1] != last.shape[2]):
        return None
    if _flint() is None or max(head.shape[1], last.shape[1]) > KRON_MAX_SIDE:
        return None
    for a in (0, 1):
        h_inv, l_inv = _flint_inverse(head[a], prime), _flint_inverse(last[a], prime)
        if h_inv is None or l_inv is None:
            continue
        x = mul_mod(h_inv, head[1 - a], prime)  # (n, n)
        y = mul_mod(l_inv, last[1 - a], prime)  # (m, m)
        if x.shape[0] > y.shape[0]:  # the characteristic polynomial of the smaller
            x, y = y, x
        n = x.shape[0]
        fx = _flint().nmod_mat(n, n, x.astype(np.int64).ravel().tolist(), prime)
        coeffs = [int(c) for c in fx.charpoly().coeffs()]  # c_0 .. c_n, monic
        # q(s) = det(I + s X) = (-s)^n charpoly(-1/s): s^(n-k) carries (-1)^(n+k) c_k
        eye = np.eye(y.shape[0])
        q_y = np.zeros_like(y)
        for k in range(n + 1):  # Horner from s^n (k = 0) down to s^0 (k = n)
            q_y = mul_mod(q_y, y, prime) if k else q_y
            q_y = remainder_(q_y + (-1) ** (n + k) * coeffs[k] * eye, prime)
        return rank_mod(q_y, prime) == y.shape[0]
    return None
