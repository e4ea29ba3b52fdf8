"""``convac experiment``: run, list and show the published experiments.

``convac experiment run NAME [--resume] [--sample K --seed S] [--scheduler tcp://host:port]
[--workers W] [--store PATH] [--set KEY=VALUE ...]`` runs on dask.distributed (imported
only here, when a run starts); ``list`` names the experiments; ``show NAME --store PATH``
prints the stored results' table (``--json FILE`` also writes the summary the report
publishes, :mod:`.publish`); ``report`` writes the experiments page.
"""

from __future__ import annotations

import inspect
import json
import os
import sys

from ..progress import wrote
from ..validate import InvalidValueError

__all__ = ["register"]

DEFAULT_STORE_ROOT = os.path.join("reports", "experiments")


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
    from . import experiment_module
    from .runner import ExperimentBugError, run_experiment

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
    print(f"{summary.experiment}: {summary.n_computed} computed ({summary.n_errors} refused "
          "or failed: `convac experiment show` lists them), "
          f"{summary.n_skipped} already stored, {summary.wall_seconds:.1f} s wall, "
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


def _list(args) -> int:
    from . import EXPERIMENTS

    for name, (_, doc) in EXPERIMENTS.items():
        print(f"{name:18s} {doc}")
    return 0


def _show(args) -> int:
    from . import experiment_module
    from .store import ResultStore

    store = ResultStore(_store(args))
    if not len(store):
        print(f"no results in {store.path}", file=sys.stderr)
        return 1
    module = experiment_module(args.name)
    records = store.records()
    print(module.format_summary(records))
    print(not_computed(records), end="")
    if args.json:
        from .publish import write_published

        print(write_published(args.name, records, store, args.json))
        wrote(args, args.json)
    return 0


def _report(args) -> int:
    from ..report.experiments import build_experiments_page

    page = build_experiments_page(args.stores, args.out, progress=not args.quiet)
    print(page)
    wrote(args, page)
    return 0


def register(sub) -> None:
    p = sub.add_parser("experiment", help="run published experiments on dask.distributed")
    verbs = p.add_subparsers(dest="verb", required=True,
                             help="run, list, show or report (each has --help)")
    run = verbs.add_parser("run", help="run (or --resume) an experiment into a Parquet store")
    run.add_argument("name", help="the experiment (see `convac experiment list`)")
    run.add_argument("--resume", action="store_true", help="continue a non-empty store")
    run.add_argument("--sample", type=int, default=None, help="run K seeded configurations")
    run.add_argument("--seed", type=int, default=0, help="seed of --sample")
    run.add_argument("--scheduler", default=None,
                     help="tcp://host:port of a dask scheduler; 'inline' runs in-process; "
                          "default a LocalCluster")
    run.add_argument("--workers", type=int, default=None,
                     help="LocalCluster worker processes (default: cores)")
    run.add_argument("--store", default=None,
                     help=f"result folder (default {DEFAULT_STORE_ROOT}/NAME)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="experiment option (value parsed as JSON when it can be)")
    run.add_argument("--max-gib", type=float, default=None,
                     help="memory budget of one configuration in GiB (experiments that "
                          "predict their memory: depth-sweep, default 2); a configuration "
                          "above it is recorded as refused and shown by `show`")
    run.set_defaults(func=_run)
    ls = verbs.add_parser("list", help="name the experiments")
    ls.set_defaults(func=_list)
    show = verbs.add_parser("show", help="print the table of stored results")
    show.add_argument("name", help="the experiment (see `convac experiment list`)")
    show.add_argument("--store", default=None,
                      help="the result store (default: reports/experiments/NAME)")
    show.add_argument("--json", default=None, metavar="FILE",
                      help="also write the summary with its provenance to FILE (the "
                           "committed copy the report shows without the store: "
                           "reports/published/NAME.json)")
    show.set_defaults(func=_show)
    rep = verbs.add_parser("report", help="write the experiments page (tables, plots, papers)")
    rep.add_argument("--stores", default=DEFAULT_STORE_ROOT, help="folder of the stores")
    rep.add_argument("--out", default=os.path.join("reports", "experiments-page"))
    rep.set_defaults(func=_report)
