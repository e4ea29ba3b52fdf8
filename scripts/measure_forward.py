"""The forward's speed against one bmm, as throughput fractions, over several processes.

Runs the asv benchmark ``bench_network.ForwardPath.track_time_per_bmm`` (HT, batch 1024,
N = 64, M = r = 16, float32, one thread; the path's best time over that of one
``torch.bmm`` with the same multiply-adds, in the same process) for the ``eager`` and
``compiled`` paths, ``--calls`` times in each of ``--processes`` fresh processes per path
(one path per process: a path set up after another in the same process meets a bmm
reference whose operands lie elsewhere, which ran up to 1.3x faster there), run one after
the other, and prints every figure as a throughput fraction (bmm time over path time: 1 /
the asv ratio, higher is better) with the load average, the CPU model, each call's CPU
and wall time and the bmm's and the path's best times.  The goals: eager >= 0.6, compiled >= 0.9.

Usage (from the repository root)::

    python scripts/measure_forward.py [--processes 3] [--calls 3] [--paths eager compiled]
        [--json FILE]

``--json`` also writes every process's figures and the summary to ``FILE``.

A quiet machine gives the honest figure: on a shared one the bmm reference slows down
more than the forward, which inflates the fractions.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(path: str, calls: int) -> None:
    """One process: set ``path`` up once, then time ``calls`` calls of the benchmark;
    print one JSON line."""
    sys.path.insert(0, ROOT)
    from benchmarks._common import cpu_description  # sets one thread for every pool
    from benchmarks.bench_network import ForwardPath, _best_seconds

    bench = ForwardPath()
    start = time.perf_counter()
    bench.setup(path)
    setup_s = time.perf_counter() - start
    runs = []
    for _ in range(calls):
        cpu, wall = time.process_time(), time.perf_counter()
        ratio = bench.track_time_per_bmm(path)
        runs.append({"throughput": 1.0 / ratio, "cpu_s": time.process_time() - cpu,
                     "wall_s": time.perf_counter() - wall, "load": os.getloadavg()[0]})
    out = {"cpu": cpu_description(), "setup_s": setup_s, "runs": runs,
           "bmm_ms": 1e3 * _best_seconds(bench.bmm, 20),
           "path_ms": 1e3 * _best_seconds(bench.run, 20)}
    print(json.dumps(out), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--paths", nargs="+", default=["eager", "compiled"],
                        choices=["eager", "compiled", "train"])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.paths[0], args.calls)
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CONVAC_THREADS="1")
    figures: dict[str, list[float]] = {p: [] for p in args.paths}
    cpu = None
    processes = []
    for proc in range(args.processes):
        for path in args.paths:
            load = os.getloadavg()[0]
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                                   "--calls", str(args.calls), "--paths", path],
                                  env=env, cwd=ROOT, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:  # recorded, the other processes go on
                processes.append({"path": path, "exit": done.returncode,
                                  "stderr": done.stderr[-2000:]})
                print(f"process {proc + 1} {path}: failed (exit {done.returncode}): "
                      f"{done.stderr.strip().splitlines()[-1:] or ''}")
                continue
            data = json.loads(done.stdout.strip().splitlines()[-1])
            cpu = data["cpu"]
            runs = data["runs"]
            processes.append({"path": path, "load_before": load, **data})
            figures[path].extend(r["throughput"] for r in runs)
            print(f"process {proc + 1} {path:8s} load {load:5.2f}->{runs[-1]['load']:5.2f} "
                  f"setup {data['setup_s']:5.1f} s  throughput "
                  + " ".join(f"{r['throughput']:.2f}" for r in runs)
                  + "  per call CPU " + " ".join(f"{r['cpu_s']:.2f}" for r in runs)
                  + " s, wall " + " ".join(f"{r['wall_s']:.2f}" for r in runs) + " s"
                  + f"; best of 20: bmm {data['bmm_ms']:.3f} ms, path {data['path_ms']:.3f} ms",
                  flush=True)
    print(f"CPU: {cpu}")
    stats = {p: {"min": min(v), "median": statistics.median(v), "max": max(v), "runs": len(v)}
             for p, v in figures.items() if v}
    summary = "; ".join(f"{p} {f['min']:.2f}-{f['max']:.2f} (median {f['median']:.2f}, "
                        f"{f['runs']} runs)" for p, f in stats.items())
    print(f"throughput against one bmm (HT, batch 1024, N=64, M=r=16, float32, 1 thread): "
          f"{summary or 'no figure'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "processes": processes, "throughput": stats}, f, indent=1)
    return 0 if all(figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
