"""``convac report``: the depth-efficiency report page, built from asv results.

It reads ``benchmarks.json`` and one commit's result files (by default the newest commit of
the machine), draws four PNG plots with matplotlib (Agg) and writes a static
``index.html`` beside asv's published site (``reports/depth-efficiency`` next to
``reports/html``; ``asv publish`` deletes its own folder, not this one).  ``--offline-asv`` also
makes asv's own site work without internet access (:mod:`convac.bench.report.vendor`).

The report reads results only (asv results, experiment stores, the committed summaries in
``reports/published``); it computes no rank, tensor or fit.  A curve the results lack is
shown as "not measured" with the command that measures it; with no asv results at all
:func:`build_report` raises :class:`NoResultsError` (``convac report`` exits 2 saying where
it looked and what to run).
"""

from __future__ import annotations

import datetime
import os

from ...validate import InvalidValueError
from ..results import (
    DEFAULT_ASV_SITE,
    DEFAULT_REPORT,
    DEFAULT_RESULTS,
    CommitResults,
    list_commits,
    list_machines,
    load_benchmarks,
    load_commit,
)
from . import plots
from .data import MEASURE, fit_curves, param_curves, rank_curves, timings
from .experiments import DEFAULT_STORES, build_experiments_page
from .page import render_page
from .rectifier import measurements_from_results, write_page

__all__ = ["NoResultsError", "build_report", "failed_benchmarks"]


class NoResultsError(InvalidValueError, FileNotFoundError):
    """There are no asv results to report on; the message says where it looked and what
    to run."""

    def __init__(self, results_dir: str):
        where = os.path.abspath(results_dir)
        super().__init__(
            f"no asv results in {where} (looked for machine folders with a machine.json "
            f"and result files); run `{MEASURE}` in a convac checkout (the asv suite, then "
            f"this report), or pass --results-dir with asv's results_dir")
        self.results_dir = where


DEFAULT_OUT = DEFAULT_REPORT


def _pick(results_dir: str, machine: str | None, commit: str | None) -> CommitResults | None:
    machines = list_machines(results_dir)
    if machine is None:
        if not machines:
            return None
        # the machine with the newest result
        machine = max(machines, key=lambda m: max(list_commits(results_dir, m),
                                                   default=(0, ""))[0])
    elif machine not in machines:
        raise ValueError(f"machine {machine!r} has no results in {results_dir}; "
                         f"expected one of {machines}")
    if commit is None:
        commits = list_commits(results_dir, machine)
        if not commits:
            return None
        commit = commits[-1][1]
    return load_commit(results_dir, machine, commit)


def build_report(results_dir: str = DEFAULT_RESULTS, out_dir: str = DEFAULT_OUT,
                 machine: str | None = None, commit: str | None = None,
                 asv_site: str | None = DEFAULT_ASV_SITE, stores: str | None = None,
                 published: str | None = None) -> str:
    """Write ``out_dir/index.html`` and its PNG plots; return the path of the page.

    Parameters
    ----------
    results_dir : str
        asv ``results_dir`` (holds ``benchmarks.json`` and one folder per machine).
    out_dir : str
        Output folder (created; files in it are overwritten).
    machine, commit : str, optional
        Which results to show; default: the newest commit of the newest machine.
    asv_site : str, optional
        asv's ``html_dir``; the page links to its ``index.html`` when it exists.
    stores, published : str, optional
        The experiment stores and the committed summaries the experiments page reads
        (default ``reports/experiments`` and ``reports/published``).

    Raises
    ------
    NoResultsError
        ``results_dir`` holds no asv results (nothing is written).
    """

    results = _pick(results_dir, machine, commit)
    if results is None:
        raise NoResultsError(results_dir)
    benchmarks = load_benchmarks(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    ranks = rank_curves(results)
    pairs = param_curves(results)
    fit, floor = fit_curves(results)
    speed = timings(results, benchmarks)
    figures = [
        (os.path.basename(plots.plot_ranks(ranks, os.path.join(out_dir, "rank_vs_n.png"))),
         "CP-rank lower bound (odd-even rank) of random HT networks against N, with one "
         "line per distinct min(r0, M)^(N/2); filled circles: exact (certified over "
         "GF(p)), hollow squares: numerical (float64 SVD with tolerance)."),
        (os.path.basename(plots.plot_params(pairs, os.path.join(out_dir, "parameters.png"))),
         "HT parameters against the CP parameters its rank bound demands"),
        (os.path.basename(plots.plot_fit(fit, floor, os.path.join(out_dir, "fit.png"))),
         "CP-ALS fit error against width, with the Eckart-Young floor"),
        (os.path.basename(plots.plot_timings(speed, os.path.join(out_dir, "timings.png"))),
         "Harness speed: asv timings, slowest first"),
    ]
    meta = {
        "commit": results.commit_hash,
        "machine": results.machine,
        "commit date": (datetime.datetime.fromtimestamp(results.date / 1000,
                                                         datetime.timezone.utc).isoformat()
                         if results.date else "unknown"),
        "curves from": f"asv results in {results_dir}",
        "benchmarks": f"{len(benchmarks)} in benchmarks.json",
    }
    missing = [(c.label, n, why) for c in ranks for n, why in c.missing]
    link = None
    if asv_site and os.path.isfile(os.path.join(asv_site, "index.html")):
        link = os.path.relpath(os.path.join(asv_site, "index.html"), out_dir)
    pages = _section_pages(results, out_dir, stores, published)
    page = os.path.join(out_dir, "index.html")
    with open(page, "w", encoding="utf-8") as fh:
        fh.write(render_page(meta, figures, benchmarks, results, link, pages, missing))
    return page


def _section_pages(results, out_dir: str, stores: str | None, published: str | None) -> list:
    """The report's other pages, each with the paper's statements beside convac's numbers:
    rectifier networks (ICML 2016, from the asv results) and the published experiments
    (from their result stores).  Returns ``[(relative link, title)]``."""

    pages = []
    measured = measurements_from_results(results)
    if measured is not None:
        path = write_page(measured, out_dir)
        pages.append((os.path.relpath(path, out_dir),
                      "Rectifier networks as generalized tensor decompositions (ICML 2016)"))
    path = build_experiments_page(stores or DEFAULT_STORES, os.path.join(out_dir, "experiments"),
                                  **({"published_root": published} if published else {}))
    pages.append((os.path.relpath(path, out_dir), "Published experiments reproduced: "
                  "Levine et al. 2018 min-cut table, ICLR 2017 pooling geometry, COLT 2016 "
                  "depth sweep"))
    return pages


def failed_benchmarks(results_dir: str = DEFAULT_RESULTS, machine: str | None = None,
                      commit: str | None = None) -> list:
    """Names of the benchmarks that failed (not skipped) in the chosen results.

    Raises
    ------
    FileNotFoundError
        There are no results to check.
    """
    results = _pick(results_dir, machine, commit)
    if results is None:
        raise FileNotFoundError(f"no asv results in {results_dir}")
    return sorted({m.name for m in results.values.values() if m.failed})
