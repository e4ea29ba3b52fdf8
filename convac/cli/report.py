"""What ``convac report`` runs (its parser: :func:`convac.cli.parsers.report`)."""

from __future__ import annotations

import os
import sys

from ..bench.report import (
    build_report,
    failed_benchmarks,
)
from ..bench.report.vendor import localize_asv_site


def _run(args) -> int:
    if args.offline_asv:

        try:
            n = len(localize_asv_site(args.asv_site, args.npm_cache))
            print(f"asv site: {n} CDN script/style tags now load from {args.asv_site}/vendor")
        except (RuntimeError, FileNotFoundError, OSError) as exc:
            print(f"convac report: warning: asv site left loading from CDNs: {exc}",
                  file=sys.stderr)
    try:
        page = build_report(args.results_dir, args.out, args.machine, args.commit,
                            args.asv_site)
        failed = (failed_benchmarks(args.results_dir, args.machine, args.commit)
                  if args.fail_on_failed else [])
    except (ValueError, FileNotFoundError) as exc:
        print(f"convac report: error: {exc}", file=sys.stderr)
        return 2
    print(f"depth-efficiency report: {os.path.abspath(page)}")
    if failed:
        print(f"convac report: {len(failed)} failed benchmark(s): {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0
