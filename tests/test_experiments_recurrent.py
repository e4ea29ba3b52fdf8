"""The recurrent reproductions (Khrulkov et al., Levine et al.): certified ranks beside
the theorems, the bug check, and the report section from a store or its summary."""

from __future__ import annotations

import pytest

from convac.experiments import recurrent as rc
from convac.rank import theory


@pytest.fixture(scope="module")
def quick():
    return rc.quick_summary()


def test_quick_size_reproduces_both_papers(quick):
    assert quick["errors"] == 0 and rc.deficit(quick) == 0
    assert rc.table_excess(quick) == []  # N = 4: Table 2's entries are integer powers
    nets = {(x["net"], x["m"], x["r"]): x for x in quick["formats"]}
    for (net, m, r), x in nets.items():
        q = min(m, r)
        if net == "tt":  # Khrulkov Thm 1: CP-rank >= min(n, r)^(d/2), reached for n <= r
            assert x["odd_even"] >= x["paper_cp_lower"] == theory.tt_odd_even_rank(4, m, r)
            assert x["odd_even"] == x["paper_cp_lower"] or m > r
            assert x["tt_rank"] == q  # its own format: TT-rank r (capped by M at the ends)
        if net == "cp":  # a CP net of width r is a TT and an HT of rank r
            assert x["tt_rank"] <= r and x["ht_rank"] <= r and x["odd_even"] <= r
    for x in quick["rac"]:
        assert x["agrees"]
        if x["depth"] == 1:
            assert x["rank"] == min(x["r"], x["m"] ** (x["t"] // 2))
    deep = {(x["t"], x["m"], x["r"]): x["rank"] for x in quick["rac"] if x["depth"] == 2}
    shallow = {(x["t"], x["m"], x["r"]): x["rank"] for x in quick["rac"] if x["depth"] == 1}
    assert all(deep[k] > shallow[k] for k in deep if k[0] >= 4)  # depth helps from T = 4


def test_a_rank_above_its_bound_is_a_bug():
    config = {"grid": "rac", "depth": 1, "t": 4, "m": 2, "r": 2, "seed": 0}
    result = rc.compute(config)
    assert rc.check(config, result) is None
    assert "above the bound" in rc.check(config, {**result, "rank": result["upper"] + 1})
    fmt = {"grid": "formats", "net": "ht", "n": 4, "m": 2, "r": 2, "seed": 0}
    res = rc.compute(fmt)
    assert rc.check(fmt, res) is None
    assert "min-cut" in rc.check(fmt, {**res, "odd_even": res["odd_even_cut"] + 1})


def test_format_summary_and_report_section(tmp_path):
    pytest.importorskip("matplotlib")
    from convac.bench.report.experiments import _recurrent
    from convac.experiments.runner import evaluate

    exp = rc.experiment(formats=[(4, 2, 2)], racs=[(4, 2, 2)], depths=(1, 2))
    records = evaluate(exp)
    text = rc.format_summary(records)
    assert "deficit against the papers' bounds: 0" in text
    assert "Table 2 entries exceeded by a certified rank: 0." in text
    page = _recurrent(records, str(tmp_path))
    assert "recurrent_ranks.png" in page and (tmp_path / "recurrent_ranks.png").exists()
    published = {"summary": rc.summarize(records)}
    assert _recurrent(None, str(tmp_path), published) == page


def test_table_2_excess_is_reported_not_hidden():
    """An HT network over 8 patches: its certified TT-rank r^2 exceeds Table 2's printed
    r^(log2(8)/2); the summary lists it with the reason, the theorems' deficit stays 0."""
    from convac.experiments.runner import evaluate

    records = evaluate(rc.experiment(formats=[(8, 3, 2)], racs=[], depths=()))
    s = rc.summarize(records)
    ht = next(x for x in s["formats"] if x["net"] == "ht")
    assert ht["tt_rank"] == 4 and not ht["table_holds"] and ht["table_hypothesis"]
    assert rc.table_excess(s) == [("ht", 8, 3, 2, 4, ht["table_tt"], 2, None)]
    assert rc.deficit(s) == 0
    text = rc.describe_excess(rc.table_excess(s))
    assert "HT N=8 M=3 r=2: TT-rank 4 > 2.828" in text and rc.TABLE_2_NOTE in text
