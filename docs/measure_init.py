"""Rows of the table in docs/initialisation.md: for default networks (weights seed 0) on a
batch of 1024 standard-normal features (seed 123), one thread: median |output| of the
float32 forward (over its finite outputs), log10 of the median |output| of the float64
log-space forward, and the fractions of float32 outputs that are non-finite and zero."""

import math

import torch

import convac

torch.set_num_threads(1)
BATCH = 1024


def row(name: str, net: convac.ConvAC) -> str:
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(BATCH, net.n_patches, net.n_channels, generator=gen)  # (B, N, M)
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


if __name__ == "__main__":
    main()
