"""The curves of the depth-efficiency report, from asv results or recomputed.

Each curve records where it came from (``"asv results"`` or ``"recomputed"``) so the page
can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...fit.cp import fit_cp
from ...fit.floor import eckart_young_floor
from ...nets.geometry import PoolingSchedule, ht_windows
from ...nets.network import HTNet
from ...nets.params import schedule_parameter_count
from ...rank.exact import exact_rank
from ...rank.theory import ht_odd_even_rank
from ...tensors.coefficient import coefficient_tensor
from ..metrics import series
from ..results import CommitResults, parse_param

__all__ = [
    "RANK_BENCH",
    "DEFICIT_BENCH",
    "HT_PARAMS_BENCH",
    "CP_PARAMS_BENCH",
    "FIT_BENCH",
    "FLOOR_BENCH",
    "Curve",
    "rank_curves",
    "param_curves",
    "fit_curves",
    "timings",
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
    """Why points of the grid are missing, one sentence each (shown on the page)."""


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
        try:
            order = sorted(range(len(xs)), key=xs.__getitem__)
        except TypeError:  # mixed parameter types (hand-edited results): keep them listed
            order = sorted(range(len(xs)), key=lambda i: repr(xs[i]))
        xs[:], ys[:] = [xs[i] for i in order], [ys[i] for i in order]
    return out


def _rank_is_exact(n: int, m: int) -> bool:
    """The suite's HTRanks takes the dense float rank for ``M^N <= 4096``, the exact rank
    beyond (``benchmarks/bench_rank.py``, ``DENSE_MAX_ENTRIES``)."""
    return m**n > 2**12


def _missing_note(n: int, m: int, r: int) -> str:

    rank = ht_odd_even_rank(n, m, r)
    if n < 16 and m not in (2, 3):
        return f"N={n}, M={m}, r={r}: not in the suite (HTRanks covers M=2, 3)"
    if n > 16 and r != 2:
        return (f"N={n}, M={m}, r={r}: not in the suite (the certified grid N=16, 20, 24 "
                "has r=2)")
    if rank > 1024 and not (n in (16, 20, 24) and r == 2):
        return (f"N={n}, M={m}, r={r}: skipped by the suite (rank {rank} > 1024, the "
                "side HTRanks computes)")
    return f"N={n}, M={m}, r={r}: no successful result in this commit"


def rank_curves(results: CommitResults | None) -> list:
    """Measured odd-even rank of random HTs against N, one curve per ``(M, r)``: HTRanks
    for N <= 16 and the certified deficits (rank = theorem - deficit) at N = 16, 20, 24,
    each point marked exact or numerical, each missing point of :data:`RANK_GRID`
    explained in ``notes``; recomputed (exact, N up to 16, M = r = 2) where the results
    have none."""

    points: dict = {}  # (m, r) -> {n: rank}
    for (m, r), (xs, ys) in _series(results, RANK_BENCH, 0).items():
        points.setdefault((m, r), {}).update(zip(xs, ys, strict=True))
    for (m,), (xs, ys) in _series(results, DEFICIT_BENCH, 0).items():
        for n, deficit in zip(xs, ys, strict=True):
            points.setdefault((m, 2), {})[n] = ht_odd_even_rank(n, m, 2) - int(deficit)
    curves = []
    for (m, r), pts in sorted(points.items()):
        xs = sorted(pts)
        exact = [_rank_is_exact(n, m) or n > 16 for n in xs]
        notes = [_missing_note(n, m, r) for n in RANK_GRID if n not in pts]
        curves.append(Curve(f"measured, M={m}, r={r}", xs, [pts[n] for n in xs],
                            exact=exact, notes=notes))
    if not curves:
        import torch


        xs = [2, 4, 8, 16]
        ys = [exact_rank(HTNet(n, 2, 2, seed=0, dtype=torch.float64), "odd-even").rank
              for n in xs]
        curves = [Curve("measured, M=2, r=2", xs, ys, "recomputed", exact=[True] * len(xs),
                        notes=["N=20, 24: only in asv results (bench_rank.CertifiedDeficits; "
                               "seconds each, not recomputed here)"])]
    return curves


def theorem_curve(m: int, r: int, n_max: int) -> Curve:
    """``min(r, M)^(N/2)`` for even N = 2, 4, .., ``n_max`` (COLT 2016, Thm 1; schedules
    whose first window is 2)."""

    xs = list(range(2, max(n_max, 2) + 1, 2))
    return Curve(f"min(r, M)^(N/2), M={m}, r={r}", xs,
                 [ht_odd_even_rank(n, m, r) for n in xs], "theorem")


def param_curves(results: CommitResults | None) -> list:
    """HT parameters and the CP parameters their rank bound demands, against N, one pair of
    curves per ``(M, r)``; recomputed (closed forms) where the results have none."""

    ht = _series(results, HT_PARAMS_BENCH, 0)
    cp = _series(results, CP_PARAMS_BENCH, 0)
    curves = []
    for key in sorted(set(ht) & set(cp)):
        m, r = key
        curves.append((Curve(f"HT, M={m}, r={r}", *ht[key]),
                       Curve(f"CP needed, M={m}, r={r}", *cp[key])))
    if not curves:

        ns, m, r = [4, 8, 16, 32, 64], 2, 2
        hts = [schedule_parameter_count(PoolingSchedule(n, m, ht_windows(n, 2), r, 1))
               for n in ns]
        widths = [ht_odd_even_rank(n, m, r) for n in ns]
        cps = [schedule_parameter_count(PoolingSchedule(n, m, (n,), (k,), 1))
               for n, k in zip(ns, widths, strict=True)]
        curves = [(Curve(f"HT, M={m}, r={r}", ns, hts, "recomputed"),
                   Curve(f"CP needed, M={m}, r={r}", ns, cps, "recomputed"))]
    return curves


def fit_curves(results: CommitResults | None, widths=(1, 2, 4, 8, 16)) -> tuple:
    """``(fit error, floor)`` against CP width K: from the results, else recomputed for
    ``widths`` (the suite's teacher and ALS settings)."""
    fit = Curve("CP-ALS relative error", *_series(results, FIT_BENCH, 0).get((), ([], [])))
    floor = Curve("Eckart-Young floor", *_series(results, FLOOR_BENCH, 0).get((), ([], [])))
    if fit.x and floor.x:
        return fit, floor
    import torch


    tensor = coefficient_tensor(HTNet(8, 3, 2, seed=0, dtype=torch.float64))  # (3,)*8
    ks = list(widths)
    if not fit.x:
        errs = [fit_cp(tensor, k, n_restarts=2, n_iter_max=100, tol=1e-8, seed=0)
                .relative_error for k in ks]
        fit = Curve(fit.label, ks, [float(e) for e in errs], "recomputed")
    if not floor.x:
        floor = Curve(floor.label, ks, [float(eckart_young_floor(tensor, k).value) for k in ks],
                      "recomputed")
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
