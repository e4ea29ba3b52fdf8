"""Faults a user's disk or hands inject into experiment stores, each with its clear outcome:
an unreadable part file (truncated, byte-corrupted, zero-length) is named and skipped by
``show`` (exit 1 with the count) and quarantined by ``run --resume`` (its configurations
computed again); a part written with other options is refused by both; a read-only store
and a cluster that fails to start are clear errors."""

from __future__ import annotations

import errno
import os

import pytest

pytest.importorskip("pyarrow")

from convac.cli import main  # noqa: E402
from convac.experiments import make_experiment  # noqa: E402
from convac.experiments.runner import ClusterError, run_experiment  # noqa: E402
from convac.experiments.store import (  # noqa: E402
    QUARANTINE,
    ForeignPartError,
    ResultStore,
    UnreadablePartError,
)
from convac.validate import ConvACError  # noqa: E402


def _damage(path: str, how: str) -> None:
    data = open(path, "rb").read()
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "zero-length":
        data = b""
    else:  # bytes flipped in the middle (data pages) and in the footer's length
        mid = len(data) // 2
        data = data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 16]) + data[mid + 16:]
        data = data[:-8] + bytes(b ^ 0x5A for b in data[-8:-4]) + data[-4:]
    with open(path, "wb") as fh:
        fh.write(data)


def _store_with_a_damaged_part(tmp_path, how: str):
    path = str(tmp_path / "s")
    run_experiment(make_experiment("selftest", n=6, batch_size=3), path, scheduler="inline",
                   progress=False)
    store = ResultStore(path)
    bad = store.parts()[0]
    _damage(bad, how)
    return path, store, bad


HOW = ["truncated", "byte-corrupted", "zero-length"]


@pytest.mark.parametrize("how", HOW)
def test_reading_an_unreadable_part_names_it(tmp_path, how):
    _, store, bad = _store_with_a_damaged_part(tmp_path, how)
    with pytest.raises(UnreadablePartError, match=f"unreadable part file {bad}"):
        store.records()
    records = store.records(skip_unreadable=True)
    assert len(records) == 3 and [p for p, _ in store.skipped] == [bad]


@pytest.mark.parametrize("how", HOW)
def test_show_skips_an_unreadable_part_with_a_warning_and_exits_1(tmp_path, capsys, how):
    path, _, bad = _store_with_a_damaged_part(tmp_path, how)
    assert main(["experiment", "show", "selftest", "--store", path]) == 1
    out, err = capsys.readouterr()
    assert "3 ok" in out  # the readable part is shown
    assert f"warning: skipped unreadable part file {bad}" in err
    assert "1 unreadable part file(s) skipped" in err and "--resume" in err


@pytest.mark.parametrize("how", HOW)
def test_resume_quarantines_an_unreadable_part_and_recomputes_it(tmp_path, capsys, how):
    path, store, bad = _store_with_a_damaged_part(tmp_path, how)
    args = ["experiment", "run", "selftest", "--set", "n=6", "--set", "batch_size=3",
            "--scheduler", "inline", "--store", path, "--quiet", "--resume"]
    with pytest.warns(UserWarning, match=f"unreadable part file {bad}"):
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 computed (0 errors), 3 already stored, 1 unreadable part file(s) moved" in out
    moved = os.path.join(path, QUARANTINE, os.path.basename(bad))
    assert os.path.exists(moved) and not os.path.exists(bad)
    records = store.records()
    assert sorted(r["config"]["i"] for r in records) == list(range(6))
    assert main(["experiment", "show", "selftest", "--store", path]) == 0


def _foreign_part(tmp_path):
    """A store of n=6 and a part copied in from a run with other options (n=7)."""
    path, other = str(tmp_path / "s"), str(tmp_path / "other")
    run_experiment(make_experiment("selftest", n=6, batch_size=3), path, scheduler="inline",
                   progress=False)
    run_experiment(make_experiment("selftest", n=7, batch_size=7), other, scheduler="inline",
                   progress=False)
    (src,) = ResultStore(other).parts()
    copied = os.path.join(path, os.path.basename(src).replace("part-", "part-9"))
    with open(src, "rb") as fh, open(copied, "wb") as out:
        out.write(fh.read())
    return path, copied


def test_a_part_of_another_run_is_refused_by_show_and_resume(tmp_path, capsys):
    path, copied = _foreign_part(tmp_path)
    with pytest.raises(ForeignPartError, match=f"part file {copied} was written by another "
                                               "run"):
        ResultStore(path).records()
    assert main(["experiment", "show", "selftest", "--store", path]) == 2
    assert f"part file {copied} was written by another run" in capsys.readouterr().err
    args = ["experiment", "run", "selftest", "--set", "n=6", "--set", "batch_size=3",
            "--scheduler", "inline", "--store", path, "--quiet", "--resume"]
    assert main(args) == 2
    assert "move it out of" in capsys.readouterr().err


def test_resume_of_a_read_only_store_is_a_clear_error(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "s")
    run_experiment(make_experiment("selftest", n=3, batch_size=3), path, scheduler="inline",
                   progress=False)

    def read_only(*args, **kwargs):  # root ignores chmod: a read-only file system instead
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    args = ["experiment", "run", "selftest", "--set", "n=6", "--set", "batch_size=3",
            "--scheduler", "inline", "--store", path, "--quiet", "--resume"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"store {path} is not writable (Read-only file system)" in err
    assert len(ResultStore(path)) == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_resume_of_a_chmod_read_only_store_is_a_clear_error(tmp_path):
    path = str(tmp_path / "s")
    run_experiment(make_experiment("selftest", n=3, batch_size=3), path, scheduler="inline",
                   progress=False)
    os.chmod(path, 0o555)
    try:
        with pytest.raises(ConvACError, match="is not writable"):
            run_experiment(make_experiment("selftest", n=6, batch_size=3), path, resume=True,
                           scheduler="inline", progress=False)
    finally:
        os.chmod(path, 0o755)


def test_a_local_cluster_that_fails_to_start_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import dask.distributed

    def nanny_fails(*args, **kwargs):
        raise RuntimeError("Nanny failed to start.")

    # the name the runner imports (patching distributed's alone would leak into
    # dask.distributed where that is imported later, for the rest of the session)
    monkeypatch.setattr(dask.distributed, "LocalCluster", nanny_fails)
    with pytest.raises(ClusterError, match=r"LocalCluster of 2 worker process\(es\) failed "
                                           r"to start \(RuntimeError: Nanny failed to start"
                                           r"\.\); try fewer --workers"):
        run_experiment(make_experiment("selftest", n=3), str(tmp_path / "s"), workers=2,
                       progress=False)
