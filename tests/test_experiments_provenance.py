"""Which code computed each stored record: every row carries the package version, the git
commit and whether the checkout was modified; parts written before the store kept it read
as "not recorded"; a published summary counts the records per code and the report says
so."""

from __future__ import annotations

import pytest

pytest.importorskip("pyarrow")

import pyarrow.parquet as pq  # noqa: E402

from convac.experiments import make_experiment  # noqa: E402
from convac.experiments.publish import (  # noqa: E402
    code_counts,
    provenance_text,
    read_published,
    write_published,
)
from convac.experiments.runner import code_provenance, evaluate, run_experiment  # noqa: E402
from convac.experiments.store import (  # noqa: E402
    SCHEMA_FIELDS,
    ResultStore,
    UnreadablePartError,
    code_label,
)


def _run(path, n=6):
    run_experiment(make_experiment("selftest", n=n, batch_size=3), path, scheduler="inline",
                   progress=False)
    return ResultStore(path)


def _strip_code(part: str) -> None:
    """Rewrite ``part`` as the store wrote it before the ``code`` column (its metadata
    kept)."""
    table = pq.read_table(part)
    old = table.select(list(SCHEMA_FIELDS[:-1]))
    pq.write_table(old.replace_schema_metadata(table.schema.metadata), part)


def test_every_record_names_the_code_that_computed_it(tmp_path):
    here = code_provenance()
    assert set(here) == {"convac", "commit", "modified"} and here["convac"]
    store = _run(str(tmp_path / "s"))
    records = store.records()
    assert len(records) == 6 and all(r["code"] == here for r in records)
    assert all(r["code"] == here
               for r in evaluate(make_experiment("selftest", n=4, batch_size=2)))
    label = code_label(here)
    assert label.startswith(f"convac {here['convac']} ")
    assert (here["commit"] or "no git checkout")[:10] in label
    assert label.endswith(" +modified") == bool(here["modified"])


def test_parts_from_before_the_code_column_read_as_not_recorded(tmp_path):
    path = str(tmp_path / "s")
    store = _run(path)
    first, second = store.parts()
    _strip_code(first)
    assert pq.read_table(first).schema.names == list(SCHEMA_FIELDS[:-1])
    table = store.read()
    assert table.schema.names == list(SCHEMA_FIELDS) and table.num_rows == 6
    records = store.records()
    old = {r["key"] for r in pq.read_table(first).to_pylist()}
    assert len(old) == 3
    assert all((r["code"] is None) == (r["key"] in old) for r in records)
    assert code_counts(records) == {"not recorded": 3, code_label(code_provenance()): 3}
    # a resumed run counts the old rows as done: nothing is computed again
    run_experiment(make_experiment("selftest", n=6, batch_size=3), path, resume=True,
                   scheduler="inline", progress=False)
    assert store.parts() == [first, second] and len(store) == 6


def test_a_part_with_other_columns_is_still_unreadable(tmp_path):
    store = _run(str(tmp_path / "s"))
    part = store.parts()[0]
    table = pq.read_table(part)
    pq.write_table(table.select(list(SCHEMA_FIELDS[:-2])), part)
    with pytest.raises(UnreadablePartError, match="columns"):
        store.records()


def test_the_published_summary_counts_records_per_code(tmp_path):
    path = str(tmp_path / "levine-mincut")
    run_experiment(make_experiment("levine-mincut", batch_size=4), path, sample=6, seed=1,
                   scheduler="inline", progress=False)
    store = ResultStore(path)
    _strip_code(store.parts()[0])
    records = store.records()
    n_old = sum(r["code"] is None for r in records)
    assert 0 < n_old < 6
    write_published("levine-mincut", records, store, str(tmp_path / "pub" / "levine-mincut.json"))
    doc = read_published("levine-mincut", str(tmp_path / "pub"))
    assert doc["code"] == {"not recorded": n_old, code_label(code_provenance()): 6 - n_old}
    text = provenance_text(doc)
    assert f"the committed summary of 6 results of {doc['grid_size']} configurations" in text
    assert f"not recorded ({n_old})" in text
    assert f"{code_label(code_provenance())} ({6 - n_old})" in text
    del doc["code"]  # a summary published before the counts: still described
    assert provenance_text(doc).endswith("cores")


def test_rows_from_before_the_column_count_the_code_their_result_names():
    """An experiment that stored its code inside each result (before the store's column)
    is counted by that code; a row with neither is "not recorded"."""
    here = code_provenance()
    records = [{"code": here, "result": {}}, {"code": None, "result": {"code": here}},
               {"code": None, "result": {"x": 1}}, {"code": None, "result": None}]
    assert code_counts(records) == {code_label(here): 2, "not recorded": 2}
