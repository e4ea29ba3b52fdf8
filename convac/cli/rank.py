"""What ``convac rank`` runs (its parser: :func:`convac.cli.parsers.rank`)."""

from __future__ import annotations

import time

import torch

from .. import jsonio
from ..nets.network import ConvAC
from ..progress import Phases
from ..rank.cuts import min_cut_bound
from ..rank.methods import matricization_rank


def _run(args) -> int:

    with Phases(3, "rank", quiet=args.quiet) as phase:
        phase("network")
        net = ConvAC(args.n_patches, args.n_channels, tuple(args.windows), tuple(args.ranks)
                     if len(args.ranks) > 1 else args.ranks[0], seed=args.seed,
                     dtype=torch.float64)
        phase(f"{args.method} rank")
        start, cpu = time.perf_counter(), time.process_time()
        res = matricization_rank(net, args.partition, method=args.method,
                                 max_bytes=int(args.max_gib * 2**30))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        phase("min-cut bound")
        bound = min_cut_bound(net, args.partition)
    print(jsonio.dumps({
        "rank": res.rank, "method": res.method, "certified": res.is_certified,
        "ranks_mod": res.ranks_mod, "margin": res.margin, "ambiguous": res.ambiguous,
        "reason": res.reason, "min_cut_bound": bound,
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
    }))
    return 0
