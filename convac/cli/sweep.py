"""What ``convac sweep`` runs (its parser: :func:`convac.cli.parsers.sweep`)."""

from __future__ import annotations

import sys

import torch

from ..fit.floor import floor_tolerance
from ..fit.sweep import (
    _markdown,
    fits_below_floor,
    ht_fits_cp,
    width_sweep,
    write_converse,
    write_sweep,
)
from ..nets.network import CPNet, HTNet
from ..progress import wrote


def _run(args) -> int:
    teacher = HTNet(args.patches, args.channels, args.rank, seed=args.seed,
                    dtype=torch.float64)
    widths = list(range(args.min_width, args.max_width + 1))
    result = width_sweep(teacher, widths, target=args.target, n_restarts=args.restarts,
                         seed=args.seed, tol=args.tol, n_iter_max=args.iters,
                         method=args.method, max_bytes=int(args.max_gib * 2**30),
                         progress=not args.quiet)
    title = f"CP fit of HT(N={args.patches}, M={args.channels}, r={args.rank})"
    paths = write_sweep(result, args.out, title)
    print(_markdown(result, title), end="")
    wrote(args, *paths.values())
    if args.converse_width:
        cp = CPNet(args.patches, args.channels, args.converse_width, seed=args.seed,
                   dtype=torch.float64)
        converse = [ht_fits_cp(cp, rank, seed=args.seed, steps=args.converse_steps,
                               lr=args.converse_lr, progress=args.progress)
                    for rank in range(1, args.converse_width + 1)]
        more = write_converse(converse, args.out,
                              f"HT students fitting CP(N={args.patches}, M={args.channels}, "
                              f"K={args.converse_width})")
        wrote(args, *more.values())
    n_entries = teacher.n_channels ** teacher.n_patches
    bad = fits_below_floor(result, n_entries)
    if bad:
        print(f"convac sweep: error: fit below the Eckart-Young floor by more than rounding "
              f"({floor_tolerance(n_entries):.2g}) at widths {bad} (a bug)", file=sys.stderr)
        return 1
    return 0
