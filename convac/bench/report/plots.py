"""PNG plots of the depth-efficiency report (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .data import MEASURE, Curve, theorem_curve  # noqa: E402

__all__ = ["plot_ranks", "plot_params", "plot_fit", "plot_timings", "not_measured"]

DPI = 100


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _decorate(ax, xlabel: str, ylabel: str, title: str, legend_size: int | None = 7) -> None:
    """Axis labels, title, a log grid and (if given a size) the legend, outside the axes
    on the right so that it covers no data."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if legend_size and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=legend_size, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0)


def not_measured(ax, what: str, command: str = MEASURE) -> None:
    """Say on an empty plot that nothing was measured, and what measures it."""
    ax.text(0.5, 0.5, f"{what}: not measured\nrun `{command}`", ha="center", va="center",
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


MARKERS = {True: "o", False: "s"}
"""Exact (certified) points are filled circles, numerical ones hollow squares."""
OFFSET = 1.6
"""Total sideways spread, in patches, of the rank plot's series at one N (so that equal
ranks of several series stay visible; the N of the grid are at least 2 apart)."""


def plot_ranks(curves: list, path: str) -> str:
    """Measured odd-even rank (CP-rank lower bound) against N, log scale, with one line per
    distinct ``min(r_0, M)^(N/2)`` (its label lists every ``(M, r)`` it covers).

    Exact (certified) ranks are filled circles, numerical ones hollow squares; each series
    is shifted sideways by a fraction of a patch so that equal values stay visible.
    """
    fig, ax = plt.subplots(figsize=(10.0, 4.6))
    numeric = [x for c in curves for x in c.x if isinstance(x, (int, float))]
    n_max = int(max(numeric, default=16))
    theorems: dict = {}  # min(r, M) -> [(M, r)]
    step = OFFSET / max(len(curves) - 1, 1)
    shift = OFFSET / 2
    for i, c in enumerate(curves):
        color = f"C{i % 10}"
        exact = c.exact or [False] * len(c.x)
        for kind in (True, False):
            pts = [(x, y) for x, y, e in zip(c.x, c.y, exact, strict=True)
                   if e == kind and isinstance(x, (int, float))]
            if pts:
                ax.plot([x + step * i - shift for x, _ in pts], [y for _, y in pts],
                        MARKERS[kind], color=color, mfc=color if kind else "none", ms=6,
                        mew=1.4, ls="none", label=f"{c.label.removeprefix('measured, ')}: "
                                                  f"{'exact' if kind else 'numerical'}")
        m, r = _mr(c.label)
        if m is not None:
            theorems.setdefault(min(m, r), []).append((m, r))
    for j, (k, pairs) in enumerate(sorted(theorems.items())):
        t = theorem_curve(pairs[0][0], pairs[0][1], n_max)
        covers = "; ".join(f"M={m},r={r}" for m, r in sorted(pairs))
        ax.plot(t.x, t.y, color="0.3", alpha=0.7, lw=1.0, ls=("-", "--", ":", "-.")[j % 4],
                label=f"theorem min(r, M)^(N/2) = {k}^(N/2)\n  for {covers}")
    if not curves:
        not_measured(ax, "odd-even ranks")
    else:
        ax.set_yscale("log", base=2)
    _decorate(ax, "N (patches)", "odd-even rank = CP width lower bound",
              "CP-rank lower bound of random HT networks")
    return _save(fig, path)


def _mr(label: str):
    """``(M, r)`` parsed from a label ``"..., M=2, r=3"``."""
    try:
        parts = dict(p.strip().split("=") for p in label.split(",")[1:])
        return int(parts["M"]), int(parts["r"].split()[0])
    except (KeyError, ValueError):
        return None, None


def plot_params(pairs: list, path: str) -> str:
    """HT parameters against the CP parameters its rank bound demands, against N."""
    fig, ax = plt.subplots(figsize=(9.0, 4.4))
    for i, (ht, cp) in enumerate(pairs):
        ax.plot(ht.x, ht.y, "o-", color=f"C{i}", label=ht.label)
        ax.plot(cp.x, cp.y, "s--", color=f"C{i}", label=cp.label)
    if pairs:
        ax.set_yscale("log")
        ax.set_xscale("log", base=2)
    else:
        not_measured(ax, "parameter counts")
    _decorate(ax, "N (patches)", "parameters",
              "Deep (HT) vs the shallow (CP) network it would need")
    return _save(fig, path)


ZERO_DISPLAY = 1e-17
"""Where the fit plot's log axis draws exact zeros (floors of widths at or above the rank)."""


def plot_fit(fit: Curve, floor: Curve, path: str, certified: Curve | None = None) -> str:
    """Best CP relative error against width K on a log axis, with the Eckart-Young floor.

    The band between them is certified: no width-K CP beats the floor (Eckart-Young) and
    the fit is one found, so the best width-K error lies inside.  Exact zeros are drawn at
    :data:`ZERO_DISPLAY`.  ``certified`` (optional): the Haeffele-Vidal polar upper bound per
    width; widths where it is ``<= 1`` (the regularized fit is a certified global optimum)
    are shaded.
    """
    fig, ax = plt.subplots(figsize=(9.0, 4.4))

    def shown(values):
        return [max(float(v), ZERO_DISPLAY) for v in values]

    if fit.x:
        ax.plot(fit.x, shown(fit.y), "o-", label=fit.label)
    if floor.x:
        ax.plot(floor.x, shown(floor.y), "kx--", label=floor.label)
    common = sorted(set(fit.x) & set(floor.x))
    if common:
        lo = dict(zip(floor.x, shown(floor.y), strict=True))
        hi = dict(zip(fit.x, shown(fit.y), strict=True))
        band = [max(hi[k], lo[k]) / lo[k] for k in common]
        # a bracket narrower than a tenth of a decade cannot be seen on the log axis: it is
        # listed in the legend only when it is drawn wide enough to find
        ax.fill_between(common, [lo[k] for k in common], [max(hi[k], lo[k]) for k in common],
                        color="C0", alpha=0.15,
                        label=("certified bracket: the best width-K error lies here"
                               if max(band) > 10**0.1 else None))
    if certified is not None and certified.x:
        done = [k for k, v in zip(certified.x, certified.y, strict=True) if v <= 1]
        for i, k in enumerate(done):
            ax.axvspan(k / 1.1, k * 1.1, color="C2", alpha=0.2,
                       label=None if i else "Haeffele-Vidal certificate holds")
    if not fit.x and not floor.x:
        not_measured(ax, "CP fit errors and floors")
    else:
        ax.set_yscale("log")
        ax.axhline(ZERO_DISPLAY, color="gray", lw=0.6, ls=":")
        ax.set_xscale("log", base=2)
    _decorate(ax, "CP width K", f"relative error ||A - B|| / ||A|| (0 drawn at {ZERO_DISPLAY:g})",
              "Shallow fit of a deep teacher (HT, N=8, M=3, r=2)",
              8 if fit.x or floor.x else None)
    return _save(fig, path)


def plot_timings(rows: list, path: str, limit: int = 30) -> str:
    """Horizontal bars of the slowest ``limit`` timings (seconds, log scale)."""
    rows = rows[:limit]
    fig, ax = plt.subplots(figsize=(8.0, 0.5 + 0.22 * max(len(rows), 4)))
    if rows:
        labels, secs = zip(*rows, strict=True)
        ax.barh(range(len(rows)), secs, color="C2")
        ax.set_yticks(range(len(rows)), labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
    else:
        not_measured(ax, "timings")
    ax.set_xlabel("seconds per call")
    ax.set_title("Harness speed (asv time_* benchmarks)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return _save(fig, path)
