"""The level-0 convs of the eager forward against the features' per-sample stride.

The eager forward's first level is one ``torch.bmm`` over the nodes of the features'
transposed view: node ``n`` reads ``x[:, n, :]``, rows ``M`` floats long, one per sample,
``N * M`` floats apart.  At ``N * M * 4`` bytes a multiple of 4 KiB (every power-of-two
``N`` and ``M`` with ``N * M >= 1024``) every row falls in the same L1 cache sets.  This
script times that bmm (HT, batch 1024, N = 64, M = r = 16, float32, one thread) with the
features in a buffer whose rows are padded by 0, 16, 32 and 64 floats, whole and in the
forward's chunks of 256 samples, best of 50 calls, ``--rounds`` times, and prints the
load, CPU and wall time beside each figure.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python scripts/measure_leaf_stride.py [--rounds 3]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from benchmarks._common import cpu_description  # noqa: E402  (one thread for every pool)
from benchmarks.bench_network import _best_seconds  # noqa: E402
from convac.progress import Clock  # noqa: E402
from convac.threads import apply  # noqa: E402


def best_us(fn, repeat: int = 50) -> float:
    """Best microseconds per call of ``fn`` over ``repeat`` calls, after 5 warm-ups."""
    _best_seconds(fn, 5)  # warm-up
    return 1e6 * _best_seconds(fn, repeat)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    apply(1)
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(64, 16, 16, generator=gen).transpose(1, 2)  # (N, M, r)
    print(f"CPU: {cpu_description()}; torch {torch.__version__}; one thread")
    figures: dict = {}
    for rnd in range(args.rounds):
        clock, load = Clock(), os.getloadavg()[0]
        for pad in (0, 16, 32, 64):
            buf = torch.randn(1024, 64 * 16 + pad, generator=gen)
            x = buf[:, :1024].view(1024, 64, 16)  # (B, N, M), rows 1024 + pad floats apart
            whole = best_us(lambda x=x: torch.bmm(x.transpose(0, 1), weights))
            chunks = best_us(lambda x=x: [torch.bmm(p.transpose(0, 1), weights)
                                          for p in x.split(256)])
            figures.setdefault(pad, []).append((whole, chunks))
        wall, cpu = clock.elapsed()
        print(f"round {rnd + 1}: load {load:.2f}, {cpu:.1f} s CPU, {wall:.1f} s wall",
              flush=True)
    for pad, runs in figures.items():
        whole, chunks = zip(*runs, strict=True)
        print(f"row stride {(1024 + pad) * 4} bytes: whole batch {min(whole):.0f}-"
              f"{max(whole):.0f} us, chunks of 256 {min(chunks):.0f}-{max(chunks):.0f} us")
    print("level-0 bmm by row stride measured over "
          f"{args.rounds} rounds (best of 50 calls each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
