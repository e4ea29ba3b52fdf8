"""The report's rank curve: N up to 24, points marked exact or numerical,
missing points explained."""

from types import SimpleNamespace

from convac.bench.report.data import DEFICIT_BENCH, RANK_BENCH, rank_curves, theorem_curve
from convac.rank import theory


class FakeResults:
    """What ``rank_curves`` reads of asv results: measurements by benchmark name."""

    def __init__(self, table):
        self.table = table

    def by_name(self, name):
        return [SimpleNamespace(params=tuple(str(p) for p in params), value=v, ok=True)
                for params, v in self.table.get(name, [])]


def suite_like():
    ranks = [((n, m, r), theory.ht_odd_even_rank(n, m, r)) for n in (2, 4, 8, 16)
             for m in (2, 3) for r in (2, 3) if theory.ht_odd_even_rank(n, m, r) <= 1024]
    deficits = [((n, m), 0) for n in (16, 20, 24) for m in (2, 3, 16)]
    return FakeResults({RANK_BENCH: ranks, DEFICIT_BENCH: deficits})


def test_curve_reaches_24_with_exact_points():
    curves = {c.label: c for c in rank_curves(suite_like())}
    for m in (2, 3):
        c = curves[f"measured, M={m}, r=2"]
        assert c.x == [2, 4, 8, 16, 20, 24] and not c.notes
        assert c.y == [theory.ht_odd_even_rank(n, m, 2) for n in c.x]
        # dense (numerical) only where M^N <= 4096, exact beyond
        assert c.exact == [m**n > 4096 for n in c.x]
        theorem = theorem_curve(m, 2, 24)
        assert dict(zip(theorem.x, theorem.y, strict=True))[24] == 4096


def test_missing_points_are_explained():
    curves = {c.label: c for c in rank_curves(suite_like())}
    notes = curves["measured, M=3, r=3"].notes
    assert any("N=16, M=3, r=3: skipped by the suite (rank 6561 > 1024" in n for n in notes)
    assert any(n.startswith("N=24, M=3, r=3: not in the suite") for n in notes)
    partial = FakeResults({DEFICIT_BENCH: [((24, 2), 0)]})
    (only,) = rank_curves(partial)
    assert only.x == [24] and only.exact == [True]
    assert "N=16, M=2, r=2: no successful result in this commit" in only.notes


def test_a_deficit_shows_in_the_curve():
    results = FakeResults({DEFICIT_BENCH: [((24, 2), 3)]})
    (curve,) = rank_curves(results)
    assert curve.y == [4096 - 3]
