"""What ``convac gate`` runs (its parser: :func:`convac.cli.parsers.gate`)."""

from __future__ import annotations

import sys

from .. import validate
from ..bench.gate import gate


def _run(args) -> int:
    try:
        return gate(args.base, args.head, args.config, run=not args.no_run, quick=args.quick,
                    bench=args.bench, machine=args.machine, rtol=args.rtol, atol=args.atol,
                    time_factor=args.time_factor, mem_factor=args.mem_factor,
                    show_all=args.all, skip_existing=args.skip_existing,
                    scratch_dir=args.scratch_dir)
    except (validate.ConvACError, ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"convac gate: error: {exc}", file=sys.stderr)
        return 2
