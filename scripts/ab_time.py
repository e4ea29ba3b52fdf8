"""A/B timing of the asv suite's time_ benchmarks between two checkouts (the rule "no
time_ benchmark more than 5% slower"), robust to a shared machine's noise.

Two worker processes stay alive, one importing each checkout (its ``convac`` and its
``benchmarks``); every benchmark is timed by both, alternating which goes first, like asv
(setup once, auto number to >= 20 ms per sample, median of samples), one thread each.
The result is the head/base ratio of the median wall and CPU (``time.process_time``)
times, with the spread over rounds.  Fix glibc's allocator for large arrays
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``): without it, whether a 4 MB
result is mmap'ed afresh each call depends on each process's history (measured: the
same code at 0.24 ms or 2.1 ms per call).

Usage::

    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 \
        python scripts/ab_time.py BASE_CHECKOUT HEAD_CHECKOUT [--rounds 3]
        [--only SUBSTRING] [--json FILE] [--fresh] [--base-env KEY=VALUE]

(a base checkout: ``git worktree add /tmp/base <rev>``).  Base benchmarks missing from
either side, or skipped by either, are listed as skipped.
"""
import argparse
import functools
import importlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

KINDS = ["cp", "ht"]
CASES = [  # (module, class, method, parameter grid, samples): the suite's time_ benchmarks
    ("bench_tensors", "CoefficientTensor", "time_coefficient_tensor", [KINDS, [8, 12, 16]], 5),
    ("bench_network", "Forward", "time_forward", [KINDS, [16, 64, 256]], 5),
    ("bench_network", "Forward", "time_forward_log", [KINDS, [16, 64, 256]], 5),
    ("bench_network", "ForwardBackward", "time_forward_backward", [[64, 256]], 5),
    ("bench_rank", "RankMethods", "time_rank",
     [["dense", "structured", "exact"], [8, 16], [2, 3]], 3),
    ("bench_rank", "StructuredSingularValues", "time_structured_singular_values",
     [[8, 16], [2, 3]], 5),
    ("bench_fit", "CPALS", "time_cp_als", [[2, 8, 16]], 3),
    ("bench_fit", "Floor", "time_eckart_young_floor", [[4]], 3),
]


def worker(root: str) -> None:
    """Answer JSON timing requests on stdin for the checkout ``root``."""
    sys.path.insert(0, root)
    os.chdir(root)
    import torch

    torch.set_num_threads(1)
    import convac

    assert convac.__file__.startswith(root), convac.__file__
    caches = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            mod = importlib.import_module(f"benchmarks.{cmd['module']}")
            cls = getattr(mod, cmd["cls"])
            obj = cls()
            args = list(cmd["params"])
            if hasattr(cls, "setup_cache"):
                key = (cmd["module"], cmd["cls"])
                if key not in caches:
                    caches[key] = obj.setup_cache()
                args = [caches[key]] + args
            if hasattr(obj, "setup"):
                obj.setup(*args)
            body = functools.partial(getattr(obj, cmd["method"]), *args)

            body()  # warm-up
            start = time.perf_counter()
            body()
            number = max(1, int(0.02 / max(time.perf_counter() - start, 1e-9)))
            wall, cpu = [], []
            for _ in range(cmd["samples"]):
                c, t = time.process_time(), time.perf_counter()
                for _ in range(number):
                    body()
                wall.append((time.perf_counter() - t) / number)
                cpu.append((time.process_time() - c) / number)
            if hasattr(obj, "teardown"):
                obj.teardown(*args)
            reply = {"ok": True, "wall": wall, "cpu": cpu, "number": number}
        except NotImplementedError as err:
            reply = {"ok": False, "skip": str(err)}
        except Exception as err:  # noqa: BLE001 - reported, the comparison goes on
            reply = {"ok": False, "error": repr(err)[:300]}
        print(json.dumps(reply), flush=True)


def compare(base: str, head: str, rounds: int, only: str | None,
            base_env: dict | None = None, fresh: bool = False) -> list:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    envs = {"base": dict(env, **(base_env or {})), "head": env}

    def start():
        return {side: subprocess.Popen([sys.executable, __file__, "--worker", root],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, env=envs[side])
                for side, root in (("base", base), ("head", head))}

    def stop(workers):
        for proc in workers.values():
            proc.stdin.close()
            proc.wait()

    workers = {} if fresh else start()

    def ask(side, cmd):
        proc = workers[side]
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    rows = []
    for module, cls, method, grid, samples in CASES:
        for params in itertools.product(*grid):
            case = {"module": module, "cls": cls, "method": method, "params": list(params),
                    "samples": samples}
            name = f"{cls}.{method}{tuple(params)}"
            if only and only not in name:
                continue
            if fresh:  # a new pair of processes per benchmark, as asv runs them
                stop(workers)
                workers = start()
            walls, cpus, times, problem = [], [], {"base": [], "head": []}, None
            for r in range(rounds):
                order = ("base", "head") if r % 2 == 0 else ("head", "base")
                got = {side: ask(side, case) for side in order}
                if not all(g["ok"] for g in got.values()):
                    problem = {s: g.get("skip") or g.get("error") for s, g in got.items()
                               if not g["ok"]}
                    break
                for side in ("base", "head"):
                    times[side].append(statistics.median(got[side]["wall"]))
                walls.append(times["head"][-1] / times["base"][-1])
                cpus.append(statistics.median(got["head"]["cpu"])
                            / statistics.median(got["base"]["cpu"]))
            if problem:
                print(f"{name:62s} skipped: {problem}", flush=True)
                continue
            row = {"name": name, "base_s": statistics.median(times["base"]),
                   "head_s": statistics.median(times["head"]),
                   "wall_ratio": statistics.median(walls), "wall_ratios": walls,
                   "cpu_ratio": statistics.median(cpus), "cpu_ratios": cpus}
            rows.append(row)
            print(f"{name:62s} base {row['base_s'] * 1e3:9.3f} ms  head {row['head_s'] * 1e3:9.3f}"
                  f" ms  wall x{row['wall_ratio']:.3f} [{min(walls):.3f}-{max(walls):.3f}]  "
                  f"cpu x{row['cpu_ratio']:.3f} [{min(cpus):.3f}-{max(cpus):.3f}]", flush=True)
    stop(workers)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?")
    parser.add_argument("head", nargs="?")
    parser.add_argument("--worker", metavar="ROOT", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=None, help="only benchmarks whose name contains this")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    parser.add_argument("--fresh", action="store_true",
                        help="new worker processes for every benchmark (as asv): no "
                             "allocator history carried from one benchmark to the next")
    parser.add_argument("--base-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the base worker only (e.g. CONVAC_FUSED=0: "
                             "the base commit's torch forward instead of its C kernel)")
    args = parser.parse_args()
    if args.worker:
        return worker(os.path.abspath(args.worker))
    if not (args.base and args.head):
        parser.error("give BASE and HEAD checkouts")
    base_env = dict(pair.split("=", 1) for pair in args.base_env)
    rows = compare(os.path.abspath(args.base), os.path.abspath(args.head), args.rounds,
                   args.only, base_env, args.fresh)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
