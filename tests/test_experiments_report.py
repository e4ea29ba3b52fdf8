"""The experiments page: built from stores, with tables, plots and the papers."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("flint")

from convac.bench.report.experiments import build_experiments_page  # noqa: E402
from convac.experiments import make_experiment  # noqa: E402
from convac.experiments.runner import run_experiment  # noqa: E402


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
    # and the rectifier distributions, and the recurrent reproductions' two papers (from
    # their committed summary)
    assert text.count("<blockquote>Paper:") == 6
    assert "pooling_geometry_full.png" in text and "(e) Distributions over seeds" in text


def test_levine_section_from_the_committed_summary_matches_the_store(tmp_path):
    """A full run is published as a small JSON summary (the store is ~75 MB and ignored
    by git): the report's table from that summary is the table from the store."""
    from convac.bench.report.experiments import _levine
    from convac.experiments.publish import read_published, write_published
    from convac.experiments.store import ResultStore

    path = str(tmp_path / "levine-mincut")
    run_experiment(make_experiment("levine-mincut"), path, sample=12, seed=3,
                   scheduler="inline", progress=False)
    store = ResultStore(path)
    records = store.records()
    write_published("levine-mincut", records, store, str(tmp_path / "pub" / "levine-mincut.json"))
    doc = read_published("levine-mincut", str(tmp_path / "pub"))
    assert doc["records"] == 12 and doc["grid_size"] == 1647360
    assert doc["options"]["weight_range"] == 2**20
    from_store = _levine(records, str(tmp_path))
    from_summary = _levine(None, str(tmp_path), doc)
    table = slice(from_store.index("<table>"), from_store.index("</table>"))
    assert from_store[table] == from_summary[from_summary.index("<table>"):
                                             from_summary.index("</table>")]
    assert "12 of the 1647360 configurations" in from_summary
    assert read_published("levine-mincut", str(tmp_path / "nowhere")) is None


def test_show_writes_the_published_summary(tmp_path, capsys):
    from convac.cli import main

    path = str(tmp_path / "store")
    run_experiment(make_experiment("levine-mincut"), path, sample=4, seed=0,
                   scheduler="inline", progress=False)
    out = tmp_path / "levine-mincut.json"
    assert main(["experiment", "show", "levine-mincut", "--store", path,
                 "--json", str(out)]) == 0
    import json

    doc = json.loads(out.read_text())
    assert doc["summary"]["total"]["n"] == 4 == doc["records"]
    assert str(out) in capsys.readouterr().out
