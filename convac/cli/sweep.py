"""What ``convac sweep`` runs (its parser: :func:`convac.cli.parsers.sweep`)."""

from __future__ import annotations

from ..fit.sweep import _markdown, ht_fits_cp, width_sweep, write_converse, write_sweep
from ..nets.network import CPNet, HTNet


def _run(args) -> int:
    import torch


    teacher = HTNet(args.patches, args.channels, args.rank, seed=args.seed,
                    dtype=torch.float64)
    widths = list(range(args.min_width, args.max_width + 1))
    result = width_sweep(teacher, widths, target=args.target, n_restarts=args.restarts,
                         seed=args.seed, tol=args.tol, n_iter_max=args.iters,
                         method=args.method)
    title = f"CP fit of HT(N={args.patches}, M={args.channels}, r={args.rank})"
    paths = write_sweep(result, args.out, title)
    print(_markdown(result, title), end="")
    print("wrote " + ", ".join(paths.values()))
    if args.converse_width:
        cp = CPNet(args.patches, args.channels, args.converse_width, seed=args.seed,
                   dtype=torch.float64)
        converse = [ht_fits_cp(cp, rank, seed=args.seed, steps=args.converse_steps,
                               lr=args.converse_lr, progress=args.progress)
                    for rank in range(1, args.converse_width + 1)]
        more = write_converse(converse, args.out,
                              f"HT students fitting CP(N={args.patches}, M={args.channels}, "
                              f"K={args.converse_width})")
        print("wrote " + ", ".join(more.values()))
    bad = [r.width for r in result.rows if r.fit_error < r.floor * (1 - 1e-9)]
    if bad:
        print(f"error: fit below the Eckart-Young floor at widths {bad} (a bug)")
        return 1
    return 0
