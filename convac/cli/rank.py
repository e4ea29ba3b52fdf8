"""What ``convac rank`` runs (its parser: :func:`convac.cli.parsers.rank`)."""

from __future__ import annotations

from .. import jsonio
from ..nets.network import ConvAC
from ..rank.cuts import min_cut_bound
from ..rank.methods import matricization_rank


def _run(args) -> int:
    import time

    import torch

    net = ConvAC(args.n_patches, args.n_channels, tuple(args.windows), tuple(args.ranks)
                 if len(args.ranks) > 1 else args.ranks[0], seed=args.seed,
                 dtype=torch.float64)
    start, cpu = time.perf_counter(), time.process_time()
    res = matricization_rank(net, args.partition, method=args.method,
                             max_bytes=int(args.max_gib * 2**30))
    print(jsonio.dumps({
        "rank": res.rank, "method": res.method, "certified": res.is_certified,
        "ranks_mod": res.ranks_mod, "margin": res.margin, "ambiguous": res.ambiguous,
        "reason": res.reason, "min_cut_bound": min_cut_bound(net, args.partition),
        "seconds": round(time.perf_counter() - start, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
    }))
    return 0
