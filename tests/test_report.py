"""``convac report``: the depth-efficiency page from asv results, or recomputed curves."""

from __future__ import annotations

import json
import os
import warnings

import pytest
from asv_tiny import MACHINE, benchmarked, convac_cli

from convac.bench.report import build_report, failed_benchmarks
from convac.bench.report.data import rank_curves, theorem_curve
from convac.bench.results import canonical_param, load_benchmarks, load_commit, parse_param

PLOTS = ("rank_vs_n.png", "parameters.png", "fit.png", "timings.png")


def _png(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_without_results_recomputes(tmp_path):
    page = build_report(str(tmp_path / "none"), str(tmp_path / "out"), asv_site=None)
    text = open(page, encoding="utf-8").read()
    assert "recomputed" in text
    for name in PLOTS:
        assert f'src="{name}"' in text and _png(str(tmp_path / "out" / name))


def test_recomputed_rank_curve_meets_the_theorem():
    (curve,) = rank_curves(None)
    theorem = theorem_curve(2, 2, max(curve.x))
    expected = dict(zip(theorem.x, theorem.y, strict=True))
    assert curve.source == "recomputed"
    assert curve.y == [expected[n] for n in curve.x]


@pytest.mark.slow
def test_report_lists_results_and_flags_failures(tmp_path):
    repo = benchmarked()
    out = tmp_path / "report"
    proc = convac_cli("report", "--results-dir", repo.results_dir, "--out", str(out),
                      "--commit", repo.commits["A"], "--fail-on-failed", cwd=repo.root)
    # the tiny suite has a benchmark that always raises
    assert proc.returncode == 1
    assert "bench_tiny.track_broken" in proc.stderr
    text = (out / "index.html").read_text(encoding="utf-8")
    run = load_commit(repo.results_dir, MACHINE, repo.commits["A"])
    names = {name for name, _ in run.values}
    assert names and all(name in text for name in names)
    assert repo.commits["A"] in text
    assert all(_png(os.path.join(out, p)) for p in PLOTS)


@pytest.mark.parametrize(("text", "value"), [("16", 16), ("'odd-even'", "odd-even"),
                                             ("(1, 4, 16)", (1, 4, 16)), ("cp", "cp")])
def test_parse_param(text, value):
    assert parse_param(text) == value


def _results_dir(tmp_path, files: dict) -> str:
    """``results/m/<name>`` files with the given texts (dicts are dumped as JSON)."""
    folder = tmp_path / "results" / "m"
    folder.mkdir(parents=True)
    (folder / "machine.json").write_text('{"machine": "m", "version": 1}')
    for name, body in files.items():
        (folder / name).write_text(body if isinstance(body, str) else json.dumps(body))
    return str(tmp_path / "results")


def _run_file(commit: str, date: int, value) -> dict:
    return {"commit_hash": commit, "date": date, "result_columns": ["result", "params"],
            "results": {"b.track_x": [[value], [["1"]]]}, "version": 2}


NEW, OLD = "b" * 40, "a" * 40


@pytest.mark.parametrize("corrupt", ["[1, 2]", '{"commit_hash": "aaaa', '{"commit_hash": 7}'])
def test_report_skips_a_corrupt_older_file_with_a_warning(tmp_path, corrupt):
    results = _results_dir(tmp_path, {f"{OLD[:8]}-e.json": corrupt,
                                      f"{NEW[:8]}-e.json": _run_file(NEW, 2, None)})
    with pytest.warns(UserWarning, match=f"{OLD[:8]}-e.json"):
        assert failed_benchmarks(results) == ["b.track_x"]  # the newest commit was read


@pytest.mark.parametrize("corrupt", ['{"commit_hash": "%s", "result_columns": ["result", '
                                     '"params"], "results": {"b.track_x": [[-Infinity], '
                                     '[["1"]]]}}', "[]"])
def test_report_of_a_corrupt_commit_exits_2_naming_the_file(tmp_path, capsys, corrupt):
    from convac.cli import main

    name = f"{NEW[:8]}-e.json"
    results = _results_dir(tmp_path, {f"{OLD[:8]}-e.json": _run_file(OLD, 1, 1.0),
                                      name: corrupt.replace("%s", NEW)})
    with warnings.catch_warnings():  # listing the machine's commits may skip it first
        warnings.simplefilter("ignore", UserWarning)
        code = main(["report", "--results-dir", results, "--out", str(tmp_path / "out"),
                     "--commit", NEW])
    assert code == 2
    err = capsys.readouterr().err
    assert os.path.join(results, "m", name) in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_corrupt_benchmarks_json_is_named(tmp_path):
    results = _results_dir(tmp_path, {})
    with open(os.path.join(results, "benchmarks.json"), "w") as fh:
        fh.write('{"b.x": {"type": "track", "unit": "u", "params": 3}}')
    with pytest.raises(ValueError, match="benchmarks.json: benchmark 'b.x' is malformed"):
        load_benchmarks(results)


@pytest.mark.parametrize(("text", "canonical"), [
    ("16", "16"), (16, "16"), ("np.int64(16)", "16"), ("16.0", "16"), ("0.5", "0.5"),
    ("np.float64(0.5)", "0.5"), ("'cp'", "'cp'"), ("cp", "'cp'"), ("np.str_('cp')", "'cp'"),
    ("True", "True"), ("(1, 4)", "(1, 4)"),
])
def test_canonical_param(text, canonical):
    assert canonical_param(text) == canonical


def test_series_tolerate_mixed_parameter_types():
    from convac.bench.report.data import _series
    from convac.bench.results import CommitResults, Measurement

    run = CommitResults("c" * 40, "m")
    for n, value in (("4", 4.0), ("'x'", 1.0), ("8", 16.0)):
        key = (n, "2")
        run.values[("b.track_x", key)] = Measurement("b.track_x", key, value)
    ((key, (xs, ys)),) = _series(run, "b.track_x", 0).items()
    assert key == (2,) and sorted(map(repr, xs)) == ["'x'", "4", "8"]
    assert dict(zip(xs, ys, strict=True)) == {4: 4.0, "x": 1.0, 8: 16.0}
