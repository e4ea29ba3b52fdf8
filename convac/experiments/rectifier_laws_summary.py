"""The rectifier distributions' settings, the paper's claims, the analytic floors and the
summary of stored results (rank distributions, fit plateaus), read by
:mod:`convac.experiments.rectifier_laws` and the report; it imports nothing that
computes."""

from __future__ import annotations

import math

import numpy as np

from .rectifier_settings import explain

__all__ = ["GAUSS_SCALE", "M", "R", "CLAIMS", "reachable_dimension", "analytic_floor",
           "summarize", "format_summary"]

GAUSS_SCALE = 2 ** 20
M, R = 2, 4

CLAIMS = {
    "source": "Cohen & Shashua, \"Convolutional Rectifier Networks as Generalized Tensor "
              "Decompositions\", ICML 2016",
    "incompleteness": "\"depth efficiency is complete with convolutional arithmetic "
                      "circuits [...] not the case with convolutional rectifier networks\" "
                      "(abstract): with max pooling, a set of deep networks of positive "
                      "measure is realized by shallow networks of polynomial size",
    "universality": "\"convolutional rectifier networks are universal with max pooling but "
                    "not with average pooling\" (abstract)",
    "verified": "Quoted from the paper's abstract; the paper reports no rank distribution "
                "and no figure of the fraction below maximal: those are convac's.",
}


def reachable_dimension(n: int, m: int, shared: bool, operator: str = "relu-sum") -> int:
    """``k``, the dimension of the space of grid tensors of shallow networks of
    ``operator`` over ``n`` patches and ``m`` templates (the rank of
    :func:`convac.experiments.rectifier_laws.reachable_basis`).

    ReLU+sum (or average): the additive tensors, ``n (m - 1) + 1`` unshared, ``m``
    shared (the counts of each template).  Product and ReLU+max unshared: every tensor,
    ``m^n``.  Shared product: every function of the counts, ``C(n + m - 1, m - 1)``;
    shared ReLU+max: every function of the set of templates present, one per nonempty
    set of at most ``n`` templates.
    """
    if operator in ("relu-sum", "relu-avg"):
        return m if shared else n * (m - 1) + 1
    if not shared:
        return m ** n
    if operator == "product":
        return math.comb(n + m - 1, m - 1)
    return sum(math.comb(m, j) for j in range(1, min(n, m) + 1))


def analytic_floor(n: int, m: int, shared: bool, operator: str = "relu-sum") -> float:
    """``sqrt(1 - k / m^n)``, ``k`` the dimension of the reachable space: the floor's root
    mean square over Gaussian targets."""
    k = reachable_dimension(n, m, shared, operator)
    return math.sqrt(max(1 - k / m ** n, 0.0))


def summarize(records) -> dict:
    """Rank distributions per (law, operator, sharing, N) and fit plateaus per
    (operator, sharing), with the floors; failed configurations listed."""
    ranks: dict = {}
    fits: dict = {}
    errors = []
    for rec in records:
        c = rec["config"]
        if rec["status"] != "ok":
            errors.append({"key": rec.get("key"), "error": rec["error"]})
            continue
        r = rec["result"]
        if c["what"] == "rank":
            ranks.setdefault((c["law"], c["operator"], c["shared"], c["N"]), []).append(r)
        else:
            fits.setdefault((c["operator"], c["shared"], c["N"]), []).append((c, r))
    rank_rows = []
    for (law, op, sh, n), rs in sorted(ranks.items()):
        vals = sorted(r["rank"] for r in rs)
        top = rs[0]["max"]
        rank_rows.append({"law": law, "operator": op, "shared": sh, "N": n, "seeds": len(rs),
                          "max": top, "min": vals[0], "median": float(np.median(vals)),
                          "highest": vals[-1],
                          "fraction_below_max": sum(v < top for v in vals) / len(vals),
                          "fraction_constant": sum(r["constant"] for r in rs) / len(rs)})
    fit_rows = []
    for (op, sh, n), cs in sorted(fits.items()):
        widths = cs[0][0]["widths"]
        errs = np.array([r["errors"] for _, r in cs])  # (seeds, widths)
        floors = np.array([r["floor"] for _, r in cs])
        fit_rows.append({"operator": op, "shared": sh, "N": n, "M": M, "seeds": len(cs),
                         "widths": widths, "median_errors": np.median(errs, 0).tolist(),
                         "plateau": float(np.mean(errs[:, -1])),
                         "plateau_min": float(errs[:, -1].min()),
                         "plateau_max": float(errs[:, -1].max()),
                         "floor_mean": float(np.mean(floors)),
                         "floor_rms": float(np.sqrt(np.mean(floors ** 2))),
                         "analytic_floor": analytic_floor(n, M, sh, op)})
    return {"ranks": rank_rows, "fits": fit_rows, "errors": errors, "claims": CLAIMS,
            "setting": {"M": M, "r": R, "gauss_scale": GAUSS_SCALE,
                        "partition": "odd-even", "rank": "exact over Q (python-flint)"}}


def format_summary(records) -> str:
    """Rank table (min / median / max, share below maximal) and fit plateaus."""
    s = summarize(records)
    lines = [f"{'law':>8s} {'operator':>9s} {'shared':>6s} {'N':>3s} {'seeds':>5s} "
             f"{'min':>4s} {'med':>6s} {'max':>4s} {'of':>4s} {'below':>6s} {'const':>6s}"]
    for r in s["ranks"]:
        lines.append(f"{r['law']:>8s} {r['operator']:>9s} {r['shared']!s:>6s} {r['N']:3d} "
                     f"{r['seeds']:5d} {r['min']:4d} {r['median']:6.1f} {r['highest']:4d} "
                     f"{r['max']:4d} {r['fraction_below_max']:6.1%} "
                     f"{r['fraction_constant']:6.1%}")
    for r in s["fits"]:
        lines.append(f"fit {r['operator']:>9s} shared={r['shared']!s:5s} N={r['N']} "
                     f"seeds={r['seeds']}: plateau (width {r['widths'][-1]}) "
                     f"{r['plateau']:.3f} [{r['plateau_min']:.3f}, {r['plateau_max']:.3f}]"
                     f"; floor per target (mean) {r['floor_mean']:.3f}, analytic "
                     f"sqrt(1-k/M^N) {r['analytic_floor']:.3f}")
    lines.append(f"{len(s['errors'])} failed configurations")
    if s["ranks"]:
        lines.append(explain(s))
    return "\n".join(lines)
