"""The checks that need a machine with a GPU, in one run: the CUDA tests, the GPU speed
figures, and the forward's speed on that machine's CPU (a second CPU model beside the
development machines').

Each step runs in its own process with its own time limit, in order of what it settles,
and is recorded whatever its outcome (exit status, wall and CPU time, the log's tail);
a step that fails or runs out of time does not stop the next one:

1. ``host``: ``lscpu``'s model name and vector extensions, core count, GPU, torch, load;
2. ``cpu-eager``: ``scripts/measure_forward.py --paths eager`` (HT, batch 1024, N = 64,
   M = r = 16, float32, one thread; 3 processes x 3 calls) on the host's CPU;
3. ``gpu-tests``: every CUDA test (``tests/test_cuda.py`` with its slow tier, the CUDA
   cases of ``tests/test_modlu.py`` and ``tests/test_network.py``), four workers;
4. ``gpu-bench``: the GPU benchmarks, one process: the eager forward against a bmm
   chain, compiled against eager, exact elimination against cuSOLVER's LU
   (``--benchmark-json``: every figure with its goal);
5. ``cpu-compiled``: ``measure_forward.py --paths compiled`` on the host's CPU, with what
   is left of the budget (its first compile takes about a minute).

Writes ``device-checks.json`` (every step: command, exit status, wall and CPU seconds, load,
figures) and one log per step into ``--out``: six files.  Without a GPU the GPU steps
report their tests as skipped.

On the device machine, from the repository root (``.whl``: the wheels ``make
device-wheels`` downloads here for the device's Python, which has torch but neither
python-flint nor tensorly)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site:$PWD python3 scripts/device_checks.py --out "$OUT" --budget 450
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CUDA_TESTS = ["tests/test_cuda.py", "tests/test_modlu.py", "tests/test_network.py"]
GPU_BENCHMARKS = [
    "tests/benchmarks/test_bench_network.py::test_cuda_forward_vs_bmm_chain",
    "tests/benchmarks/test_bench_network.py::test_cuda_compiled_vs_eager",
    "tests/benchmarks/test_bench_rank.py::test_cuda_elimination_vs_lu",
]
# each step's own limit in seconds (the budget's remainder when smaller)
LIMITS = {"host": 30, "cpu-eager": 120, "gpu-tests": 240, "gpu-bench": 240,
          "cpu-compiled": 240}


def host_description() -> dict:
    """The machine: CPU model and vector extensions, cores, GPU, torch, load."""
    sys.path.insert(0, ROOT)
    import torch

    from benchmarks._common import cpu_description

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_description(), "cores": os.cpu_count(), "gpu": gpu,
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": sys.version.split()[0], "load": os.getloadavg()}


def run_step(name: str, command: list[str], out: str, limit: float, env: dict) -> dict:
    """Run ``command`` with a wall-clock limit, its output into ``out/name.log``."""
    log = os.path.join(out, f"{name}.log")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    load = os.getloadavg()[0]
    with open(log, "w") as f:
        f.write("$ " + " ".join(command) + "\n")
        f.flush()
        try:
            status = subprocess.run(command, cwd=ROOT, env=env, stdout=f,
                                    stderr=subprocess.STDOUT, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            status = f"stopped after its limit of {limit:.0f} s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log) as f:
        tail = f.read()[-1500:]
    return {"command": command, "exit": status, "wall_s": time.perf_counter() - start,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "load_before": load, "load_after": os.getloadavg()[0], "tail": tail}


def benchmark_figures(path: str) -> list[dict]:
    """Each benchmark's name and its ``extra_info`` (the ratios and their goals)."""
    with open(path) as f:
        data = json.load(f)
    return [{"name": b["name"], **b["extra_info"]} for b in data["benchmarks"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the results")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds for all the steps together (default 450)")
    parser.add_argument("--steps", nargs="+", default=list(LIMITS), choices=list(LIMITS))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    deadline = time.perf_counter() + args.budget
    env = dict(os.environ, PYTHONUNBUFFERED="1", CONVAC_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), ROOT) if p)
    py = sys.executable
    # the steps' figure files stay out of --out (a GPU machine sends back 8 files at most):
    # device-checks.json holds what they say
    scratch = tempfile.mkdtemp(prefix="device-checks-")
    bench_json = os.path.join(scratch, "gpu-bench.json")
    cpu_json = {p: os.path.join(scratch, f"cpu-{p}.json") for p in ("eager", "compiled")}
    measure = [py, "scripts/measure_forward.py", "--processes", "3", "--calls", "3"]
    commands = {
        "host": [py, __file__, "--host"],
        "cpu-eager": measure + ["--paths", "eager", "--json", cpu_json["eager"]],
        "gpu-tests": [py, "-m", "pytest", "-q", "-m", "not paper", "-k", "cuda", "-n", "4",
                      "-p", "no:cacheprovider", *CUDA_TESTS],
        "gpu-bench": [py, "-m", "pytest", "-q", "-s", "-m", "not paper",
                      "-p", "no:cacheprovider", "--benchmark-json", bench_json,
                      *GPU_BENCHMARKS],
        "cpu-compiled": measure + ["--paths", "compiled", "--json", cpu_json["compiled"]],
    }
    figure_files = {"cpu-eager": cpu_json["eager"], "cpu-compiled": cpu_json["compiled"],
                    "gpu-bench": bench_json}
    report: dict = {"budget_s": args.budget, "steps": {}}
    summary = []
    for name in args.steps:
        left = deadline - time.perf_counter()
        if left < 10:
            step = {"exit": "not run: the budget was spent"}
            summary.append(f"{name}: not run")
        else:
            step = _run_and_read(name, commands[name], args.out, min(LIMITS[name], left),
                                 env, figure_files.get(name))
            summary.append(f"{name}: exit {step['exit']} in {step['wall_s']:.0f} s")
            print(f"{name}: exit {step['exit']}, {step['wall_s']:.1f} s wall, "
                  f"{step['cpu_s']:.1f} s CPU", flush=True)
        report["steps"][name] = step
        with open(os.path.join(args.out, "device-checks.json"), "w") as f:
            json.dump(report, f, indent=1)  # after every step: a cut-off run keeps the rest
    print("device checks: " + "; ".join(summary))
    return 0 if all(s.get("exit") == 0 for s in report["steps"].values()) else 1


def _run_and_read(name, command, out, limit, env, figures: str | None) -> dict:
    """One step, with the figures its output file ``figures`` holds (if any)."""
    step = run_step(name, command, out, limit, env)
    try:
        if figures and os.path.exists(figures):
            if name == "gpu-bench":
                step["figures"] = benchmark_figures(figures)
            else:
                with open(figures) as f:
                    step["figures"] = json.load(f)  # every process's figures
        if name == "host" and step["exit"] == 0:
            step["machine"] = json.loads(step["tail"].strip().splitlines()[-1])
    except (OSError, ValueError, KeyError) as err:  # recorded, the other steps go on
        step["figures"] = f"unreadable: {err!r}"
    return step


if __name__ == "__main__":
    if sys.argv[1:] == ["--host"]:
        print(json.dumps(host_description()))
        sys.exit(0)
    sys.exit(main())
