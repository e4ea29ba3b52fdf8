"""COLT 2016 Thm 3 depth sweep: certified ranks against the paper's bound."""

from __future__ import annotations

import pytest

pytest.importorskip("flint")

from convac.experiments import depth_sweep as ds  # noqa: E402


def test_block_partition():
    assert ds.block_partition(8, 1) == [0, 2, 4, 6]
    assert ds.block_partition(8, 2) == [0, 1, 4, 5]
    assert ds.block_partition(16, 3) == [0, 1, 2, 3, 8, 9, 10, 11]


def test_quick_rows_meet_the_theorem():
    rows = ds.quick_rows()
    assert len(rows) >= 6
    for r in rows:
        # Thm 3 (a lower bound, almost everywhere): certified rank >= min(r0, M)^(N/2^d)
        assert r["rank"] >= r["paper"] == min(r["r"], r["m"]) ** (r["n"] // 2 ** r["depth"])
        # any truncated network of depth d: rank <= its top width (min-cut)
        assert r["trunc_bound_width1"] == 1 and r["trunc_bound_at_rank"] <= r["rank"]
        if r["r"] == r["m"]:
            assert r["rank"] == r["paper"]  # r_l = M: the bound is attained
    # exponential in N / 2^d: halving the block count squares-roots the width
    by = {(r["n"], r["r"], r["depth"]): r["rank"] for r in rows}
    assert by[(16, 2, 1)] == by[(16, 2, 2)] ** 2 == by[(16, 2, 3)] ** 4


def test_a_configuration_over_the_budget_is_refused_recorded_and_shown(tmp_path, capsys):
    """N=32, M=r=2, d=2: the exact core is predicted at 64 GiB and refused before any
    allocation (was a MemoryError, exit 0, and a row missing from ``show`` unsaid); the
    other configurations are computed."""
    from convac.cli import main

    store = str(tmp_path / "ds")
    assert main(["experiment", "run", "depth-sweep", "--scheduler", "inline", "--quiet",
                 "--set", "grid=[[8, 2, 2], [32, 2, 2]]", "--store", store]) == 0
    assert "5 computed (1 errors)" in capsys.readouterr().out
    assert main(["experiment", "show", "depth-sweep", "--store", store]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:4] for line in out.splitlines()[1:5]] == [
        ["8", "2", "2", "1"], ["8", "2", "2", "2"], ["32", "2", "2", "3"], ["32", "2", "2", "4"]]
    refused = [line for line in out.splitlines() if "N32|M2|r2|d2|s0" in line]
    assert len(refused) == 1 and refused[0].split()[0] == "refused"
    assert "refused: needs 64 GiB" in refused[0] and "raise --max-gib" in refused[0]


def test_max_gib_sets_the_budget_of_each_configuration(tmp_path, capsys):
    from convac.cli import main

    store = str(tmp_path / "ds")
    assert main(["experiment", "run", "depth-sweep", "--scheduler", "inline", "--quiet",
                 "--set", "grid=[[8, 2, 2]]", "--max-gib", "1e-6", "--store", store]) == 0
    assert main(["experiment", "show", "depth-sweep", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "2 configuration(s) without a result" in out and "refused: needs" in out
    assert main(["experiment", "run", "selftest", "--scheduler", "inline", "--max-gib", "1",
                 "--store", str(tmp_path / "s")]) == 2
    assert "experiment 'selftest' has no memory budget" in capsys.readouterr().err


def test_resume_with_a_larger_budget_computes_what_the_smaller_one_refused(tmp_path, capsys):
    """Refusals recorded under ``--max-gib 1e-6`` stay refused when resumed with the same
    budget, and are computed (superseding the refusal) when resumed with one that fits."""
    from convac.cli import main
    from convac.experiments.store import ResultStore

    store = str(tmp_path / "ds")
    run = ["experiment", "run", "depth-sweep", "--scheduler", "inline", "--quiet", "--set",
           "grid=[[8, 2, 2]]", "--store", store]
    assert main([*run, "--max-gib", "1e-6"]) == 0
    assert "2 computed (2 errors)" in capsys.readouterr().out
    refused = ResultStore(store).records()
    assert [r["status"] for r in refused] == ["refused", "refused"]
    assert all(r["result"]["needed_bytes"] > 2**30 * 1e-6 for r in refused)
    assert main([*run, "--max-gib", "1e-6", "--resume"]) == 0  # the same budget: skipped
    assert "0 computed (0 errors), 2 already stored" in capsys.readouterr().out
    assert main([*run, "--resume"]) == 0  # the default budget (2 GiB) fits both
    assert "2 computed (0 errors), 0 already stored" in capsys.readouterr().out
    records = ResultStore(store).records()
    assert sorted((r["config"]["depth"], r["status"]) for r in records) == [(1, "ok"), (2, "ok")]
    assert all(r["result"]["rank"] == r["result"]["paper"] for r in records)  # r = M
    assert main(["experiment", "show", "depth-sweep", "--store", store]) == 0
    assert "without a result" not in capsys.readouterr().out
