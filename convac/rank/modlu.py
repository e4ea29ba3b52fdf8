"""Rank over GF(p) by blocked elimination whose work is float64 matrix products (BLAS on
the CPU, cuBLAS through torch on a GPU), with delayed reduction.

Residues live as float64 integers in the centred range ``|x| <= (p-1)/2 + 2`` (the
bound :func:`centred_bound` after :func:`reduce_`): a product of two is below
``2^42`` for ``p < 2^22`` (``2^40`` for ``p < 2^21``), so a float64 dot product of up
to :func:`room` such products (8191 for ``p < 2^21``) is an exact integer, in any
summation order, before it is reduced.  The trailing matrix takes every panel's update
unreduced until its proven bound would pass ``2^53``: at ``n <= 8192`` it is never
reduced as a whole; each panel is reduced once, when it is eliminated.

The elimination is right-looking over panels of ``block`` rows.  A panel's pivots (rows
``pr``, columns ``pc``) and the inverse ``Z`` of its ``k x k`` pivot block are found on
its first ``block + 16`` active columns (the *head*) by recursive halving (Schur
complements and block inverses, all matrix products; rows one by one below 16 rows);
only when a row's head is zero after elimination is the panel redone at full width.
Then every later row gets the Schur complement
``A[R', C'] -= A[R', pc] @ (Z @ A[pr, C'])``: one large matrix product per panel.  Rows
of the panel that are not pivots are dependent on the pivot rows and leave.

Only ranks: no factor is kept.  Reductions are ``x - p * rint(x / p)`` (four cheap
passes; ``np.remainder`` on float64 costs 15 ns an entry here, nine times more).

References
----------
J.-G. Dumas, P. Giorgi, C. Pernet, "Dense linear algebra over word-size prime fields:
the FFLAS and FFPACK packages", ACM TOMS 35(3), 2008 (delayed reduction over float BLAS).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["BLOCK", "centred_bound", "room", "reduce_", "rank_blocked"]

BLOCK = 256
"""Rows per panel: the panel update's inner dimension (256 runs dgemm near its peak,
larger panels spend more in finding pivots; measured at n = 2048 and 4096)."""

_HEAD_EXTRA = 16
"""Columns beyond the panel height searched for pivots before the full width."""

_BASE = 16
"""Rows below which a panel's pivots are found row by row."""

_EXACT = 2.0**53

_CHUNK = 2**25
"""Entries of the largest temporary of a panel's update (256 MiB of float64): a 16384^2
matrix (2 GiB) is eliminated in little more than its own memory."""


def centred_bound(prime: int) -> int:
    """Largest ``|x|`` that :func:`reduce_` leaves: ``(p-1)/2 + 2`` (the quotient's
    rounding error is below ``2/p`` for ``|x| < 2^53``, so ``rint`` may miss by a
    hair past a half)."""
    return (prime - 1) // 2 + 2


def room(prime: int) -> int:
    """Largest count of products of reduced residues that may be summed onto a reduced
    residue with the float64 result exact: ``h + k h^2 <= 2^53``, ``h`` the bound."""
    h = centred_bound(prime)
    return max(1, int((_EXACT - h) // (h * h)))


class _NumpyOps:
    """Array operations of the elimination on numpy float64 arrays."""

    @staticmethod
    def copy(x):
        return x.copy()

    @staticmethod
    def round_(x):
        return np.rint(x, out=x)

    @staticmethod
    def first_nonzero(row) -> int:
        nz = np.flatnonzero(row)
        return int(nz[0]) if nz.size else -1

    @staticmethod
    def eye(k, like):
        return np.eye(k)

    @staticmethod
    def zeros(shape, like):
        return np.zeros(shape)

    @staticmethod
    def block(rows):
        return np.block(rows)

    @staticmethod
    def max_abs(x) -> float:
        return max(float(np.max(x)), -float(np.min(x))) if x.size else 0.0  # no temporary

    @staticmethod
    def item(x) -> float:
        return float(x)


class _TorchOps:
    """The same operations on torch float64 tensors (any device: CUDA for cuBLAS)."""

    @staticmethod
    def copy(x):
        return x.clone()

    @staticmethod
    def round_(x):
        return x.round_()  # half to even, as np.rint

    @staticmethod
    def first_nonzero(row) -> int:
        nz = torch.nonzero(row)
        return int(nz[0, 0]) if nz.shape[0] else -1

    @staticmethod
    def eye(k, like):
        return torch.eye(k, dtype=like.dtype, device=like.device)

    @staticmethod
    def zeros(shape, like):
        return torch.zeros(shape, dtype=like.dtype, device=like.device)

    @staticmethod
    def block(rows):
        return torch.cat([torch.cat(r, dim=1) for r in rows], dim=0)

    @staticmethod
    def max_abs(x) -> float:
        return max(float(x.max()), -float(x.min())) if x.numel() else 0.0

    @staticmethod
    def item(x) -> float:
        return float(x)


def _ops(a):
    return _TorchOps if isinstance(a, torch.Tensor) else _NumpyOps


def reduce_(x, prime: int):
    """``x <- x - p * rint(x / p)`` in place (numpy array or torch tensor of integers
    below ``2^53`` in magnitude); returns ``x``, now within :func:`centred_bound`.
    A multiple of ``p`` becomes exactly 0."""
    ops = _ops(x)
    t = x * (1.0 / prime)
    ops.round_(t)
    t *= prime
    x -= t
    return x


def _pivots_by_row(h, prime: int, full: bool, ops):
    """Pivots of a few reduced rows ``h (b, s)``, one row at a time (Gauss-Jordan).

    Each row loses its components along the pivot rows found so far (kept in reduced
    echelon form, each augmented by its row of the transform), and its first nonzero
    column becomes a pivot.  A row with nothing left is dependent when ``full`` (``h``
    spans every active column), else the head is too narrow and None is returned.

    Returns
    -------
    (pr, pc, z) or None
        Pivot rows and columns of ``h`` (lists, in the order found) and
        ``z = h[pr][:, pc]^-1`` ``(k, k)``.
    """
    b, s = h.shape
    aug = ops.zeros((b, s + b), h)  # [h | I]: the transform rides along
    aug[:, :s] = h
    aug[:, s:] = ops.eye(b, h)
    ech = ops.zeros((b, s + b), h)  # reduced echelon rows found so far
    pr, pc = [], []
    for i in range(b):
        row = aug[i]
        k = len(pr)
        if k:
            row = reduce_(row - row[pc] @ ech[:k], prime)  # (s + b,)
        c = ops.first_nonzero(row[:s])
        if c < 0:
            if full:
                continue
            return None
        row *= pow(int(ops.item(row[c])) % prime, prime - 2, prime)
        reduce_(row, prime)
        if k:
            upd = ech[:k, c:c + 1] * row[None, :]  # (k, s + b)
            ech[:k] -= upd
            reduce_(ech[:k], prime)
        ech[k] = row
        pr.append(i)
        pc.append(c)
    k = len(pr)
    return pr, pc, ops.copy(ech[:k, s:][:, pr])  # the transform on the pivot rows


def _pivots(h, prime: int, full: bool, ops):
    """Pivots of reduced rows ``h (b, s)`` by halves: those of the top half, the Schur
    complement of the bottom half on them, its pivots, and the block inverse.

    Returns what :func:`_pivots_by_row` returns (None: some row's head is zero).
    """
    b = h.shape[0]
    if b <= _BASE:
        return _pivots_by_row(h, prime, full, ops)
    half = b // 2
    top, bot = h[:half], h[half:]
    found = _pivots(top, prime, full, ops)
    if found is None:
        return None
    pr1, pc1, z1 = found
    if pr1:
        coef = reduce_(bot[:, pc1] @ z1, prime)  # (b - half, k1)
        bot = reduce_(bot - coef @ top[pr1], prime)  # (b - half, s), zero on pc1
    found = _pivots(bot, prime, full, ops)
    if found is None:
        return None
    pr2, pc2, z2 = found
    pr2 = [half + i for i in pr2]
    if not pr2 or not pr1:
        return (pr1, pc1, z1) if pr1 else (pr2, pc2, z2)
    # [[A11, A12], [A21, A22]]^-1 with z1 = A11^-1 and z2 = (A22 - A21 z1 A12)^-1
    x = reduce_(z1 @ h[pr1][:, pc2], prime)  # z1 A12 (k1, k2)
    y = reduce_(h[pr2][:, pc1] @ z1, prime)  # A21 z1 (k2, k1)
    upper = reduce_(-(x @ z2), prime)  # (k1, k2)
    lower = reduce_(-(z2 @ y), prime)  # (k2, k1)
    corner = reduce_(z1 - upper @ y, prime)  # z1 + z1 A12 z2 A21 z1 (k1, k1)
    return pr1 + pr2, pc1 + pc2, ops.block([[corner, upper], [lower, z2]])


def _swap_to_front(panel, trail, pc: list) -> None:
    """Move the active columns ``pc`` to the front, in order, in ``panel`` and ``trail``
    (column swaps: none when the pivots are the leading columns already)."""
    order = list(range(panel.shape[1]))  # column at each position
    where = list(range(panel.shape[1]))  # position of each column
    for i, c in enumerate(pc):
        j = where[c]
        if j == i:
            continue
        panel[:, [i, j]] = panel[:, [j, i]]
        trail[:, [i, j]] = trail[:, [j, i]]
        moved = order[i]
        order[i], order[j] = c, moved
        where[c], where[moved] = i, j


def rank_blocked(a, prime: int, block: int = BLOCK) -> int:
    """Rank over GF(prime) of an integer matrix, eliminated in place.

    Parameters
    ----------
    a : ndarray or torch.Tensor of float64, shape ``(m, n)``, writable
        Integer values below ``2^53`` in magnitude (residues in ``[0, p)`` usually);
        overwritten.  A torch tensor is eliminated on its device.
    prime : int
        A prime below ``2^22`` (checked by the caller).
    block : int
        Rows per panel, ``1 <= block <= room(prime)``.

    Returns
    -------
    int
    """
    ops = _ops(a)
    m, n = a.shape
    h = centred_bound(prime)
    step = float(h) * h  # bound gained per product summed
    bound = ops.max_abs(a)  # of the trailing matrix, proven
    rank = top = r0 = 0
    while r0 < m and top < n:
        r1 = min(m, r0 + block)
        panel = reduce_(ops.copy(a[r0:r1, top:]), prime)  # (rows, n - top)
        r0, width = r1, n - top
        if not bool(panel.any()):
            continue
        head = min(width, block + _HEAD_EXTRA)
        found = _pivots(panel[:, :head], prime, head == width, ops)
        if found is None:  # a row's head is zero: its pivot may lie further right
            found = _pivots(panel, prime, True, ops)
        pr, pc, z = found
        k = len(pr)
        if not k:
            continue
        trail = a[r1:, top:]  # view: the rows below, active columns
        _swap_to_front(panel, trail, pc)
        rank += k
        if r1 < m and width > k:
            w = reduce_(z @ panel[pr, k:], prime)  # (k, width - k)
            left = reduce_(ops.copy(trail[:, :k]), prime)  # (rows below, k)
            rest = trail[:, k:]  # view: the Schur complement's place
            full = bound + k * step >= _EXACT
            rows = max(1, _CHUNK // rest.shape[1])
            for i in range(0, rest.shape[0], rows):  # a bounded temporary, however large
                part = rest[i:i + rows]
                if full:
                    reduce_(part, prime)
                part -= left[i:i + rows] @ w
            bound = (h if full else bound) + k * step
        top += k
    return rank
