"""``convac report``: the depth-efficiency page from asv results, or recomputed curves."""

from __future__ import annotations

import os

import pytest
from asv_tiny import MACHINE, benchmarked, convac_cli

from convac.report import build_report
from convac.report.data import rank_curves, theorem_curve
from convac.report.results import load_commit, parse_param

PLOTS = ("rank_vs_n.png", "parameters.png", "fit.png", "timings.png")


def _png(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n"


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
