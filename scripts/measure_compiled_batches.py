"""The compiled forward after a call with a second batch size: torch.compile's default
(it recompiles once with a dynamic batch) against ``dynamic=False`` (one static graph per
batch size).

Each mode runs in its own process (``--processes`` of each, alternating): the benchmark's
HT (N = 64, M = r = 16, float32, one thread) compiled with ``fullgraph=True``, called at
batch 1024, then 512, then 1024 again; then ``--rounds`` rounds of best-of-20 timings of
both batch sizes beside the bmm reference of ``bench_network.ForwardPath`` (same process).
Prints the compile times, load, CPU and wall time, and every round.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python scripts/measure_compiled_batches.py [--processes 2] [--rounds 4]
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {"default": {}, "static": {"dynamic": False}}


def worker(mode: str, rounds: int) -> None:
    """One process: compile in ``mode``, call at two batch sizes, time both."""
    sys.path.insert(0, ROOT)
    import torch

    from benchmarks.bench_network import _best_seconds, _bmm_baseline, make_net, normal_features
    from convac.progress import Clock
    from convac.threads import apply

    apply(1)
    net = make_net("ht", 64)
    large, small = normal_features(1024, 64), normal_features(512, 64)
    bmm = _bmm_baseline(net, 1024)
    model = torch.compile(net, fullgraph=True, **MODES[mode])
    clock = Clock()
    compiles = []
    with torch.no_grad():
        for feats in (large, small, large):
            start = time.perf_counter()
            model(feats)
            compiles.append(time.perf_counter() - start)
        for _ in range(3):
            model(large)
            bmm()
        print(f"{mode}: first call {compiles[0]:.1f} s, batch 512 {compiles[1]:.1f} s, "
              f"batch 1024 again {compiles[2]:.2f} s; load {os.getloadavg()[0]:.2f}")
        for _ in range(max(1, rounds)):
            ref = _best_seconds(bmm, 20)
            big = _best_seconds(lambda: model(large), 20)
            half = _best_seconds(lambda: model(small), 20)
            print(f"  bmm {1e3 * ref:.3f} ms; batch 1024 {1e3 * big:.3f} ms "
                  f"({ref / big:.2f} of the bmm); batch 512 {1e3 * half:.3f} ms")
    wall, cpu = clock.elapsed()
    print(f"  {cpu:.1f} s CPU, {wall:.1f} s wall", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.rounds)
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CONVAC_THREADS="1")
    failed = 0
    for _ in range(args.processes):
        for mode in MODES:
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", mode,
                                   "--rounds", str(args.rounds)], env=env, cwd=ROOT,
                                  check=False)
            failed += done.returncode != 0  # recorded, the other processes go on
    print(f"compiled forward at two batch sizes: {args.processes} processes per mode, "
          f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
