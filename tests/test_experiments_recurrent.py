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
    page = _recurrent(records, str(tmp_path))
    assert "recurrent_ranks.png" in page and (tmp_path / "recurrent_ranks.png").exists()
    published = {"summary": rc.summarize(records)}
    assert _recurrent(None, str(tmp_path), published) == page
