"""The eager forward and its bmm reference as the process's heap moves.

``bench_network.ForwardPath`` divides the forward's best time by that of one
``torch.bmm`` with the same multiply-adds, timed in the same process.  This script sets
up that pair once (HT, batch 1024, N = 64, M = r = 16, float32, one thread), then
``--placements`` times: times both ``--repeats`` times (best of 30 calls each) and holds
a new buffer of a seeded random size (4 KiB to 12 MiB, written), so that the next
allocations of both land elsewhere in the heap.  It prints each placement's times and
fractions (their spread within the placement), and the spread of each over the
placements, with the load, CPU and wall time.  Before and after, it prints two probes of
the core's memory, which other tenants of a shared host slow down: one pass's level-0
product with its features in L2 (``(64, 256, 16) @ (64, 16, 16)``, strided as the forward
reads them) and a sequential read of the 4 MiB of features (``sum``), best of 100 each.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python scripts/measure_bmm_placement.py [--placements 16] [--repeats 3]
"""
import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from benchmarks._common import cpu_description  # noqa: E402  (one thread for every pool)
from benchmarks.bench_network import (  # noqa: E402
    _best_seconds,
    _bmm_baseline,
    make_net,
    normal_features,
)
from convac.progress import Clock  # noqa: E402
from convac.threads import apply  # noqa: E402


def spread(values, fmt: str) -> str:
    """``min-max`` of ``values`` in format ``fmt``."""
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def probes(features, weights) -> str:
    """The two memory probes (module docstring), in microseconds."""
    part = features[:256].transpose(0, 1)  # (N, 256, M), the forward's first pass
    product = 1e6 * _best_seconds(lambda: torch.bmm(part, weights), 100)
    read = 1e6 * _best_seconds(features.sum, 100)
    return f"level-0 pass in L2 {product:.0f} us, 4 MiB read {read:.0f} us"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placements", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    apply(1)
    net = make_net("ht", 64)
    features = normal_features(1024, 64)
    bmm = _bmm_baseline(net, 1024)

    def forward():
        return net(features)

    sizes = random.Random(1)
    held = []  # the buffers that move the heap, kept to the end
    print(f"CPU: {cpu_description()}; torch {torch.__version__}; one thread")
    leaf_weights = net.weight_levels()[0].detach().transpose(1, 2)  # (N, M, r_0)
    print("probes before:", probes(features, leaf_weights), flush=True)
    clock, load = Clock(), os.getloadavg()[0]
    rows = []
    with torch.no_grad():
        for placement in range(args.placements):
            pairs = [(1e3 * _best_seconds(bmm, 30), 1e3 * _best_seconds(forward, 30))
                     for _ in range(args.repeats)]
            rows.extend(pairs)
            bmms, forwards = zip(*pairs, strict=True)
            fractions = [b / f for b, f in pairs]
            print(f"placement {placement + 1:2d}: bmm {spread(bmms, '.3f')} ms, forward "
                  f"{spread(forwards, '.3f')} ms, fraction {spread(fractions, '.2f')}",
                  flush=True)
            held.append(torch.ones(sizes.randint(1, 3072) * 1024))
            forward(), bmm()  # the next allocations, in their new places
    wall, cpu = clock.elapsed()
    print("probes after:", probes(features, leaf_weights))
    bmms, forwards = zip(*rows, strict=True)
    fractions = [b / f for b, f in rows]
    print(f"over {args.placements} placements x {args.repeats} (load {load:.2f}, {cpu:.1f} s "
          f"CPU, {wall:.1f} s wall): bmm {spread(bmms, '.3f')} ms, forward "
          f"{spread(forwards, '.3f')} ms, fraction {spread(fractions, '.2f')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
