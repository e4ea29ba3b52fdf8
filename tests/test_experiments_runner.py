"""The experiment runner and its store: resume after a kill, a killed worker, a failing
configuration, nothing lost and nothing computed twice."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("pyarrow")

from convac.experiments import EXPERIMENTS, make_experiment  # noqa: E402
from convac.experiments.runner import (  # noqa: E402
    MALLOC_TRIM_CONFIG,
    ClusterError,
    Experiment,
    ExperimentBugError,
    _start_client,
    run_experiment,
    select_indices,
)
from convac.experiments.store import ResultStore  # noqa: E402
from convac.validate import InvalidValueError  # noqa: E402


class Interrupted(Exception):
    pass


def _keys(store: ResultStore) -> list:
    return store.read(["key"]).column("key").to_pylist()


def test_store_roundtrip_ignores_partial_writes(tmp_path):
    store = ResultStore(str(tmp_path / "s"))
    assert len(store) == 0 and store.keys() == set()
    exp = make_experiment("selftest", n=6, batch_size=3)
    run_experiment(exp, store, scheduler="inline", progress=False)
    # a writer killed between write and rename leaves a .tmp: never read
    (tmp_path / "s" / "part-99.parquet.abc.tmp").write_bytes(b"garbage")
    recs = store.records()
    assert sorted(r["config"]["i"] for r in recs) == list(range(6))
    assert all(r["result"]["square"] == r["config"]["i"] ** 2 for r in recs)
    assert len(store.parts()) == 2  # one part per batch of 3


def test_resume_after_interrupt_loses_nothing_and_repeats_nothing(tmp_path):
    exp = make_experiment("selftest", n=23, batch_size=4)
    store = ResultStore(str(tmp_path / "s"))

    def stop(n_batches):
        if n_batches == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_experiment(exp, store, scheduler="inline", progress=False, on_batch=stop)
    assert len(store) == 8
    with pytest.raises(InvalidValueError, match="resume"):
        run_experiment(exp, store, scheduler="inline", progress=False)
    summary = run_experiment(exp, store, resume=True, scheduler="inline", progress=False)
    assert (summary.n_skipped, summary.n_computed) == (8, 15)
    keys = _keys(store)
    assert len(keys) == len(set(keys)) == 23
    again = run_experiment(exp, store, resume=True, scheduler="inline", progress=False)
    assert again.n_computed == 0 and len(store) == 23


def test_failing_configuration_is_recorded_and_the_others_finish(tmp_path):
    exp = make_experiment("selftest", n=10, fail=[3, 7], batch_size=4)
    store = ResultStore(str(tmp_path / "s"))
    summary = run_experiment(exp, store, scheduler="inline", progress=False)
    assert summary.n_errors == 2
    recs = {r["config"]["i"]: r for r in store.records()}
    assert len(recs) == 10
    for i, rec in recs.items():
        if i in (3, 7):
            assert rec["status"] == "error" and "fails on purpose" in rec["error"]
        else:
            assert rec["status"] == "ok" and rec["result"]["square"] == i * i


def test_store_refuses_another_experiment(tmp_path):
    store = ResultStore(str(tmp_path / "s"))
    run_experiment(make_experiment("selftest", n=2), store, scheduler="inline", progress=False)
    other = make_experiment("levine-mincut")
    with pytest.raises(InvalidValueError, match="holds experiment 'selftest'"):
        run_experiment(other, store, resume=True, sample=1, scheduler="inline", progress=False)
    changed = make_experiment("selftest", n=2, sleep=0.01)
    with pytest.raises(InvalidValueError, match="holds options"):
        run_experiment(changed, store, resume=True, scheduler="inline", progress=False)


def test_a_result_above_its_bound_fails_loudly_after_being_stored(tmp_path):
    lev = make_experiment("levine-mincut")

    exp = Experiment("levine-mincut", 3, lev.config, lev.key, _above, lev.check, batch_size=1)
    store = ResultStore(str(tmp_path / "s"))
    with pytest.raises(ExperimentBugError, match="exceeds the min-cut bound"):
        run_experiment(exp, store, scheduler="inline", progress=False)
    assert len(store) == 1


def _above(config):
    return {"rank": 9, "bound": 8, "verdict": "above"}


def test_sample_is_seeded_and_distinct():
    a, b = select_indices(1000, 50, 3), select_indices(1000, 50, 3)
    assert (a == b).all() and len(set(a.tolist())) == 50
    with pytest.raises(InvalidValueError, match="sample"):
        select_indices(10, 11, 0)
    assert "levine-mincut" in EXPERIMENTS


@pytest.mark.slow
def test_killed_worker_loses_nothing(tmp_path):
    from dask.distributed import LocalCluster

    marker = str(tmp_path / "died")
    exp = make_experiment("selftest", n=24, batch_size=2, sleep=0.02, die_at=9,
                          die_marker=marker, fail=[15])
    store = ResultStore(str(tmp_path / "s"))
    # an existing cluster, reached by its address as with --scheduler tcp://host:port
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        summary = run_experiment(exp, store, scheduler=cluster.scheduler_address,
                                 progress=False)
    assert os.path.exists(marker)  # a worker did die mid-task
    keys = _keys(store)
    assert len(keys) == len(set(keys)) == 24
    assert summary.n_errors == 1  # the failing configuration, recorded; the rest finished
    for r in store.records():
        if r["config"]["i"] == 15:
            assert r["status"] == "error" and "fails on purpose" in r["error"]
        else:
            assert r["status"] == "ok" and r["result"]["square"] == r["config"]["i"] ** 2


@pytest.mark.slow
def test_killed_client_resumes_from_the_cli(tmp_path):
    path = str(tmp_path / "s")
    convac = os.path.join(os.path.dirname(sys.executable), "convac")
    cmd = [convac, "experiment", "run", "selftest", "--set", "n=80", "--set", "sleep=0.05",
           "--set", "batch_size=4", "--workers", "1", "--store", path, "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    store = ResultStore(path)
    deadline = time.monotonic() + 120
    try:
        while len(store.parts()) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no results within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its LocalCluster
        proc.wait()
    n_before = len(store)
    assert 0 < n_before < 80
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{n_before} already stored" in done.stdout
    keys = _keys(store)
    dupes = [k for k, c in collections.Counter(keys).items() if c > 1]
    assert not dupes and len(keys) == 80


@pytest.mark.slow
def test_cli_parser_imports_neither_dask_nor_pyarrow():
    code = ("import sys; from convac.cli import build_parser; "
            "build_parser(load='experiment').parse_args(['experiment', 'list']); "
            "print(sorted(m for m in ('dask', 'distributed', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cli_list_and_inline_run(tmp_path, capsys):
    from convac.cli import main

    assert main(["experiment", "list"]) == 0
    assert "levine-mincut" in capsys.readouterr().out
    store = str(tmp_path / "s")
    args = ["experiment", "run", "selftest", "--set", "n=5", "--set", "fail=[2]",
            "--scheduler", "inline", "--store", store, "--quiet"]
    assert main(args) == 0
    assert "5 computed (1 errors)" in capsys.readouterr().out
    assert main(["experiment", "show", "selftest", "--store", store]) == 0
    assert "4 ok, 1 errors" in capsys.readouterr().out


def test_local_cluster_workers_start_without_dask_malloc_trim(monkeypatch):
    """dask's nanny would start each worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    fixes glibc's mmap threshold and maps every array above 128 KiB anew; the
    LocalCluster that a run starts is created with that setting unset, and dask's own
    configuration is restored afterwards."""
    pytest.importorskip("distributed")
    import dask
    import dask.distributed

    seen = {}

    class Recorded(RuntimeError):
        pass

    def local_cluster(*args, **kwargs):
        seen.update(dask.config.get("distributed.nanny.pre-spawn-environ"))
        raise Recorded("recorded")

    before = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    assert before.get("MALLOC_TRIM_THRESHOLD_") is not None  # what dask sets by default
    # the name the runner imports (patching distributed's alone would leak into
    # dask.distributed where that is imported later, for the rest of the session)
    monkeypatch.setattr(dask.distributed, "LocalCluster", local_cluster)
    with pytest.raises(ClusterError, match="Recorded"):
        _start_client(None, 1)
    assert seen["MALLOC_TRIM_THRESHOLD_"] is None  # not set by the nanny
    assert dask.config.get(MALLOC_TRIM_CONFIG) == before["MALLOC_TRIM_THRESHOLD_"]


@pytest.mark.slow
@pytest.mark.parametrize("client_value", [None, "262144"])
def test_local_cluster_worker_environment(monkeypatch, client_value):
    """A real LocalCluster worker: no ``MALLOC_TRIM_THRESHOLD_`` from dask, the client's
    own value where it sets one."""
    pytest.importorskip("distributed")
    if client_value is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", client_value)
    client, cluster = _start_client(None, 1)
    try:
        values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    finally:
        client.close()
        cluster.close()
    assert list(values.values()) == [client_value]
