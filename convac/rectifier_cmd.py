"""``convac rectifier``: depth efficiency of generalized ConvACs (ICML 2016), measured.

Kept free of heavy imports at module level (torch is imported inside the command), so
that building the ``convac`` parser stays fast.
"""

from __future__ import annotations

import json

from .progress import Phases, wrote

__all__ = ["register"]


def _from_results(args) -> int:
    from .rectifier_measure import format_text
    from .report import _pick
    from .report.rectifier import measurements_from_results, write_page
    from .validate import InvalidValueError

    m = measurements_from_results(_pick(args.from_results, args.machine, args.commit))
    if m is None:
        raise InvalidValueError(f"no bench_rectifier results in {args.from_results!r} "
                                "(run asv on benchmarks/bench_rectifier.py first)")
    print(format_text(m))
    if args.out:
        wrote(args, write_page(m, args.out))
    return 0


def _run(args) -> int:
    if args.from_results:
        return _from_results(args)
    from .rectifier_measure import (
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
    with Phases(4, "rectifier", quiet=args.quiet) as phase:
        phase("(a) grid-tensor rank against N")
        m.rank_vs_n = rank_vs_n(s["sizes"], operators=fit["operators"])
        phase("(b) incompleteness")
        m.incompleteness = incompleteness([n for n in (4, 8) if n in s["sizes"]] or [4],
                                          n_seeds=s["n_seeds"], operators=fit["operators"])
        phase("(c) shallow widths matching deep networks")
        m.shallow_match = shallow_match(n_patches=args.match_n,
                                        n_seeds=min(s["n_seeds"], 30), **fit)
        phase("(d) universality")
        m.universality = universality(**fit)
    print(format_text(m))
    if args.json:
        import os

        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(m.to_dict(), fh, indent=1, default=str)
        wrote(args, args.json)
    if args.out:
        from .report.rectifier import write_page

        wrote(args, write_page(m, args.out))
    return 0


def register(sub) -> None:
    p = sub.add_parser("rectifier", help="rectifier networks as generalized tensor "
                       "decompositions: ranks, incompleteness, shallow fits, universality")
    p.add_argument("--full", action="store_true", help="the full settings (slower)")
    p.add_argument("--operators", nargs="+", default=["product", "relu-max", "relu-sum"],
                   help="pooling operators to measure (registered names)")
    p.add_argument("--sizes", type=int, nargs="+", help="N values for (a) (powers of 2)")
    p.add_argument("--n-seeds", type=int, help="random deep networks per point in (b)")
    p.add_argument("--widths", type=int, nargs="+", help="shallow widths in (c) and (d)")
    p.add_argument("--steps", type=int, help="Adam steps per shallow fit")
    p.add_argument("--n-restarts", type=int, help="restarts per shallow fit")
    p.add_argument("--match-n", type=int, default=8, help="N of the deep networks in (c)")
    p.add_argument("--json", help="also write the measurements to this JSON file")
    p.add_argument("--out", help="write rectifier.html and its plots into this folder")
    p.add_argument("--from-results", metavar="RESULTS_DIR",
                   help="measure nothing: draw the numbers the asv suite tracked "
                        "(bench_rectifier) from this asv results_dir")
    p.add_argument("--machine", help="with --from-results: the asv machine (default: newest)")
    p.add_argument("--commit", help="with --from-results: the commit hash (default: newest)")
    p.set_defaults(func=_run)
