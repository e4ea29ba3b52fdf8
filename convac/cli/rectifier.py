"""``convac rectifier``: depth efficiency of generalized ConvACs (ICML 2016), measured.

What it runs (its parser: :func:`convac.cli.parsers.rectifier`), imported only when the
command runs; it writes its page with the report's plots, so it needs matplotlib.
"""

from __future__ import annotations

import os
import sys

from .. import jsonio
from ..bench.report import _pick
from ..bench.report.rectifier import measurements_from_results, write_page
from ..experiments.rectifier import (
    FULL,
    QUICK,
    RectifierMeasurements,
    distribution,
    format_text,
    incompleteness,
    rank_vs_n,
    refusals,
    shallow_match,
    universality,
)
from ..progress import Phases, wrote
from ..validate import BudgetError, InvalidValueError


def _finish(args, m) -> int:
    """Write the page (``--out``); name each refused cell with the budget it needs in
    this command's option; exit status 1 if a cell was refused, else 0."""
    if args.out:
        wrote(args, write_page(m, args.out))
    refused = refusals(m)
    for name, r in refused:  # each cell's advice names this command's option
        cell = " ".join(f"{k}={r[k]}" for k in ("operator", "N", "which") if k in r)
        print(f"convac rectifier: {name} {cell}: "
              f"{BudgetError.from_record(r, '--max-gib')}", file=sys.stderr)
    return 1 if refused else 0


def _from_results(args) -> int:

    m = measurements_from_results(_pick(args.from_results, args.machine, args.commit))
    if m is None:
        raise InvalidValueError(f"no bench_rectifier results in {args.from_results!r} "
                                "(run asv on benchmarks/bench_rectifier.py first)")
    print(format_text(m))
    return _finish(args, m)


def _run(args) -> int:
    if args.from_results:
        return _from_results(args)

    s = dict(FULL if args.full else QUICK)
    for key in ("sizes", "widths"):
        if getattr(args, key) is not None:
            s[key] = tuple(getattr(args, key))
    for key in ("n_seeds", "steps", "n_restarts"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    budget = int(args.max_gib * 2**30)
    fit = {"widths": s["widths"], "steps": s["steps"], "n_restarts": s["n_restarts"],
           "operators": tuple(args.operators), "max_bytes": budget}
    m = RectifierMeasurements(settings={**s, "operators": list(args.operators),
                                        "distribution": distribution(s["n_seeds"])})
    with Phases(4, "rectifier", quiet=args.quiet) as phase:
        phase("(a) grid-tensor rank against N")
        m.rank_vs_n = rank_vs_n(s["sizes"], operators=fit["operators"], max_bytes=budget)
        phase("(b) incompleteness")
        m.incompleteness = incompleteness([n for n in (4, 8) if n in s["sizes"]] or [4],
                                          n_seeds=s["n_seeds"], operators=fit["operators"],
                                          max_bytes=budget)
        phase("(c) shallow widths matching deep networks")
        m.shallow_match = shallow_match(n_patches=args.match_n,
                                        n_seeds=min(s["n_seeds"], 30), **fit)
        phase("(d) universality")
        m.universality = universality(**fit)
    print(format_text(m))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            jsonio.dump(m.to_dict(), fh, indent=1, default=str)
        wrote(args, args.json)
    return _finish(args, m)
