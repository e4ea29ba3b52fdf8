"""Measurements of depth efficiency for generalized ConvACs (Cohen & Shashua, ICML 2016).

Four measurements, each with the paper's statement beside it (:data:`CLAIMS`):

(a) :func:`rank_vs_n`: odd-even grid-tensor rank of a random deep (HT) network against
    ``N``, per pooling operator, beside ``min(r_0, M)^(N/2)``.
(b) :func:`incompleteness`: over many seeds, the fraction of random deep networks whose
    grid tensor has odd-even rank below the maximum ``M^(N/2)``, and the fraction whose
    grid tensor is constant (realized exactly by a shallow network of width 1).
(c) :func:`shallow_match`: the smallest shallow width matching a deep network's grid
    tensor: the certified lower bound from its rank, and the width at which gradient
    training of the shallow network of the same operator reaches a stated error.
(d) :func:`universality`: fit error of shallow networks on a random grid tensor against
    width, per operator, beside the additive floor that bounds every shallow ReLU+average
    network.

**Weight distribution** (stated in every result): every weight i.i.d. uniform on the
integers ``-100..100`` (:func:`convac.rank.exact.integer_weights_`), seeds ``0 .. S-1``;
templates ``F = I_M``.  Integer weights make the ReLU+max and ReLU+sum grid tensors exact
integers (:func:`convac.tensors.grid.grid_tensor` certifies it), so their ranks are exact
ranks over Q.  Product grid tensors outgrow ``2^53`` from ``N = 8``; with ``F = I`` they
equal the coefficient tensor and get the structured exact rank over GF(p) of
:mod:`convac.rank.exact` (a certified lower bound that meets the theorem's upper bound).

**Memory**: each measurement takes ``max_bytes`` (default 2 GiB), the budget of every
dense tensor it builds, and refuses a cell (an operator and ``N``) whose tensors would
exceed it before building them: the cell's row holds ``refused`` (``"refused: needs N
GiB"``, with ``what``, ``needed_bytes`` and ``budget_bytes``: :meth:`BudgetError.record
<convac.validate.BudgetError.record>`) and ``None`` for what it would have measured; the
other cells are measured as usual.  Rows measured have ``refused = None``.
"""

from __future__ import annotations

from collections import Counter

import torch

from .. import validate
from ..fit.shallow import additive_floor, fit_shallow
from ..formatting import format_number
from ..nets.geometry import DEFAULT_MAX_BYTES
from ..nets.network import HTNet
from ..nets.pooling import resolve_pooling
from ..rank.exact import exact_rank, integer_weights_
from ..rank.grid import grid_rank, shallow_width_lower_bound
from ..rank.theory import ht_odd_even_rank
from ..tensors.grid import grid_tensor
from ..tensors.matricization import RankResult
from .rectifier_settings import (
    BENCH,
    CLAIMS,
    FULL,
    OPERATORS,
    QUICK,
    WEIGHT_RANGE,
    RectifierMeasurements,
    distribution,
)

__all__ = [
    "OPERATORS",
    "CLAIMS",
    "WEIGHT_RANGE",
    "deep_network",
    "extreme_networks",
    "network_rank",
    "rank_vs_n",
    "incompleteness",
    "shallow_match",
    "universality",
    "measure_all",
    "BENCH",
    "method_label",
    "RectifierMeasurements",
    "format_text",
    "refusals",
    "MEASURED",
]

def deep_network(pooling, n_patches: int, n_channels: int, rank: int, seed: int) -> HTNet:
    """A float64 HT network (windows of 2, every rank ``rank``) with seeded integer weights
    uniform in :data:`WEIGHT_RANGE`."""
    net = HTNet(n_patches, n_channels, rank, dtype=torch.float64, pooling=pooling)
    return integer_weights_(net, *WEIGHT_RANGE, seed=validate.integer(seed, "seed", 0))


def network_rank(net, grid=None, max_bytes: int = DEFAULT_MAX_BYTES) -> RankResult:
    """Odd-even rank of a network's grid tensor over ``F = I``, as exact as possible.

    Exact over Q when the grid tensor is certified integer; for product pooling beyond
    that, the structured exact rank over GF(p) of the coefficient tensor (which the grid
    tensor equals for ``F = I``): a certified lower bound; otherwise dense with margin.
    Every dense tensor it builds stays within ``max_bytes``
    (:class:`convac.validate.BudgetError` otherwise).
    """
    grid = grid_tensor(net, max_bytes=max_bytes) if grid is None else grid
    if grid.exact or net.pooling.name != "product":
        return grid_rank(grid, "odd-even", max_bytes=max_bytes)
    try:
        return exact_rank(net, "odd-even", max_bytes=max_bytes)
    except ImportError:  # pragma: no cover - python-flint missing
        return grid_rank(grid, "odd-even", method="dense", max_bytes=max_bytes)


def method_label(res: RankResult) -> str:
    """``"exact Q"``, ``"exact GF(p) lower bound"`` or ``"dense, margin m"``."""
    if res.method != "exact":
        return f"{res.method}, margin {res.margin:.3g}" + (" (ambiguous)" if res.ambiguous else "")
    return "exact Q" if "over Q" in res.certified else "exact GF(p) lower bound"


MEASURED = {
    "rank_vs_n": ("rank", "method", "margin", "ambiguous", "width_lower_bound"),
    "incompleteness": ("below_max", "fraction_below_max", "constant", "fraction_constant",
                       "exact", "histogram"),
    "shallow_match": ("seed", "rank", "method", "width_lower_bound", "errors",
                      "matched_width", "distinct_values", "floor"),
    "universality": ("errors", "floor", "target_rank", "target_rank_margin",
                     "width_lower_bound"),
}
"""The fields each measurement measures: ``None`` in a refused cell's row."""


def _cell(measurement: str, row: dict, measure) -> dict:
    """``row`` completed by ``measure()`` (a dict of the measured fields) and
    ``refused=None``; if ``measure`` exceeds the budget, by the refusal
    (:meth:`convac.validate.BudgetError.record`) and ``None`` for the measured fields."""
    try:
        return {**row, **measure(), "refused": None}
    except validate.BudgetError as exc:  # recorded in its cell; the others go on
        return _refused(measurement, row, exc)


def _refused(measurement: str, row: dict, exc: validate.BudgetError) -> dict:
    """``row`` of ``measurement`` refused by ``exc``: its measured fields ``None``."""
    return {**row, **dict.fromkeys(MEASURED[measurement]), **exc.record()}


def _rank_row(op: str, n: int, m: int, r: int, seed: int, max_bytes: int) -> dict:
    def measure() -> dict:
        res = network_rank(deep_network(op, n, m, r, seed), max_bytes=max_bytes)
        return {"rank": res.rank, "method": method_label(res), "margin": res.margin,
                "ambiguous": res.ambiguous, "width_lower_bound":
                    shallow_width_lower_bound(res.rank, op, "odd-even", n, m)}

    return _cell("rank_vs_n", {"operator": op, "N": n, "M": m, "r": r, "seed": seed,
                               "theorem": ht_odd_even_rank(n, m, r), "max": m ** (n // 2)},
                 measure)


def rank_vs_n(sizes=(2, 4, 8, 16), n_channels: int = 2, rank: int = 4, seed: int = 0,
              operators=OPERATORS, max_bytes: int = DEFAULT_MAX_BYTES) -> list:
    """(a) Odd-even grid-tensor rank of one seeded random deep network per operator and N
    (a cell over ``max_bytes`` is refused in its row: see the module docstring).

    Returns
    -------
    list of dict
        ``operator, N, M, r, seed, rank, method, margin, ambiguous, theorem`` (=
        ``min(r_0, M)^(N/2)``), ``max`` (= ``M^(N/2)``, the matrix side) and
        ``width_lower_bound``, the certified shallow width of the same operator the rank
        demands (:func:`convac.rank.grid.shallow_width_lower_bound`).
    """
    max_bytes = validate.max_bytes(max_bytes)
    return [_rank_row(resolve_pooling(op).name, validate.positive_int(n, "N", 2),
                      n_channels, rank, seed, max_bytes)
            for op in operators for n in sizes]


def incompleteness(sizes=(4, 8), n_channels: int = 2, rank: int = 4, n_seeds: int = 100,
                   operators=OPERATORS, max_bytes: int = DEFAULT_MAX_BYTES) -> list:
    """(b) Over ``n_seeds`` random deep networks: how many fall below the maximal rank (an
    operator and N over ``max_bytes`` is refused in its row: see the module docstring).

    Returns
    -------
    list of dict
        Per operator and N: ``n_seeds``, ``below_max`` (count with odd-even rank
        ``< M^(N/2)``; ``r >= M`` so that this is also ``min(r, M)^(N/2)``),
        ``fraction_below_max``, ``constant`` (count of constant grid tensors: realized
        exactly by a shallow network of width 1 of the same operator), ``histogram``
        (rank -> count), ``exact`` (count of ranks computed without tolerance) and the
        weight distribution.
    """
    n_seeds = validate.count(n_seeds, "n_seeds")
    max_bytes = validate.max_bytes(max_bytes)
    rows = []
    for op in operators:
        name = resolve_pooling(op).name
        for n in sizes:
            top = n_channels ** (n // 2)

            def measure(name=name, n=n, top=top) -> dict:
                ranks, constant, exact = [], 0, 0
                for seed in range(n_seeds):
                    net = deep_network(name, n, n_channels, rank, seed)
                    grid = grid_tensor(net, max_bytes=max_bytes)
                    res = network_rank(net, grid, max_bytes)
                    ranks.append(res.rank)
                    exact += res.method == "exact"
                    constant += bool((grid.values == grid.values.reshape(-1)[0]).all())
                below = sum(k < top for k in ranks)
                return {"below_max": below, "fraction_below_max": below / n_seeds,
                        "constant": constant, "fraction_constant": constant / n_seeds,
                        "exact": exact, "histogram": dict(sorted(Counter(ranks).items()))}

            rows.append(_cell("incompleteness", {
                "operator": name, "N": n, "M": n_channels, "r": rank, "n_seeds": n_seeds,
                "max": top, "distribution": distribution(n_seeds)}, measure))
    return rows


def _fit_curve(target, op: str, widths, steps: int, n_restarts: int, seed: int) -> list:
    return [fit_shallow(target, z, op, steps=steps, n_restarts=n_restarts, seed=seed).rel_error
            for z in widths]


def extreme_networks(pooling, n_patches: int, n_channels: int, rank: int,
                     n_seeds: int, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple:
    """Among the deep networks of seeds ``0 .. n_seeds-1``, those of lowest and of highest
    odd-even grid rank (smallest seed on ties).

    Returns
    -------
    (low, high) : each ``(RankResult, seed, GridTensor)``
    """
    n_seeds = validate.count(n_seeds, "n_seeds")
    drawn = []
    for seed in range(n_seeds):
        net = deep_network(pooling, n_patches, n_channels, rank, seed)
        grid = grid_tensor(net, max_bytes=max_bytes)
        drawn.append((network_rank(net, grid, max_bytes), seed, grid))
    low = min(drawn, key=lambda d: (d[0].rank, d[1]))
    high = min(drawn, key=lambda d: (-d[0].rank, d[1]))
    return low, high


def shallow_match(n_patches: int = 8, n_channels: int = 2, rank: int = 4, n_seeds: int = 30,
                  widths=(1, 2, 4, 8, 16, 32, 64), threshold: float = 1e-2,
                  steps: int = 1000, n_restarts: int = 2, operators=OPERATORS,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> list:
    """(c) Smallest shallow width matching a deep network's grid tensor, per operator.

    For each operator, among the deep networks of seeds ``0 .. n_seeds-1``, the one of
    lowest and the one of highest odd-even grid rank (smallest seed on ties): the rank,
    the width it certifiably requires of a shallow network of the same operator
    (:func:`convac.rank.grid.shallow_width_lower_bound`; ``None`` for ReLU+sum above rank
    2: no width suffices), the fit error of gradient-trained shallow networks at each
    width, and the smallest width whose error is ``<= threshold`` (``None``: none of
    ``widths``; training gives upper bounds on the best error, so a miss is not proof).

    Returns
    -------
    list of dict
        Two rows per operator, ``which`` = ``"lowest rank"`` / ``"highest rank"`` (both
        refused when the operator's grid tensors exceed ``max_bytes``: see the module
        docstring).
    """
    threshold = validate.real(threshold, "threshold", 0.0)
    rows = []
    for op in operators:
        name = resolve_pooling(op).name
        rows_of = [{"operator": name, "which": which, "N": n_patches, "M": n_channels,
                    "r": rank, "widths": list(widths), "threshold": threshold, "steps": steps,
                    "n_restarts": n_restarts, "distribution": distribution(n_seeds)}
                   for which in ("lowest rank", "highest rank")]
        try:
            drawn = extreme_networks(name, n_patches, n_channels, rank, n_seeds, max_bytes)
        except validate.BudgetError as exc:  # both rows refused; the other operators go on
            rows += [_refused("shallow_match", row, exc) for row in rows_of]
            continue
        for row, (res, seed, grid) in zip(rows_of, drawn, strict=True):

            def measure(res=res, seed=seed, grid=grid, name=name) -> dict:
                errors = _fit_curve(grid.values, name, widths, steps, n_restarts, 0)
                return {"seed": seed, "rank": res.rank, "method": method_label(res),
                        "width_lower_bound": shallow_width_lower_bound(
                            res.rank, name, "odd-even", n_patches, n_channels),
                        "errors": errors, "matched_width": next(
                            (z for z, e in zip(widths, errors, strict=True)
                             if e <= threshold), None),
                        "distinct_values": int(grid.values.unique().numel()),
                        "floor": additive_floor(grid.values) if name == "relu-sum" else 0.0}

            rows.append(_cell("shallow_match", row, measure))
    return rows


def universality(n_patches: int = 4, n_channels: int = 3, seed: int = 0,
                 widths=(1, 2, 4, 8, 16, 32, 64), steps: int = 1000, n_restarts: int = 2,
                 operators=OPERATORS, max_bytes: int = DEFAULT_MAX_BYTES) -> list:
    """(d) Fit error of shallow networks on a seeded random grid tensor, against width.

    The target has i.i.d. standard normal entries (``torch.Generator`` seeded with
    ``seed``), shape ``(M,) * N``: almost surely not additive, so no shallow ReLU+average
    network of any width expresses it; the floor (:func:`convac.fit.shallow.additive_floor`)
    is the least relative error any of them reaches.

    Returns
    -------
    list of dict
        Per operator: ``widths``, ``errors``, ``floor`` (ReLU+sum only, else 0) and the
        target's odd-even rank with the widths it certifiably requires (every row refused
        when the target exceeds ``max_bytes``: see the module docstring).
    """
    gen = torch.Generator().manual_seed(validate.integer(seed, "seed", 0))
    names = [resolve_pooling(op).name for op in operators]
    rows_of = [{"operator": name, "N": n_patches, "M": n_channels, "seed": seed,
                "widths": list(widths), "steps": steps, "n_restarts": n_restarts,
                "target": f"i.i.d. N(0, 1) entries, seed {seed}"} for name in names]
    try:
        validate.check_budget(n_channels, n_patches, max_bytes, "random target tensor")
        target = torch.randn((n_channels,) * n_patches, generator=gen, dtype=torch.float64)
        floor = additive_floor(target)
        rank = grid_rank(target, "odd-even", method="dense", max_bytes=max_bytes)
    except validate.BudgetError as exc:  # one target for every operator: all refused
        return [_refused("universality", row, exc) for row in rows_of]
    return [_cell("universality", row, lambda row=row: {
        "errors": _fit_curve(target, row["operator"], widths, steps, n_restarts, seed),
        "floor": floor if row["operator"] == "relu-sum" else 0.0, "target_rank": rank.rank,
        "target_rank_margin": rank.margin, "width_lower_bound": shallow_width_lower_bound(
            rank.rank, row["operator"], "odd-even", n_patches, n_channels)})
        for row in rows_of]


def measure_all(quick: bool = True, operators=OPERATORS) -> RectifierMeasurements:
    """All four measurements with the :data:`QUICK` or :data:`FULL` settings."""
    s = dict(QUICK if validate.boolean(quick, "quick") else FULL)
    fit = {"widths": s["widths"], "steps": s["steps"], "n_restarts": s["n_restarts"],
           "operators": operators}
    pick = min(s["n_seeds"], 30)
    out = RectifierMeasurements(settings={**s, "quick": quick, "operators": list(operators),
                                          "distribution": distribution(s["n_seeds"]),
                                          "threads": torch.get_num_threads()})
    out.rank_vs_n = rank_vs_n(s["sizes"], operators=operators)
    out.incompleteness = incompleteness((4, 8), n_seeds=s["n_seeds"], operators=operators)
    out.shallow_match = shallow_match(n_seeds=pick, **fit)
    out.universality = universality(**fit)
    return out


def _fmt(v) -> str:
    return format_number(v, digits=3, missing="none")


def _errors_text(r: dict) -> str:
    return ", ".join(f"{z}:{_fmt(e)}" for z, e in zip(r["widths"], r["errors"], strict=True))


def format_text(m: RectifierMeasurements) -> str:
    """Plain-text tables of the four measurements, each after the paper's claim; a
    refused cell shows its row's head and ``refused: needs N GiB``."""
    def line(r: dict, head: str, measured) -> str:
        return f"    {head} " + (r["refused"] if r.get("refused") else measured(r))

    lines = [f"settings: {m.settings}"]
    lines += ["", "(a) odd-even grid-tensor rank of a random deep (HT) network",
              "    paper: " + m.claims["rank_vs_n"]]
    lines += [line(r, f"{r['operator']:9s} N={r['N']:<3d}", lambda r: (
        f"rank={r['rank']:<5d} min(r0,M)^(N/2)={r['theorem']:<5d} shallow width >= "
        f"{_fmt(r['width_lower_bound']):5s} ({r['method']})")) for r in m.rank_vs_n]
    lines += ["", "(b) deep networks below the maximal rank M^(N/2)",
              "    paper: " + m.claims["incompleteness"]]
    lines += [line(r, f"{r['operator']:9s} N={r['N']:<3d}", lambda r: (
        f"below max {r['below_max']}/{r['n_seeds']} ({100 * r['fraction_below_max']:.1f}%), "
        f"constant {r['constant']}/{r['n_seeds']}, exact {r['exact']}/{r['n_seeds']}, "
        f"ranks {r['histogram']}")) for r in m.incompleteness]
    lines += ["", "(c) smallest shallow width matching a deep network",
              "    paper: " + m.claims["shallow_match"]]
    lines += [line(r, f"{r['operator']:9s} {r['which']:12s}", lambda r: (
        f"seed {r['seed']!s:3s} rank={r['rank']} ({r['method']}) width >= "
        f"{_fmt(r['width_lower_bound'])}; matched (err <= {r['threshold']:g}) at "
        f"{_fmt(r['matched_width'])}; floor {_fmt(r['floor'])}; errors {_errors_text(r)}"))
        for r in m.shallow_match]
    lines += ["", "(d) universality: shallow fit error on a random grid tensor",
              "    paper: " + m.claims["universality"]]
    lines += [line(r, f"{r['operator']:9s}", lambda r: (
        f"floor={_fmt(r['floor'])} width >= {_fmt(r['width_lower_bound'])}; errors "
        f"{_errors_text(r)}")) for r in m.universality]
    return "\n".join(lines)


def refusals(m: RectifierMeasurements) -> list:
    """``(measurement, row)`` of every refused cell, in the order of :func:`format_text`."""
    return [(name, r) for name in MEASURED for r in getattr(m, name) if r.get("refused")]
