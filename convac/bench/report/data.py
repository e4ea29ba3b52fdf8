"""The curves of the depth-efficiency report, read from asv results only.

Nothing here computes a rank, a tensor or a fit: a curve the results lack is empty, and
the page says "not measured" with the command that measures it (:data:`MEASURE`).  The
theorem curves are closed forms (:mod:`convac.theory`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...theory import ht_odd_even_rank
from ..metrics import series
from ..results import CommitResults, parse_param

__all__ = [
    "RANK_BENCH",
    "DEFICIT_BENCH",
    "HT_PARAMS_BENCH",
    "CP_PARAMS_BENCH",
    "FIT_BENCH",
    "FLOOR_BENCH",
    "MEASURE",
    "Curve",
    "rank_curves",
    "param_curves",
    "fit_curves",
    "timings",
    "certification",
]

# the benchmarks behind each curve, declared once in the metrics contract
RANK_BENCH = series("ht_odd_even_rank")
DEFICIT_BENCH = series("certified_odd_even_deficit")
RANK_GRID = (2, 4, 8, 16, 20, 24)
"""N of the rank curve: HTRanks (N <= 16, every rank exact beyond M^N = 4096) and
CertifiedDeficits (N = 16, 20, 24 with r = 2, exact over two primes)."""
HT_PARAMS_BENCH = series("ht_params")
CP_PARAMS_BENCH = series("cp_params_needed")
FIT_BENCH = series("fit_error")
FLOOR_BENCH = series("fit_floor")
MEASURE = "make bench"
"""The command that measures every curve of the report (the asv suite, then the report)."""


@dataclass
class Curve:
    """``y`` against ``x`` for one series ``label``."""

    label: str
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    source: str = "asv results"
    exact: list = field(default_factory=list)
    """Per point (rank curves): True when certified (exact over GF(p)), else numerical."""
    notes: list = field(default_factory=list)
    """Why points of the grid are missing, one sentence each."""
    missing: list = field(default_factory=list)
    """``(N, why)`` of every point of the grid the results lack (a table on the page)."""


def _series(results: CommitResults | None, name: str, x_index: int) -> dict:
    """``{other params: ([x], [y])}`` of benchmark ``name``, successful values only."""
    out: dict = {}
    if results is None:
        return out
    for m in results.by_name(name):
        if not m.ok:
            continue
        params = tuple(parse_param(p) for p in m.params)
        key = params[:x_index] + params[x_index + 1:]
        xs, ys = out.setdefault(key, ([], []))
        xs.append(params[x_index])
        ys.append(m.value)
    for xs, ys in out.values():
        order = sorted(range(len(xs)), key=lambda i: _mixed_key(xs[i]))
        xs[:], ys[:] = [xs[i] for i in order], [ys[i] for i in order]
    return out


def _mixed_key(value) -> tuple:
    """Sort key for parameter values of mixed types (a hand-edited ``N = "abc"`` beside
    integers): numbers first, by value, then everything else by its repr."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, repr(value))


def _sorted_mixed(values) -> list:
    return sorted(values, key=_mixed_key)


def _rank_is_exact(n: int, m: int) -> bool:
    """The suite's HTRanks takes the dense float rank for ``M^N <=``
    ``convac.rank.methods.AUTO_DENSE_MAX_ENTRIES`` (4096), the exact rank beyond
    (``benchmarks/bench_rank.py``).  The report imports nothing that computes, so the
    value is written here; ``tests/test_report.py`` checks that it is the method's."""
    return m**n > 4096


def _missing_reason(n: int, m: int, r: int) -> str:
    """Why point ``N=n`` of the ``(M, r)`` rank curve is not in the results."""
    rank = ht_odd_even_rank(n, m, r)
    if n < 16 and m not in (2, 3):
        return "not in the suite (HTRanks covers M=2, 3)"
    if n > 16 and r != 2:
        return "not in the suite (the certified grid N=16, 20, 24 has r=2)"
    if rank > 1024 and not (n in (16, 20, 24) and r == 2):
        return f"skipped by the suite (rank {rank} > 1024, the side HTRanks computes)"
    return "no successful result in this commit"


def rank_curves(results: CommitResults | None) -> list:
    """Measured odd-even rank of random HTs against N, one curve per ``(M, r)``: HTRanks
    for N <= 16 and the certified deficits (rank = theorem - deficit) at N = 16, 20, 24,
    each point marked exact or numerical, each missing point of :data:`RANK_GRID`
    explained in ``missing`` (and ``notes``); empty where the results have none."""
    points: dict = {}  # (m, r) -> {n: rank}
    for (m, r), (xs, ys) in _series(results, RANK_BENCH, 0).items():
        points.setdefault((m, r), {}).update(zip(xs, ys, strict=True))
    for (m,), (xs, ys) in _series(results, DEFICIT_BENCH, 0).items():
        for n, deficit in zip(xs, ys, strict=True):
            points.setdefault((m, 2), {})[n] = ht_odd_even_rank(n, m, 2) - int(deficit)
    curves = []
    for (m, r), pts in sorted(points.items(), key=lambda kv: repr(kv[0])):
        xs = _sorted_mixed(pts)
        exact = [isinstance(n, int) and (_rank_is_exact(n, m) or n > 16) for n in xs]
        missing = [(n, _missing_reason(n, m, r)) for n in RANK_GRID if n not in pts]
        curves.append(Curve(f"measured, M={m}, r={r}", xs, [pts[n] for n in xs],
                            exact=exact, missing=missing,
                            notes=[f"N={n}, M={m}, r={r}: {why}" for n, why in missing]))
    return curves


def theorem_curve(m: int, r: int, n_max: int) -> Curve:
    """``min(r, M)^(N/2)`` for even N = 2, 4, .., ``n_max`` (COLT 2016, Thm 1; schedules
    whose first window is 2)."""
    xs = list(range(2, max(n_max, 2) + 1, 2))
    return Curve(f"min(r, M)^(N/2), M={m}, r={r}", xs,
                 [ht_odd_even_rank(n, m, r) for n in xs], "theorem")


def param_curves(results: CommitResults | None) -> list:
    """HT parameters and the CP parameters their rank bound demands, against N, one pair of
    curves per ``(M, r)``; empty where the results have none."""
    ht = _series(results, HT_PARAMS_BENCH, 0)
    cp = _series(results, CP_PARAMS_BENCH, 0)
    curves = []
    for key in sorted(set(ht) & set(cp), key=repr):
        m, r = key
        curves.append((Curve(f"HT, M={m}, r={r}", *ht[key]),
                       Curve(f"CP needed, M={m}, r={r}", *cp[key])))
    return curves


def fit_curves(results: CommitResults | None) -> tuple:
    """``(fit error, floor)`` against CP width K, as the suite measured them (empty curves
    where the results have none)."""
    fit = Curve("CP-ALS relative error", *_series(results, FIT_BENCH, 0).get((), ([], [])))
    floor = Curve("Eckart-Young floor", *_series(results, FLOOR_BENCH, 0).get((), ([], [])))
    return fit, floor


def timings(results: CommitResults | None, benchmarks: dict) -> list:
    """``(label, seconds)`` of every successful ``time_*`` measurement, slowest first."""
    out = []
    if results is None:
        return out
    for (name, params), m in results.values.items():
        info = benchmarks.get(name)
        kind = info.type if info else name.rsplit(".", 1)[-1].split("_", 1)[0]
        if kind != "time" or not m.ok:
            continue
        short = name.split(".", 1)[-1]
        label = short + (f"({', '.join(params)})" if params else "")
        out.append((label, m.value))
    return sorted(out, key=lambda t: -t[1])


def certification(name: str, unit: str, params: tuple = ()) -> str:
    """Whether a tracked number of benchmark ``name`` (asv ``unit``, parameters as stored)
    is certified, in words for the benchmark table."""
    if unit in ("seconds", "bytes", "time ratio"):
        return "timing (not a certificate)"
    if unit == "parameters":
        return "exact (closed form)"
    if unit == "relative floor":
        return "certified lower bound (Eckart-Young)"
    if unit == "relative error":
        return "upper bound (an optimizer's fit)"
    if unit in ("rank", "rank deficit"):
        if "certified" in name.lower() or "exact" in name.lower():
            return "certified (exact over GF(p))"
        if name == RANK_BENCH and len(params) >= 2:
            n, m = parse_param(params[0]), parse_param(params[1])
            if isinstance(n, int) and isinstance(m, int):
                return ("certified (exact over GF(p))" if _rank_is_exact(n, m)
                        else "numerical (float64 SVD with tolerance)")
        return "see the benchmark's docstring"
    return "exact count" if unit in ("count", "width") else "not stated"
