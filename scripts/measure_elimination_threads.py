"""Exact rank mod p with one and with two BLAS threads, beside LAPACK's LU at the same.

For each side, ``--rounds`` rounds alternate ``modp.rank_mod(mat, p, threads=t)`` (p =
2^21 - 9, a seeded random full-rank residue matrix) and ``scipy.linalg.lu_factor`` of a
float64 matrix of the same side under ``threadpool_limits(t)``, for t = 1 and 2, and
print each call's wall and CPU time (CPU over wall: how many threads did the work) and the
load.

Usage (from the repository root)::

    python scripts/measure_elimination_threads.py [--sides 2048 4096] [--rounds 2]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from convac.progress import Clock  # noqa: E402
from convac.rank import modp  # noqa: E402


def timed(fn, *args, **kwargs) -> tuple:
    """``(result, wall, cpu)``: one call of ``fn`` and its wall and CPU seconds."""
    clock = Clock()
    result = fn(*args, **kwargs)
    return (result, *clock.elapsed())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    prime = modp.DEFAULT_PRIMES[0]
    print(f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, p = {prime}")
    for side in args.sides:
        mat = np.random.default_rng(side).integers(0, prime, (side, side)).astype(np.float64)
        floats = np.random.default_rng(1).standard_normal((side, side))
        for rnd in range(args.rounds):
            for threads in (1, 2):
                rank, wall, cpu = timed(modp.rank_mod, mat, prime, threads=threads)
                with threadpool_limits(threads):
                    _, lu_wall, lu_cpu = timed(scipy.linalg.lu_factor, floats,
                                               check_finite=False)
                print(f"n={side} round {rnd + 1} threads={threads}: rank {rank} in "
                      f"{wall:.2f} s wall, {cpu:.2f} s CPU (CPU/wall {cpu / wall:.2f}); LU "
                      f"{lu_wall:.2f} s wall, {lu_cpu:.2f} s CPU; rank/LU wall "
                      f"{wall / lu_wall:.2f}", flush=True)
    print(f"rank mod p with 1 and 2 threads at sides {args.sides}, {args.rounds} rounds; "
          f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
