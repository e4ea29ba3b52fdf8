"""``convac gate``: exit 0 for equal numbers, 1 when a tracked rank changes (a temporary git
repository with a tiny asv project), and the per-metric rules on synthetic results."""

from __future__ import annotations

import math

import pytest
from asv_tiny import MACHINE, benchmarked, convac_cli, tiny_repo

from convac.gate import Rule, compare, format_rows, rule_for
from convac.report.results import BenchmarkInfo, CommitResults, Measurement


def _gate(repo, base, head, *extra):
    return convac_cli("gate", repo.commits[base], repo.commits[head], "--config",
                      repo.config, "--machine", MACHINE, *extra, cwd=repo.root)


@pytest.mark.slow
def test_gate_runs_asv_and_passes_on_equal_numbers():
    repo = benchmarked()
    proc = _gate(repo, "A", "B", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout


@pytest.mark.slow
def test_gate_fails_when_a_tracked_rank_changes():
    repo = benchmarked()
    proc = _gate(repo, "B", "C", "--quick")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = proc.stdout[proc.stdout.index("convac gate: base"):]
    line = next(x for x in table.splitlines() if "track_rank" in x)
    assert line.startswith("REGRESSION") and " 3 " in line and " 4 " in line
    assert "exact" in line
    assert "FAIL: 1 regression(s)" in table


@pytest.mark.slow
def test_gate_skip_existing_reuses_results():
    repo = benchmarked()
    proc = _gate(repo, "A", "C", "--quick", "--skip-existing")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "--skip-existing-successful" in proc.stdout


@pytest.mark.slow
def test_gate_no_run_reads_stored_results():
    repo = benchmarked()
    assert _gate(repo, "A", "B", "--no-run").returncode == 0
    same = _gate(repo, "C", "C", "--no-run")
    assert same.returncode == 0, same.stdout
    changed = _gate(repo, "A", "C", "--no-run")
    assert changed.returncode == 1, changed.stdout


def test_gate_reports_unknown_commit():
    repo = tiny_repo()
    proc = convac_cli("gate", "no-such-ref", "HEAD", "--no-run", "--config", repo.config,
                      cwd=repo.root)
    assert proc.returncode == 2
    assert "no-such-ref" in proc.stderr


def _results(values: dict, commit: str) -> CommitResults:
    r = CommitResults(commit, "m")
    for (name, params), v in values.items():
        r.values[(name, params)] = Measurement(name, params, v)
    return r


INFO = {
    "b.track_rank": BenchmarkInfo("b.track_rank", "track", "rank", (), ()),
    "b.track_fit": BenchmarkInfo("b.track_fit", "track", "relative error", (), ()),
    "b.track_floor": BenchmarkInfo("b.track_floor", "track", "relative floor", (), ()),
    "b.time_x": BenchmarkInfo("b.time_x", "time", "seconds", (), ()),
    "b.peakmem_x": BenchmarkInfo("b.peakmem_x", "peakmemory", "bytes", (), ()),
}


@pytest.mark.parametrize(("name", "base", "head", "kwargs", "status"), [
    ("b.track_rank", 16.0, 16.0, {}, "ok"),
    ("b.track_rank", 16.0, 15.0, {}, "regression"),
    ("b.track_rank", 16.0, 17.0, {}, "regression"),
    ("b.track_rank", 16.0, None, {}, "regression"),
    ("b.track_rank", None, 16.0, {}, "new"),
    ("b.track_fit", 0.1, 0.1 * (1 + 1e-6), {"rtol": 1e-4}, "ok"),
    ("b.track_fit", 0.1, 0.2, {"rtol": 1e-4}, "regression"),
    ("b.track_fit", 0.2, 0.1, {"rtol": 1e-4}, "improved"),
    ("b.track_floor", 0.2, 0.1, {"rtol": 1e-4}, "regression"),
    ("b.track_floor", 0.2, 0.2 * (1 - 1e-6), {"rtol": 1e-4}, "ok"),
    ("b.time_x", 1.0, 100.0, {}, "info"),
    ("b.time_x", 1.0, 3.0, {"time_factor": 2.0}, "regression"),
    ("b.time_x", 1.0, 1.5, {"time_factor": 2.0}, "ok"),
    ("b.time_x", 1.0, 0.4, {"time_factor": 2.0}, "improved"),
    ("b.peakmem_x", 1e8, 1.01e8, {}, "info"),
    ("b.peakmem_x", 1e8, 3e8, {"mem_factor": 2.0}, "regression"),
    ("b.track_rank", math.nan, math.nan, {}, "skipped"),
])
def test_rules(name, base, head, kwargs, status):
    b = _results({(name, ()): base} if base is not None else {}, "a")
    h = _results({(name, ()): head} if head is not None else {}, "b")
    if base is None:  # "new": present only on head
        b = _results({}, "a")
    rows = compare(b, h, INFO, **kwargs)
    assert [r.status for r in rows] == [status]
    table = format_rows(rows, show_all=True)
    shown = status.upper() if status == "regression" else status
    assert name in table and shown in table


def test_rule_for_units():
    assert rule_for("track", "rank", 1e-4, None, None) == Rule("exact")
    assert rule_for("track", "parameters", 1e-4, None, None) == Rule("exact")
    assert rule_for("track", "relative error", 1e-3, None, None) == Rule("rise", 1e-3)
    assert rule_for("time", "seconds", 1e-4, 2.0, None) == Rule("factor", 2.0)
    assert rule_for("time", "seconds", 1e-4, None, None).kind == "info"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rtol": -1.0}, "rtol must be >= 0, got -1"),
    ({"time_factor": 0.5}, "time_factor must be >= 1, got 0.5"),
])
def test_compare_rejects_bad_tolerances(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(_results({}, "a"), _results({}, "b"), INFO, **kwargs)
