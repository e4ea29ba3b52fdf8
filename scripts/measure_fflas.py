"""Rows of docs/elimination.md: rank mod p = 2097143 of random full-rank and rank-n/2
residue matrices by FFLAS-FFPACK (passagemath-linbox: Sage's ``Matrix_modn_dense_double``,
filled from a numpy buffer) and by ``convac.rank.modp.rank_mod``, against LAPACK's LU
(``scipy.linalg.lu_factor``) of the same float64 matrix, one thread, in one process.

Needs ``pip install passagemath-linbox passagemath-pari`` (not a convac dependency).
Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/measure_fflas.py 2048 4096``.
"""

import sys
import time

import numpy as np
import sage.all__sagemath_linbox  # noqa: F401  (FFLAS-FFPACK behind Matrix_modn_dense_double)
import sage.all__sagemath_modules  # noqa: F401  (Sage's matrix spaces)
import scipy.linalg
import threadpoolctl
from sage.matrix.constructor import matrix
from sage.rings.finite_rings.finite_field_constructor import GF

from convac.rank import modp

threadpoolctl.threadpool_limits(1)
PRIME = 2_097_143
FIELD = GF(PRIME)


def fill(arr: np.ndarray):
    """Residues (float64, ``[0, p)``) as a ``Matrix_modn_dense_double`` without a Python
    list: a zero matrix (calloc), then the raw little-endian uint32 buffer through the
    matrix's own unpickling (format 10, a C loop over the bytes)."""
    mat = matrix(FIELD, arr.shape[0], arr.shape[1])
    mat._unpickle((4, True, arr.astype("<u4").tobytes()), 10)
    return mat


def best(fn, repeat: int):
    """``(result, best wall s, best CPU s)`` over ``repeat`` calls."""
    wall = cpu = float("inf")
    out = None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return out, wall, cpu


def row(n: int, profile: str, a: np.ndarray) -> str:
    """One line of figures for the residue matrix ``a`` (``n x n``)."""
    _, fill_w, fill_c = best(lambda: fill(a), 2)
    # a fresh matrix every call: Sage caches the rank on the matrix
    rank, ff_w, ff_c = best(lambda: int(fill(a).rank()), 2)
    _, lu_w, lu_c = best(lambda: scipy.linalg.lu_factor(a, check_finite=False), 2)
    ours, cv_w, cv_c = best(lambda: modp.rank_mod(a, PRIME), 2)
    assert rank == ours, (rank, ours)
    line = (f"n={n} {profile}: rank {rank}; LU {lu_c:.2f} CPU s ({lu_w:.2f} wall); "
            f"fill from buffer {fill_c:.3f} CPU s ({fill_w:.3f}); fill + FFLAS rank "
            f"{ff_c:.2f} CPU s ({ff_w:.2f}) -> {lu_c / ff_c:.2f} of LU (rank alone "
            f"{lu_c / max(ff_c - fill_c, 1e-9):.2f}); convac rank_mod {cv_c:.2f} CPU s "
            f"({cv_w:.2f}) -> {lu_c / cv_c:.2f} of LU")
    if n <= 2048:  # the Python-list route, for comparison (slow)
        _, _, list_c = best(lambda: matrix(FIELD, n, n, a.astype(np.int64).ravel().tolist()), 1)
        line += f"; fill from a Python list {list_c:.2f} CPU s"
    return line


def main(sides):
    rng = np.random.default_rng(0)
    small = rng.integers(0, PRIME, (5, 7)).astype(np.float64)
    assert [[int(x) for x in r] for r in fill(small).rows()] == small.astype(int).tolist()
    for n in sides:
        for profile in ("full", "deficient"):
            a = rng.integers(0, PRIME, (n, n)).astype(np.float64)
            if profile == "deficient":  # rank n/2: (n x n/2) @ (n/2 x n) mod p
                b = rng.integers(0, PRIME, (n // 2, n)).astype(np.float64)
                a = modp.mul_mod(a[:, : n // 2], b, PRIME)
            print(row(n, profile, a), flush=True)


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [2048, 4096])
