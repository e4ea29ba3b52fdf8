"""What ``convac experiment`` runs (its parser: :func:`convac.cli.parsers.experiment`).

``convac experiment run NAME [--resume] [--sample K --seed S] [--scheduler tcp://host:port]
[--workers W] [--store PATH] [--set KEY=VALUE ...]`` runs on dask.distributed (imported
only here, when a run starts); ``list`` (:mod:`convac.cli.experiment_list`, which needs
no extra) names the experiments; ``show NAME --store PATH``
prints the stored results' table (``--json FILE`` also writes the summary the report
publishes, :mod:`convac.experiments.publish`); ``report`` writes the experiments page.
"""

from __future__ import annotations

import inspect
import json
import os
import sys

from ..bench.report.experiments import build_experiments_page
from ..experiments import experiment_module
from ..experiments.publish import write_published
from ..experiments.runner import ExperimentBugError, run_experiment
from ..experiments.store import DEFAULT_STORE_ROOT, ResultStore
from ..progress import wrote
from ..validate import InvalidValueError


def _options(pairs) -> dict:
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _store(args) -> str:
    return args.store or os.path.join(DEFAULT_STORE_ROOT, args.name)


def _run(args) -> int:

    module = experiment_module(args.name)
    options = _options(args.set)
    if args.max_gib is not None:
        if "max_gib" not in inspect.signature(module.experiment).parameters:
            raise InvalidValueError(f"experiment {args.name!r} has no memory budget; "
                                    "run it without --max-gib")
        options["max_gib"] = args.max_gib
    exp = module.experiment(**options)
    try:
        summary = run_experiment(exp, _store(args), resume=args.resume, sample=args.sample,
                                 seed=args.seed, scheduler=args.scheduler,
                                 workers=args.workers, progress=not args.quiet)
    except ExperimentBugError as err:
        print(f"BUG: {err}", file=sys.stderr)
        return 3
    moved = (f", {len(summary.quarantined)} unreadable part file(s) moved to "
             f"{os.path.dirname(summary.quarantined[0])}" if summary.quarantined else "")
    refused = f", {summary.n_refused} refused (budget)" if summary.n_refused else ""
    print(f"{summary.experiment}: {summary.n_computed - summary.n_refused} computed "
          f"({summary.n_errors} errors){refused}, "
          f"{summary.n_skipped} already stored{moved}, {summary.wall_seconds:.1f} s wall, "
          f"{summary.throughput:.1f} cfg/s on {summary.n_workers} worker thread(s)")
    wrote(args, _store(args))
    return 0


def not_computed(records) -> str:
    """A table of the stored configurations without a result (refused before allocating,
    or failed), one line each, so that no row of the summary is missing unsaid; ``""``
    when every one has a result."""
    missing = sorted((r["status"], r["key"], r["error"]) for r in records
                     if r["status"] != "ok")
    if not missing:
        return ""
    lines = [f"{len(missing)} configuration(s) without a result:",
             f"  {'status':8s}  {'configuration':28s}  reason"]
    lines += [f"  {status:8s}  {key:28s}  {error}" for status, key, error in missing]
    return "\n".join(lines) + "\n"


def _show(args) -> int:

    store = ResultStore(_store(args))
    records = store.records(skip_unreadable=True)
    for _, reason in store.skipped:
        print(f"convac experiment show: warning: skipped {reason}", file=sys.stderr)
    if not records:
        print(f"no results in {store.path}", file=sys.stderr)
        return 1
    module = experiment_module(args.name)
    print(module.format_summary(records))
    print(not_computed(records), end="")
    if args.json:
        print(write_published(args.name, records, store, args.json))
        wrote(args, args.json)
    if store.skipped:
        print(f"convac experiment show: {len(store.skipped)} unreadable part file(s) "
              f"skipped; `convac experiment run {args.name} --resume --store {store.path}` "
              "moves them aside and computes their configurations again", file=sys.stderr)
        return 1
    return 0


def _report(args) -> int:

    page = build_experiments_page(args.stores, args.out, progress=not args.quiet)
    print(page)
    wrote(args, page)
    return 0
