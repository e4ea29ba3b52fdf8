"""The asv suite: ``asv check`` passes, the quick suite has no failed benchmark, and a
benchmark that raises leaves every other result recorded.

The quick suite runs here with ``--python=same`` (the working tree as installed in this
environment, no virtualenv build) in the quick profile (``CONVAC_BENCH_QUICK=1``,
``benchmarks/_common.py``).  ``.ci/run`` runs the same suite the full asv way (a virtualenv
built from the committed HEAD) a few minutes earlier and names its results folder in
``CONVAC_QUICK_RESULTS``: where the working tree is HEAD's (nothing tracked modified), the
test checks those results of HEAD instead of running the suite a second time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from asv_tiny import MACHINE, asv_env, benchmarked

from convac.bench.results import list_commits, list_machines, load_benchmarks, load_commit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "asv.conf.json")


def _asv(*args, config=CONFIG, timeout=600):
    return subprocess.run([sys.executable, "-m", "asv", *args, "--config", config],
                          cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, env=asv_env())


def _local_config(tmp_path) -> str:
    """asv.conf.json with absolute paths and results in ``tmp_path``."""
    from asv.util import load_json

    conf = load_json(CONFIG, js_comments=True)
    conf.update(repo=ROOT, benchmark_dir=os.path.join(ROOT, conf["benchmark_dir"]),
                results_dir=str(tmp_path / "results"), html_dir=str(tmp_path / "html"),
                env_dir=str(tmp_path / "env"))
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    return str(path)


def test_asv_check_passes(tmp_path):
    proc = _asv("check", "--python=same", config=_local_config(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def _git(*args) -> str:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _earlier_quick_run(head: str):
    """``(results_dir, machine)`` of the quick suite ``.ci/run`` ran on ``head``
    (``CONVAC_QUICK_RESULTS``), or None: not set, the working tree differs from HEAD, or
    no machine there has results of HEAD."""
    results_dir = os.environ.get("CONVAC_QUICK_RESULTS")
    if not results_dir or _git("status", "--porcelain", "--untracked-files=no"):
        return None
    for machine in list_machines(results_dir):
        if head in {h for _, h in list_commits(results_dir, machine)}:
            return results_dir, machine
    return None


@pytest.mark.slow
def test_quick_suite_has_no_failed_benchmark(tmp_path):
    head = _git("rev-parse", "HEAD")
    earlier = _earlier_quick_run(head)
    if earlier is None:
        config = _local_config(tmp_path)
        machine = _asv("machine", "--yes", "--machine", "convac-pytest", config=config)
        assert machine.returncode == 0, machine.stderr
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CONVAC_BENCH_QUICK", "1")
            proc = _asv("run", "--python=same", "--quick", "--set-commit-hash", head,
                        "--machine", "convac-pytest", config=config)
        results_dir, machine, log = str(tmp_path / "results"), "convac-pytest", proc.stdout
    else:  # asv exited 0 there (.ci/run stops otherwise)
        (results_dir, machine), proc, log = earlier, None, ""
    run = load_commit(results_dir, machine, head)
    failed = sorted({m.name for m in run.values.values() if m.failed})
    assert not failed, f"failed benchmarks: {failed}\n{log[-4000:]}"
    ok = [m for m in run.values.values() if m.ok]
    benchmarks = load_benchmarks(results_dir)
    assert len(ok) >= len(benchmarks), "fewer successful measurements than benchmarks"
    assert proc is None or proc.returncode == 0, proc.stdout[-4000:] + proc.stderr


@pytest.mark.slow
def test_a_raising_benchmark_leaves_the_others_recorded():
    repo = benchmarked()
    commit = repo.commits["A"]
    assert repo.run_outputs["A"].returncode != 0  # asv reports the failure ...
    run = load_commit(repo.results_dir, MACHINE, commit)
    values = {name: m for (name, _), m in run.values.items()}
    assert values["bench_tiny.track_broken"].failed  # ... records it as failed ...
    # ... and records every other benchmark
    assert values["bench_tiny.Ranks.track_rank"].value == 3
    assert values["bench_tiny.track_fit_error"].value == 0.25
    assert values["bench_tiny.time_sum"].ok and values["bench_tiny.time_sum"].value > 0
    assert set(values) == set(load_benchmarks(repo.results_dir))
    assert commit in {h for _, h in list_commits(repo.results_dir, MACHINE)}
