"""``convac rectifier``: depth efficiency of generalized ConvACs (ICML 2016), measured.

What it runs (its parser: :func:`convac.cli.parsers.rectifier`), imported only when the
command runs; it writes its page with the report's plots, so it needs matplotlib.
"""

from __future__ import annotations

from .. import jsonio
from ..bench.report import _pick
from ..bench.report.rectifier import measurements_from_results, write_page
from ..experiments.rectifier import (
    FULL,
    QUICK,
    RectifierMeasurements,
    _distribution,
    format_text,
    incompleteness,
    rank_vs_n,
    shallow_match,
    universality,
)
from ..validate import InvalidValueError


def _from_results(args) -> int:

    m = measurements_from_results(_pick(args.from_results, args.machine, args.commit))
    if m is None:
        raise InvalidValueError(f"no bench_rectifier results in {args.from_results!r} "
                                "(run asv on benchmarks/bench_rectifier.py first)")
    print(format_text(m))
    if args.out:
        print(f"wrote {write_page(m, args.out)}")
    return 0


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
    fit = {"widths": s["widths"], "steps": s["steps"], "n_restarts": s["n_restarts"],
           "operators": tuple(args.operators)}
    m = RectifierMeasurements(settings={**s, "operators": list(args.operators),
                                        "distribution": _distribution(s["n_seeds"])})
    m.rank_vs_n = rank_vs_n(s["sizes"], operators=fit["operators"])
    m.incompleteness = incompleteness([n for n in (4, 8) if n in s["sizes"]] or [4],
                                      n_seeds=s["n_seeds"], operators=fit["operators"])
    m.shallow_match = shallow_match(n_patches=args.match_n, n_seeds=min(s["n_seeds"], 30), **fit)
    m.universality = universality(**fit)
    print(format_text(m))
    if args.json:
        import os

        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            jsonio.dump(m.to_dict(), fh, indent=1, default=str)
    if args.out:

        print(f"wrote {write_page(m, args.out)}")
    return 0
