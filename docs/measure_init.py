"""Rows of the tables in docs/initialisation.md: for default networks (weights seed 0) on a
batch of 1024 standard-normal features (seed 123), one thread: median |output| of the
float32 forward (over its finite outputs), log10 of the median |output| of the float64
log-space forward, and the fractions of float32 outputs that are non-finite and zero.

``python docs/measure_init.py`` prints the balanced ConvACs' rows, ``python
docs/measure_init.py others`` those of irregular trees, tensor trains, RACs and mixed
networks."""

import math
import sys

import numpy as np
import torch

import convac
from convac.nets.mixed import MixedConvAC, common_nodes, dilated_order, swapped_dilations

torch.set_num_threads(1)
BATCH = 1024


def row(name: str, net, length: int | None = None) -> str:
    """One row; ``length`` is the sequence length of a RAC."""
    gen = torch.Generator().manual_seed(123)
    shape = (length, net.n_channels) if length else (net.n_patches, net.n_channels)
    x = torch.randn(BATCH, *shape, generator=gen)  # (B, N or T, M)
    with torch.no_grad():
        out = net(x)[:, 0]  # float32
        log_abs, _ = net.double().forward_log(x.double())
    finite = torch.isfinite(out)
    median = float(out[finite].abs().median()) if finite.any() else math.nan
    log10 = float(log_abs[:, 0].median()) / math.log(10)
    bad, zero = float((~finite).float().mean()), float((out == 0).float().mean())
    return f"| {name} | {median:.3g} | {log10:.2f} | {bad:.4f} | {zero:.3f} |"


def main() -> None:
    for n in (16, 32, 64, 128, 256, 512, 1024):
        print(row(f"HT N={n} M=r=16", convac.HTNet(n, 16, 16, seed=0)), flush=True)
    for n in (512, 1024):
        print(row(f"HT N={n} M=16 r=2", convac.HTNet(n, 16, 2, seed=0)), flush=True)
    for n in (16, 64, 256, 1024):
        for k in (1, 16, 256):
            print(row(f"CP N={n} M=16 K={k}", convac.CPNet(n, 16, k, seed=0)), flush=True)
    for n, windows, r, shared in ((64, (4, 4, 4), 16, False), (256, (16, 16), 16, False),
                                  (1024, (4,) * 5, 8, True), (1024, (32, 32), 16, False)):
        name = f"ConvAC N={n} windows={windows} r={r}{' shared' if shared else ''}"
        print(row(name, convac.ConvAC(n, 16, windows, r, shared=shared, seed=0)), flush=True)


def random_tree(leaves: list, rng: np.random.Generator):
    """A tree over ``leaves`` with 2 to 5 children per node, split at random."""
    if len(leaves) == 1:
        return leaves[0]
    arity = int(rng.integers(2, min(5, len(leaves)) + 1))
    cuts = np.sort(rng.choice(np.arange(1, len(leaves)), size=arity - 1, replace=False))
    return tuple(random_tree(part.tolist(), rng) for part in np.split(np.asarray(leaves), cuts))


def others() -> None:
    for n in (64, 256, 1024):
        rng = np.random.default_rng(0)
        tree, ranks = random_tree(list(range(n)), rng), {}
        net = convac.ConvAC(n, 16, tree=tree, seed=0,
                            ranks=lambda sub, ranks=ranks, rng=rng: ranks.setdefault(
                                sub, int(rng.integers(2, 17))))
        print(row(f"irregular tree N={n} (arity 2-5, ranks 2-16)", net), flush=True)
    for n in (16, 64, 256, 1024):
        print(row(f"TTNet N={n} M=r=16", convac.TTNet(n, 16, 16, seed=0)), flush=True)
    for depth in (1, 2, 3):
        for t in (16, 64, 256, 1024):
            print(row(f"RAC depth {depth} T={t} M=R=16", convac.RAC(16, 16, depth, seed=0), t),
                  flush=True)
    for n in (16, 64, 256):
        levels = round(math.log2(n))
        nets = [convac.ConvAC(n, 16, (2,) * levels, 16, seed=i,
                              geometry=dilated_order(swapped_dilations(levels, group)))
                for i, group in enumerate((1, 2) if levels % 2 == 0 else (1, levels))]
        mixed = MixedConvAC(nets[0], nets[1], common_nodes(*nets))
        print(row(f"MixedConvAC N={n} r=16, the trees' own defaults", mixed), flush=True)
        mixed.float().reset_parameters(0)
        print(row(f"MixedConvAC N={n} r=16, reset_parameters(0)", mixed), flush=True)


if __name__ == "__main__":
    others() if sys.argv[1:] == ["others"] else main()
