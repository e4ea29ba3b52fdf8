"""What ``convac table`` runs (its parser: :func:`convac.cli.parsers.table`)."""

from __future__ import annotations

from ..bench.table import depth_efficiency_rows, format_table


def _run(args) -> int:
    rows = depth_efficiency_rows(args.sizes, args.channels, args.rank, args.seed, args.method,
                                 args.rtol)
    print(format_table(rows))
    return 0
