"""``convac report``: the depth-efficiency page from asv results only (it computes nothing;
without results it exits 2 saying where it looked and what to run)."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import warnings

import pytest
from asv_tiny import MACHINE, benchmarked, convac_cli

from convac.bench.report import build_report, failed_benchmarks
from convac.bench.report.data import fit_curves, param_curves, rank_curves
from convac.bench.report.experiments import SECTIONS
from convac.bench.results import canonical_param, load_benchmarks, load_commit, parse_param

PLOTS = ("rank_vs_n.png", "parameters.png", "fit.png", "timings.png")


def _png(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_report_without_results_exits_2_naming_where_it_looked(tmp_path, capsys):
    from convac.cli import main

    results = tmp_path / "none"
    code = main(["report", "--results-dir", str(results), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(results) in err and "make bench" in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_curves_without_results_are_empty():
    assert rank_curves(None) == [] and param_curves(None) == []
    fit, floor = fit_curves(None)
    assert not fit.x and not floor.x


def test_missing_curves_say_not_measured(tmp_path):
    """A commit whose results hold none of the report's series: every plot says "not
    measured" (no recomputation), and the page still lists the benchmarks it has."""
    results = _results_dir(tmp_path, {f"{NEW[:8]}-e.json": _run_file(NEW, 2, 3.0)})
    page = build_report(results, str(tmp_path / "out"), asv_site=None,
                        stores=str(tmp_path / "no-stores"),
                        published=str(tmp_path / "no-published"))
    text = open(page, encoding="utf-8").read()
    assert "b.track_x" in text and "recomputed" not in text
    experiments = (tmp_path / "out" / "experiments" / "index.html").read_text()
    assert experiments.count("Not measured") == len(SECTIONS)  # every experiment section
    assert "convac experiment run depth-sweep --store" in experiments


ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORT = ROOT / "convac" / "bench" / "report"
COMPUTING = {"network", "tensors", "matricize", "rank", "rank_methods", "exact", "modp",
             "cuts", "bounds", "fit", "floor", "solvers", "certificate", "train", "sweep",
             "rectifier_fit", "embed", "structured", "methods",
             "coefficient", "grid", "matricization", "cp", "shallow", "runner", "torch",
             "tensorly", "rectifier"}
"""Modules that compute a rank, a tensor or a fit (flat and subpackage names); the
theorems' closed forms (``theory``, wherever it lives) are formulas, not computations."""


def _imported(path: pathlib.Path):
    """``(line, absolute dotted name)`` of every import in a module of the report package,
    functions included (relative imports resolved)."""
    package = list(REPORT.relative_to(ROOT).parts)  # ["convac", "bench", "report"]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            base = ".".join(base + ([node.module] if node.module else []))
            yield from ((node.lineno, f"{base}.{a.name}") for a in node.names)


def test_report_modules_import_nothing_that_computes():
    inside = ".".join(REPORT.relative_to(ROOT).parts) + "."
    bad = [f"{path.name}:{line}: {name}" for path in sorted(REPORT.glob("*.py"))
           for line, name in _imported(path)
           if not name.startswith(inside) and "theory" not in name.split(".")
           and COMPUTING & set(name.split("."))]
    assert not bad, "the report reads results only; it imports " + "; ".join(bad)


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


def test_a_report_of_mixed_parameter_types_is_written(tmp_path):
    """A hand-edited results file with N = "abc" beside integers: the page is written, the
    numeric points are drawn and the odd one is listed in the table."""
    from convac.bench.metrics import series

    rank, fit = series("ht_odd_even_rank"), series("fit_error")
    run = {"commit_hash": NEW, "date": 2, "result_columns": ["result", "params"], "version": 2,
           "results": {rank: [[4.0, 2.0, 16.0], [["4", "'abc'", "8"], ["2"], ["2"]]],
                       fit: [[0.5, 0.1, 0.2], [["1", "'abc'", "2"]]]}}
    results = _results_dir(tmp_path, {f"{NEW[:8]}-e.json": run})
    info = {rank: {"type": "track", "unit": "rank", "param_names": ["N", "M", "r"]},
            fit: {"type": "track", "unit": "relative error", "param_names": ["K"]}}
    with open(os.path.join(results, "benchmarks.json"), "w") as fh:
        json.dump(info, fh)
    page = build_report(results, str(tmp_path / "out"), asv_site=None,
                        stores=str(tmp_path / "none"), published=str(tmp_path / "none"))
    text = open(page, encoding="utf-8").read()
    assert "N=abc, M=2, r=2" in text and "K=abc" in text and "<th>parameters (name=value)" in text
    (curve,) = rank_curves(load_commit(results, "m", NEW))
    assert curve.x == [4, 8, "abc"]


def test_rank_plot_has_one_theorem_line_per_formula_and_a_legend_outside(tmp_path,
                                                                         monkeypatch):
    """(M, r) = (2, 2), (2, 3), (3, 2) share min(r, M)^(N/2) = 2^(N/2): one line lists all
    three; (3, 3) has its own.  Exact and numerical points have different markers and
    fills, and the legend lies outside the axes."""
    from convac.bench.report import plots
    from convac.bench.report.data import Curve

    seen = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: seen.setdefault("fig", fig))
    curves = [Curve(f"measured, M={m}, r={r}", [4, 16], [4, 256], exact=[False, True])
              for m, r in ((2, 2), (2, 3), (3, 2), (3, 3))]
    plots.plot_ranks(curves, str(tmp_path / "r.png"))
    ax = seen["fig"].axes[0]
    theorems = [line.get_label() for line in ax.get_lines()
                if line.get_label().startswith("theorem")]
    assert len(theorems) == 2
    assert "M=2,r=2; M=2,r=3; M=3,r=2" in theorems[0] and "M=3,r=3" in theorems[1]
    points = [line for line in ax.get_lines() if not line.get_label().startswith("theorem")]
    exact = [p for p in points if p.get_label().endswith("exact")]
    numerical = [p for p in points if p.get_label().endswith("numerical")]
    assert {p.get_marker() for p in exact} != {p.get_marker() for p in numerical}
    assert all(p.get_markerfacecolor() == "none" for p in numerical)
    xs_at_16 = sorted(float(p.get_xdata()[-1]) for p in exact)
    assert len(set(xs_at_16)) == 4  # the series are spread apart
    legend = ax.get_legend()
    seen["fig"].canvas.draw()
    box, frame = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= frame.x1  # right of the axes, over no data
    plots.plt.close(seen["fig"])


def test_the_report_reads_ranks_as_exact_beyond_the_auto_dense_threshold():
    from convac.bench.report.data import _rank_is_exact
    from convac.rank.methods import AUTO_DENSE_MAX_ENTRIES

    for n in (2, 4, 8, 11, 12, 13, 16):
        for m in (2, 3, 4):
            assert _rank_is_exact(n, m) == (m**n > AUTO_DENSE_MAX_ENTRIES), (n, m)
