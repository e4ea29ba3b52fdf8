"""The experiments page: built from stores, with tables, plots and the papers."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("flint")

from convac.experiments import make_experiment  # noqa: E402
from convac.experiments.runner import run_experiment  # noqa: E402
from convac.report.experiments import build_experiments_page  # noqa: E402


@pytest.mark.slow
def test_page_from_stores(tmp_path):
    stores = tmp_path / "stores"
    run_experiment(make_experiment("levine-mincut"), str(stores / "levine-mincut"),
                   sample=30, seed=0, scheduler="inline", progress=False)
    run_experiment(make_experiment("depth-sweep", grid=[[8, 2, 2]]),
                   str(stores / "depth-sweep"), scheduler="inline", progress=False)
    run_experiment(make_experiment("pooling-geometry", seeds=1, n_train=200, n_test=100,
                                   steps=20), str(stores / "pooling-geometry"),
                   scheduler="inline", progress=False)
    path = build_experiments_page(str(stores), str(tmp_path / "page"))
    text = open(path).read()
    for name in ("levine_mincut.png", "depth_sweep.png", "pooling_geometry.png"):
        assert name in text and os.path.getsize(tmp_path / "page" / name) > 1000
    assert "30 of the 1647360 configurations" in text
    assert text.count("<blockquote>Paper:") == 3
