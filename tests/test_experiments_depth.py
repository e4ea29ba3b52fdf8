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
