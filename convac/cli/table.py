"""What ``convac table`` runs (its parser: :func:`convac.cli.parsers.table`)."""

from __future__ import annotations

import sys

from ..bench.table import depth_efficiency_rows, format_table


def _run(args) -> int:
    rows = depth_efficiency_rows(args.sizes, args.channels, args.rank, args.seed, args.method,
                                 args.rtol, int(args.max_gib * 2**30),
                                 progress=not args.quiet)
    print(format_table(rows))
    refused = [r for r in rows if r["refused"]]
    for r in refused:
        print(f"convac table: N={r['N']}: {r['error'].advice('--max-gib')}", file=sys.stderr)
    return 1 if refused else 0
