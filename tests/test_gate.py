"""``convac gate``: exit 0 for equal numbers, 1 when a tracked rank changes (a temporary git
repository with a tiny asv project), and the per-metric rules on synthetic results."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest
from asv_tiny import MACHINE, benchmarked, convac_cli, tiny_repo

from convac.bench.gate import Rule, compare, format_rows, rule_for
from convac.bench.results import BenchmarkInfo, CommitResults, Measurement


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
    assert rule_for("track", "time ratio", 1e-4, 1.5, None) == Rule("factor", 1.5)
    assert rule_for("track", "relative floor", 1e-4, None, None) == Rule("change", 1e-4)
    # a typo in a unit is an error, never a silent default tolerance
    with pytest.raises(ValueError, match=r"undeclared metric unit 'rnak'"):
        rule_for("track", "rnak", 1e-4, None, None)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rtol": -1.0}, r"rtol must be >= 0\.0, got -1\.0"),
    ({"rtol": math.nan}, "rtol must be finite, got nan"),
    ({"atol": "x"}, "atol must be a real number, got 'x'"),
    ({"time_factor": 0.5}, r"time_factor must be >= 1\.0, got 0\.5"),
    ({"bench": "("}, r"bench must be a valid regular expression, got '\('"),
])
def test_compare_rejects_bad_tolerances(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(_results({}, "a"), _results({}, "b"), INFO, **kwargs)


# -- stored results on disk: parameters, corrupt files, exit codes ----------------------
# A git repository with two commits and hand-written asv results (no asv run): the gate
# reads them with --no-run, in process.

def _git(root, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


BENCHMARKS = {
    "b.track_rank": {"type": "track", "unit": "rank", "param_names": ["n", "kind"],
                     "params": [["4", "16"], ["'cp'", "'ht'"]]},
    "b.track_fit": {"type": "track", "unit": "relative error", "param_names": ["tol"],
                    "params": [["0.5", "0.25"]]},
    "version": 2,
}


def _result_file(commit, results):
    return {"commit_hash": commit, "env_name": "e", "date": 1, "python": "3.11",
            "params": {}, "requirements": {}, "env_vars": {}, "version": 2,
            "result_columns": ["result", "params"], "results": results}


def _store(root, commit, results, text=None):
    """Write ``commit``'s results file (or raw ``text``) under ``root/results/m``."""
    path = root / "results" / "m" / f"{commit[:8]}-e.json"
    path.write_text(text if text is not None else json.dumps(_result_file(commit, results)))
    return path


def _results_for(n_spelling, tol_spelling, kind_spelling, ranks=(2, 3, 4, 9), fit=(0.1, 0.2)):
    return {"b.track_rank": [list(ranks), [n_spelling, kind_spelling]],
            "b.track_fit": [list(fit), [tol_spelling]]}


@pytest.fixture
def stored(tmp_path):
    """``(root, base, head)``: a git repository with two commits and asv results for both
    (base spelled as asv writes parameters)."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "asv.conf.json").write_text(json.dumps(
        {"version": 1, "project": "p", "repo": ".", "results_dir": "results",
         "html_dir": "html", "environment_type": "virtualenv"}))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    base = _git(root, "rev-parse", "HEAD")
    _git(root, "commit", "-q", "--allow-empty", "-m", "head")
    head = _git(root, "rev-parse", "HEAD")
    (root / "results" / "m").mkdir(parents=True)
    (root / "results" / "m" / "machine.json").write_text('{"machine": "m", "version": 1}')
    (root / "results" / "benchmarks.json").write_text(json.dumps(BENCHMARKS))
    _store(root, base, _results_for(["4", "16"], ["0.5", "0.25"], ["'cp'", "'ht'"]))
    return root, base, head


def _cli_gate(root, base, head, *extra):
    from convac.cli import main

    return main(["gate", base, head, "--no-run", "--machine", "m",
                 "--config", str(root / "asv.conf.json"), *extra])


@pytest.mark.parametrize(("n", "tol", "kind"), [
    (["4", "16"], ["0.5", "0.25"], ["'cp'", "'ht'"]),                 # as asv writes them
    ([4, 16], [0.5, 0.25], ["cp", "ht"]),                              # JSON numbers, bare text
    (["np.int64(4)", "np.int64(16)"], ["np.float64(0.5)", "np.float64(0.25)"],
     ["np.str_('cp')", "np.str_('ht')"]),                              # numpy >= 2 reprs
    (["4.0", "16.0"], ["0.50", "2.5e-1"], ['"cp"', '"ht"']),           # other spellings
])
def test_gate_matches_parameters_however_spelled(stored, capsys, n, tol, kind):
    root, base, head = stored
    _store(root, head, _results_for(n, tol, kind))
    assert _cli_gate(root, base, head, "--all") == 0
    out = capsys.readouterr().out
    assert "6 measurements compared: 6 ok" in out  # 4 ranks + 2 fits, none new or gone


def test_gate_still_sees_a_changed_value_under_another_spelling(stored, capsys):
    root, base, head = stored
    _store(root, head, _results_for([4, 16], [0.5, 0.25], ["cp", "ht"], ranks=(2, 3, 4, 8)))
    assert _cli_gate(root, base, head) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("REGRESSION"))
    assert "b.track_rank" in line and "16, 'ht'" in line and " 9 " in line and " 8 " in line


@pytest.mark.parametrize(("text", "reason"), [
    ('{"commit_hash": "%s", "result_columns": ["result", "params"], '
     '"results": {"b.track_fit": [[Infinity, 0.2], [["0.5", "0.25"]]]}}', "non-finite"),
    ('[1, 2, 3]', "expected a JSON object, got a JSON list"),
    ('{"commit_hash": "%s", "results": {"b.tr', "unreadable asv results file"),
    ('{"commit_hash": "%s", "result_columns": ["result", "params"], '
     '"results": {"b.track_fit": [["x", 0.2], [["0.5", "0.25"]]]}}', "expected a number"),
    ('{"commit_hash": "%s", "result_columns": ["result", "params"], '
     '"results": {"b.track_fit": [[0.1], [["0.5", "0.25"]]]}}', "1 values for 2 parameter"),
])
@pytest.mark.parametrize("which", ["base", "head"])
def test_gate_corrupt_results_exit_2_naming_the_file(stored, capsys, text, reason, which):
    root, base, head = stored
    _store(root, head, _results_for(["4", "16"], ["0.5", "0.25"], ["'cp'", "'ht'"]))
    commit = base if which == "base" else head
    path = _store(root, commit, None, text.replace("%s", commit) if "%s" in text else text)
    assert _cli_gate(root, base, head) == 2
    err = capsys.readouterr().err
    assert str(path) in err and reason in err


@pytest.mark.parametrize(("args", "expected"), [
    (["--bench", "("], "bench must be a valid regular expression, got '('"),
    (["--rtol", "-1"], "rtol must be >= 0.0, got -1.0"),
    (["--time-factor", "0.5"], "time_factor must be >= 1.0"),
])
def test_gate_usage_errors_exit_2(stored, capsys, args, expected):
    root, base, head = stored
    _store(root, head, _results_for(["4", "16"], ["0.5", "0.25"], ["'cp'", "'ht'"]))
    assert _cli_gate(root, base, head, *args) == 2
    assert expected in capsys.readouterr().err


def test_gate_bad_revision_shows_gits_message(stored, capsys):
    root, base, _ = stored
    assert _cli_gate(root, base, "no-such-ref") == 2
    err = capsys.readouterr().err
    assert "no-such-ref" in err and "fatal:" in err  # git's own reason, not an empty one


def test_gate_missing_results_exit_2(stored, capsys):
    root, base, head = stored  # head has no results file
    assert _cli_gate(root, base, head) == 2
    assert f"no asv results for commit {head}" in capsys.readouterr().err


def test_gate_argparse_usage_error_exits_2(capsys):
    from convac.cli import main

    with pytest.raises(SystemExit) as info:
        main(["gate", "--rtol", "abc", "A", "B"])
    assert info.value.code == 2


def test_quick_config_writes_elsewhere(stored, tmp_path):
    from asv.util import load_json

    from convac.bench.gate import quick_config

    root, _, _ = stored
    path = quick_config(str(root / "asv.conf.json"), str(tmp_path / "scratch"))
    conf = load_json(path, js_comments=True)
    assert conf["results_dir"] == str(tmp_path / "scratch" / "results")
    assert conf["repo"] == str(root) and os.path.isabs(conf["benchmark_dir"])
    with pytest.raises(ValueError, match="is the stored results_dir"):
        quick_config(str(root / "asv.conf.json"), str(root / "results"))


@pytest.mark.slow
def test_quick_gate_leaves_stored_results_byte_identical(tmp_path):
    repo = benchmarked()
    folder = os.path.join(repo.results_dir, MACHINE)
    before = {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder)}
    scratch = tmp_path / "scratch"
    proc = _gate(repo, "A", "B", "--quick", "--scratch-dir", str(scratch))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder)}
    assert after == before
    quick = os.listdir(scratch / "results" / MACHINE)
    assert any(f.startswith(repo.commits["B"][:8]) for f in quick)


def test_infinite_confidence_bounds_of_a_quick_run_are_fine(stored, capsys):
    root, base, head = stored  # asv writes -Infinity/Infinity bounds for one sample
    text = json.dumps(_result_file(head, {})).replace(
        '"results": {}',
        '"results": {"b.track_fit": [[0.1, 0.2], [["0.5", "0.25"]], [-Infinity, -Infinity]]}')
    text = text.replace('"result_columns": ["result", "params"]',
                        '"result_columns": ["result", "params", "stats_ci_99_a"]')
    _store(root, head, None, text)
    assert _cli_gate(root, base, head, "--bench", "track_fit") == 0
    assert "2 measurements compared: 2 ok" in capsys.readouterr().out


@pytest.mark.parametrize("unit", ["", "rnak"])
def test_an_undeclared_unit_names_its_benchmark(unit):
    info = {"b.Ranks.track_odd": BenchmarkInfo("b.Ranks.track_odd", "track", unit, (), ())}
    runs = [_results({("b.Ranks.track_odd", ()): 4.0}, c) for c in "ab"]
    with pytest.raises(ValueError, match=r"benchmark b\.Ranks\.track_odd \(track\): "
                                         + ("benchmarks.json gives it no unit" if not unit
                                            else "its unit is 'rnak'")
                                         + ".*declared_unit"):
        compare(*runs, info)


def test_the_summary_says_what_info_means():
    runs = [_results({("b.time_x", ()): v}, c) for c, v in (("a", 1.0), ("b", 2.0))]
    line = format_rows(compare(*runs, INFO)).splitlines()[-1]
    assert line.startswith("1 measurements compared: 1 info (timings and memory, shown but "
                           "not judged: pass --time-factor")
