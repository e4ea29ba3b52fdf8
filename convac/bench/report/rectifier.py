"""Report section: rectifier networks as generalized tensor decompositions.

Four PNG plots (matplotlib, Agg) and an HTML section, each measurement of
:mod:`convac.experiments.rectifier` beside the paper's statement (Cohen & Shashua, ICML 2016)
and a closing table of where convac's numbers agree or disagree with it.
:func:`write_page` writes a standalone ``rectifier.html``; :func:`render_section` returns
the section for embedding in another page.
"""

from __future__ import annotations

import html
import os

from ...experiments.publish import provenance_text, read_published
from ...experiments.rectifier_settings import (
    BENCH,
    RectifierMeasurements,
    distribution,
    explain,
)
from ..metrics import series
from ..results import parse_param
from .data import MEASURE
from .page import table
from .plots import _decorate, _save, not_measured, plt

__all__ = ["plot_rank_vs_n", "plot_incompleteness", "plot_fit_curves", "verdicts",
           "render_section", "write_page", "measurements_from_results", "BENCH_PREFIX"]

BENCH_PREFIX = "bench_rectifier."
"""Prefix of the asv benchmarks (``benchmarks/bench_rectifier.py``) the page is drawn from;
each is named in :data:`convac.metrics.REPORT_SERIES` (series ``rectifier_*``)."""

COLORS = {"product": "C0", "relu-max": "C1", "relu-sum": "C2"}


def _by_operator(rows: list) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r["operator"], []).append(r)
    return out


def _measured(rows: list) -> list:
    """The rows that were measured (a cell refused by its memory budget has no numbers:
    its tables show why, its plots leave it out)."""
    return [r for r in rows if not r.get("refused")]


def plot_rank_vs_n(rows: list, path: str) -> str:
    """(a) Odd-even grid rank against N per operator, with ``min(r_0, M)^(N/2)``: filled
    markers exact ranks, hollow ones numerical; operators shifted sideways a little so that
    equal ranks stay visible."""
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    for i, (op, rs) in enumerate(_by_operator(_measured(rows)).items()):
        color = COLORS.get(op, f"C{i + 3}")
        for exact in (True, False):
            pts = [r for r in rs if str(r.get("method", "")).startswith("exact") == exact]
            if pts:
                ax.plot([r["N"] * 2 ** (0.05 * (i - 1)) for r in pts],
                        [max(r["rank"], 0.5) for r in pts], "osD^"[i % 4], color=color,
                        mfc=color if exact else "none", ms=8, mew=1.5, ls="none",
                        label=f"{op} (seed {pts[0]['seed']}): "
                              f"{'exact' if exact else 'numerical'}")
    theory = sorted({(r["N"], r["theorem"]) for r in rows})
    if theory:
        ax.plot(*zip(*theory, strict=True), "k--", alpha=0.6, label="min(r0, M)^(N/2)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
    else:
        not_measured(ax, "grid-tensor ranks")
    _decorate(ax, "N (patches)", "odd-even rank of the grid tensor",
              "Random deep (HT) networks: grid-tensor rank")
    return _save(fig, path)


def plot_incompleteness(rows: list, path: str) -> str:
    """(b) Percentage of random deep networks below the maximal rank, per operator and N."""
    rows = _measured(rows)
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    ops = list(_by_operator(rows))
    sizes = sorted({r["N"] for r in rows})
    width = 0.8 / max(len(sizes), 1)
    for k, n in enumerate(sizes):
        vals = [next((100 * r["fraction_below_max"] for r in rows
                      if r["operator"] == op and r["N"] == n), 0.0) for op in ops]
        seeds = next(r["n_seeds"] for r in rows if r["N"] == n)
        bars = ax.bar([i + k * width for i in range(len(ops))], vals, width,
                      label=f"N={n} ({seeds} seeds)")
        ax.bar_label(bars, fmt="%.0f%%", fontsize=7)
    ax.set_xticks([i + width * (len(sizes) - 1) / 2 for i in range(len(ops))], ops)
    ax.set_ylim(0, 110)
    if not rows:
        not_measured(ax, "incompleteness counts")
    _decorate(ax, "pooling operator", "% of deep networks with rank < M^(N/2)",
              "Deep networks below the maximal grid rank")
    return _save(fig, path)


def plot_fit_curves(rows: list, path: str, title: str) -> str:
    """(c)/(d) Shallow fit error against width per row, floors dashed."""
    rows = _measured(rows)
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    for i, r in enumerate(rows):
        label = r["operator"] + (f", {r['which']} (rank {r['rank']})" if "which" in r else "")
        color = COLORS.get(r["operator"], f"C{i + 3}")
        style = "o-" if r.get("which", "highest rank") == "highest rank" else "s:"
        ax.plot(r["widths"], [max(e, 1e-16) for e in r["errors"]], style, color=color,
                label=label)
        if r.get("floor"):
            ax.axhline(r["floor"], color=color, ls="--", alpha=0.6,
                       label=f"{r['operator']} floor (additive tensors)")
    if rows:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    else:
        not_measured(ax, "shallow fits")
    _decorate(ax, "shallow width Z", "relative fit error ||G_fit - G|| / ||G||", title)
    return _save(fig, path)


def _matched(r: dict) -> str:
    """The width that matched, or that none of those tried did."""
    if r["matched_width"] is None:
        return f"no shallow width up to {max(r['widths'])}"
    return f"shallow width {r['matched_width']}"


def verdicts(m) -> list:
    """``(claim, measured, agrees)`` rows: where the numbers agree with the paper (refused
    cells, which have no numbers, are left out)."""
    out = []
    rank_vs_n, incomplete = _measured(m.rank_vs_n), _measured(m.incompleteness)
    match, universal = _measured(m.shallow_match), _measured(m.universality)
    prod = [r for r in rank_vs_n if r["operator"] == "product"]
    if prod:
        ok = all(r["rank"] == r["theorem"] for r in prod)
        out.append(("ConvAC odd-even rank = min(r0, M)^(N/2)",
                    ", ".join(f"N={r['N']}: {r['rank']}" for r in prod), ok))
    relu_max = [r for r in rank_vs_n if r["operator"] == "relu-max"]
    if len(relu_max) > 1:
        bounds = [r["width_lower_bound"] for r in relu_max]
        out.append(("ReLU+max: depth efficiency (shallow width needed grows with N)",
                    "certified width >= " + ", ".join(
                        f"{b} at N={r['N']}" for b, r in zip(bounds, relu_max, strict=True)),
                    bounds[-1] > bounds[0]))
    for r in incomplete:
        frac = f"{r['below_max']}/{r['n_seeds']} below M^(N/2) at N={r['N']}"
        if r["operator"] == "product":
            out.append(("ConvAC: complete depth efficiency (0% below maximal rank)", frac,
                        r["below_max"] == 0))
        elif r["operator"] == "relu-max":
            out.append(("ReLU+max: not complete (a positive fraction below maximal rank)",
                        frac, r["below_max"] > 0))
    for r in match:
        if r["operator"] == "relu-max" and r["which"] == "lowest rank":
            out.append(("ReLU+max: some deep networks matched by small shallow ones",
                        f"rank {r['rank']}, {_matched(r)} reaches error <= "
                        f"{r['threshold']:g}", r["matched_width"] is not None))
    pair = {r["which"]: r for r in match if r["operator"] == "relu-max"}
    if len(pair) == 2:
        low, high = pair["lowest rank"], pair["highest rank"]
        big = 2 * max(high["widths"])
        out.append(("ReLU+max: higher-rank deep networks need wider shallow ones",
                    f"{_matched(low)} (rank {low['rank']}) vs {_matched(high)} (rank "
                    f"{high['rank']})",
                    (high["matched_width"] or big) > (low["matched_width"] or big)))
    for r in universal:
        best = min(r["errors"])
        if r["operator"] == "relu-sum":
            out.append(("Shallow ReLU+average: not universal", f"best error {best:.3g} >= "
                        f"floor {r['floor']:.3g}", best >= r["floor"] * (1 - 1e-9) > 0))
        else:
            out.append((f"Shallow {r['operator']}: universal", f"error {best:.3g} at width "
                        f"{max(r['widths'])}", best < 1e-6))
    return out


def _cell(value) -> str:
    """A table cell's text: mappings as ``key: value`` pairs, floats to 4 digits, nothing
    for a value that is absent."""
    if value is None or value == {} or value == "":
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{_cell(k)}: {_cell(v)}" for k, v in sorted(value.items(),
                                                                      key=lambda kv: repr(kv[0])))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list, cols: list) -> str:
    """Rows (dicts) as an HTML table of columns ``cols``; a column no row fills (e.g. the
    rank histograms, which the asv suite does not track) is left out."""
    if not rows:
        return (f"<p class='missing'>Not measured in these results: run <code>{MEASURE}"
                "</code> (the asv suite tracks it).</p>")
    cols = [c for c in cols if any(_cell(r.get(c)) for r in rows)] or cols
    return table(cols, [[_cell(r.get(c)) for c in cols] for r in rows])


def _errors(r: dict) -> str:
    if r.get("errors") is None:  # a refused cell
        return ""
    return ", ".join(f"{z}: {e:.3g}" for z, e in zip(r["widths"], r["errors"], strict=True))


def render_section(m, figures: dict) -> str:
    """HTML section (``<section id="rectifier">``) for measurements ``m`` and the PNG file
    names ``figures`` (keys ``rank``, ``incompleteness``, ``match``, ``universality``)."""
    esc = html.escape
    out = ['<section id="rectifier"><h2>Rectifier networks as generalized tensor '
           "decompositions</h2>",
           "<p>Cohen &amp; Shashua, &quot;Convolutional Rectifier Networks as Generalized "
           "Tensor Decompositions&quot;, ICML 2016. Pooling operators: product "
           "g(a,b)=ab (ConvAC), ReLU+max g(a,b)=max(a,b,0), ReLU+average "
           "g(a,b)=max(a,0)+max(b,0). Grid tensors over M templates with F = I_M. "
           f"{esc(m.settings.get('distribution', ''))}.</p>"]
    parts = [
        ("rank", "(a) Grid-tensor rank of one random deep network per N (a single draw: "
         "the distributions over seeds are in (e))", m.rank_vs_n,
         ["operator", "N", "M", "r", "seed", "rank", "theorem", "width_lower_bound", "method",
          "refused"]),
        ("incompleteness", "(b) Fraction of deep networks below the maximal rank",
         m.incompleteness, ["operator", "N", "n_seeds", "below_max", "fraction_below_max",
                            "constant", "histogram", "refused"]),
        ("match", "(c) Smallest shallow width matching a deep network",
         [{**r, "errors (width: error)": _errors(r)} for r in m.shallow_match],
         ["operator", "which", "seed", "rank", "method", "width_lower_bound", "matched_width",
          "threshold", "errors (width: error)", "refused"]),
        ("universality", "(d) Universality: shallow fit error on a random grid tensor",
         [{**r, "errors (width: error)": _errors(r)} for r in m.universality],
         ["operator", "floor", "target_rank", "width_lower_bound", "errors (width: error)",
          "refused"]),
    ]
    claim_key = {"rank": "rank_vs_n", "incompleteness": "incompleteness",
                 "match": "shallow_match", "universality": "universality"}
    for key, title, rows, cols in parts:
        out.append(f"<h3>{esc(title)}</h3>")
        out.append(f"<p><b>Paper:</b> {esc(m.claims[claim_key[key]])}</p>")
        if key in figures:
            out.append(f'<figure><img src="{esc(figures[key])}" alt="{esc(title)}"></figure>')
        out.append("<p><b>convac:</b></p>" + _table(rows, cols))
    out.append("<h3>Agreement with the paper</h3>")
    out.append(_table([{"paper": c, "convac": v, "agrees": "yes" if ok else "NO"}
                       for c, v, ok in verdicts(m)], ["paper", "convac", "agrees"]))
    out.append("<p>Widths from rank are certified lower bounds (product: rank; ReLU+max: "
               "rank / (M min(|I|,|J|)), one hidden unit contributing at most that many "
               "distinct rows; ReLU+average: none above rank 2, its grid tensors being "
               "additive). Fit errors come from gradient training (Adam, output layer "
               "solved by least squares): upper bounds on the best error of a width, never "
               "lower bounds.</p></section>")
    return "\n".join(out)


def distributions_section(summary: dict, where: str = "") -> str:
    """HTML of the rank distributions over seeds and the shallow fits beside their floors
    (the summary of the ``rectifier-distributions`` experiment)."""
    esc = html.escape
    claims = summary["claims"]
    ranks = [{**r, "below maximal": f"{r['fraction_below_max']:.1%}",
              "constant": f"{r['fraction_constant']:.1%}", "median": f"{r['median']:g}"}
             for r in summary["ranks"]]
    fits = [{**r, "plateau [min, max]": f"{r['plateau']:.3f} [{r['plateau_min']:.3f}, "
                                        f"{r['plateau_max']:.3f}]",
             "floor of these targets (mean)": f"{r['floor_mean']:.3f}",
             "analytic floor sqrt(1 - k/M^N)": f"{r['analytic_floor']:.3f}",
             "median error by width": ", ".join(
                 f"{z}: {e:.3f}" for z, e in zip(r["widths"], r["median_errors"], strict=True))}
            for r in summary["fits"]]
    return "\n".join([
        "<h3>(e) Distributions over seeds: four weight laws, shared and unshared weights</h3>",
        f"<p><b>Paper</b> ({esc(claims['source'])}): {esc(claims['incompleteness'])}; "
        f"{esc(claims['universality'])}. {esc(claims['verified'])}</p>",
        "<p><b>Setting:</b> HT networks, windows of 2, M = 2, every width r = 4, odd-even "
        "partition; exact grid tensors (Python integers) and exact ranks over Q at every N "
        "(N = 4 and 8: 200 seeds, N = 16: 20). Laws: int/I = integer weights -100..100 "
        "with F = I (the law of (a) and (b)); int/F = the same with a random invertible "
        "integer F; gauss/I and gauss/F = Gaussian weights (rounded to multiples of "
        "2^-20, so exact) with F = I or a Gaussian F.</p>",
        _table(ranks, ["law", "operator", "shared", "N", "seeds", "min", "median", "highest",
                       "max", "below maximal", "constant"]),
        f"<p>{esc(explain(summary))}</p>",
        "<p><b>Universality in one setting</b> (N = 4, M = 2, Gaussian targets; shallow "
        "networks of each operator with shared and unshared weights; floors: the distance "
        "to the space each shallow family spans, of dimension k: ReLU+average k = "
        "N(M-1)+1 unshared, M shared; shared product k = C(N+M-1, M-1) and shared ReLU+max "
        "k = 2^M - 1, because shared weights make every shallow network symmetric in its "
        "patches):</p>",
        _table(fits, ["operator", "shared", "seeds", "plateau [min, max]",
                      "floor of these targets (mean)", "analytic floor sqrt(1 - k/M^N)",
                      "median error by width"]),
        f"<p><small>{esc(where)}</small></p>" if where else ""])


def _published_distributions() -> str:
    doc = read_published("rectifier-distributions")
    if doc is None:
        return ("<p>(e) The distributions over seeds are not published here yet "
                "(<code>convac experiment run rectifier-distributions</code>, then "
                "<code>convac experiment show rectifier-distributions --json "
                "reports/published/rectifier-distributions.json</code>).</p>")
    return distributions_section(doc["summary"], provenance_text(doc))


def write_page(m, out_dir: str) -> str:
    """Write ``out_dir/rectifier.html`` and its four PNGs; return the page's path."""
    os.makedirs(out_dir, exist_ok=True)
    figures = {
        "rank": plot_rank_vs_n(m.rank_vs_n, os.path.join(out_dir, "rectifier_rank_vs_n.png")),
        "incompleteness": plot_incompleteness(
            m.incompleteness, os.path.join(out_dir, "rectifier_incompleteness.png")),
        "match": plot_fit_curves(m.shallow_match, os.path.join(out_dir, "rectifier_match.png"),
                                 "Shallow networks fitting a deep network's grid tensor"),
        "universality": plot_fit_curves(
            m.universality, os.path.join(out_dir, "rectifier_universality.png"),
            "Shallow networks fitting a random grid tensor"),
    }
    figures = {k: os.path.basename(v) for k, v in figures.items()}
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            "<title>convac: rectifier networks</title>",
            "<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em}"
            "table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;"
            "padding:2px 6px}img{max-width:100%}</style></head><body>",
            render_section(m, figures), _published_distributions(), "</body></html>"]
    path = os.path.join(out_dir, "rectifier.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(page) + "\n")
    return path


def _tracked(results, name: str) -> dict:
    """``{params: value}`` of report series ``name`` (:data:`convac.metrics.REPORT_SERIES`),
    parameters parsed, failures and skips left out."""
    return {tuple(parse_param(p) for p in m.params): m.value
            for m in results.by_name(series(name)) if m.ok}


def measurements_from_results(results):
    """The four measurements as the asv suite tracked them (one commit's results).

    Parameters
    ----------
    results : convac.bench.results.CommitResults

    Returns
    -------
    RectifierMeasurements or None
        ``None`` when the results hold no ``bench_rectifier`` number.  Rank histograms,
        seeds of (c) and the numbers the suite does not track are left out; settings are
        :data:`convac.experiments.rectifier_settings.BENCH`.
    """

    if results is None:
        return None
    m_, r_ = BENCH["M"], BENCH["r"]
    width_bound = _tracked(results, "rectifier_rank_width_bound")
    ranks = _tracked(results, "rectifier_rank")
    inexact = _tracked(results, "rectifier_rank_not_exact")
    below = _tracked(results, "rectifier_below_max")
    if not (ranks or below):
        return None
    out = RectifierMeasurements(settings={**BENCH, "source": "asv results",
                                          "distribution": distribution(
                                              BENCH["incompleteness_seeds"])})
    for (op, n), rank in sorted(ranks.items(), key=lambda kv: (_op_order(kv[0][0]), kv[0][1])):
        out.rank_vs_n.append({
            "operator": op, "N": n, "M": m_, "r": r_, "seed": BENCH["seed"], "rank": int(rank),
            "theorem": min(r_, m_) ** (n // 2), "max": m_ ** (n // 2),
            "method": "dense" if inexact.get((op, n)) else "exact",
            "width_lower_bound": (int(width_bound[(op, n)]) if (op, n) in width_bound
                                  else "none suffices" if op == "relu-sum" and rank > 2
                                  else "not measured")})
    constant = _tracked(results, "rectifier_constant")
    not_exact = _tracked(results, "rectifier_below_max_not_exact")
    seeds = BENCH["incompleteness_seeds"]
    for (op, n), count in sorted(below.items(), key=lambda kv: (_op_order(kv[0][0]), kv[0][1])):
        out.incompleteness.append({
            "operator": op, "N": n, "M": m_, "r": r_, "n_seeds": seeds, "max": m_ ** (n // 2),
            "below_max": int(count), "fraction_below_max": count / seeds,
            "constant": int(constant.get((op, n), 0)),
            "fraction_constant": constant.get((op, n), 0) / seeds,
            "exact": seeds - int(not_exact.get((op, n), 0)), "histogram": {},
            "distribution": distribution(seeds)})
    fits = _tracked(results, "rectifier_match_error")
    deep_rank = _tracked(results, "rectifier_deep_rank")
    bound = _tracked(results, "rectifier_width_bound")
    for op, which in sorted({k[:2] for k in fits}, key=lambda k: (_op_order(k[0]), k[1])):
        widths = sorted(w for (o, wh, w) in fits if (o, wh) == (op, which))
        errors = [fits[(op, which, w)] for w in widths]
        matched = next((w for w, e in zip(widths, errors, strict=True)
                        if e <= BENCH["threshold"]), None)
        rank = deep_rank.get((op, which))
        out.shallow_match.append({
            "operator": op, "which": which, "N": BENCH["match_n"], "M": m_, "r": r_,
            "seed": "", "rank": None if rank is None else int(rank), "method": "exact",
            "width_lower_bound": None if (op, which) not in bound else int(bound[(op, which)]),
            "widths": widths, "errors": errors, "threshold": BENCH["threshold"],
            "matched_width": matched, "floor": 0.0})
    uni = _tracked(results, "rectifier_universality_error")
    gap = _tracked(results, "rectifier_universality_gap")
    for op in sorted({k[0] for k in uni}, key=_op_order):
        widths = sorted(w for (o, w) in uni if o == op)
        errors = [uni[(op, w)] for w in widths]
        floor = errors[-1] - gap.get((op, widths[-1]), errors[-1])
        out.universality.append({
            "operator": op, "N": BENCH["universality_n"], "M": BENCH["universality_m"],
            "widths": widths, "errors": errors, "floor": max(floor, 0.0),
            "target_rank": "", "width_lower_bound": ""})
    return out


def _op_order(op: str) -> int:
    order = ("product", "relu-max", "relu-sum")
    return order.index(op) if op in order else len(order)
