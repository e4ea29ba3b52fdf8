"""Test helpers: per-dtype tolerances (one place, ARCHITECTURE.md "Conventions") and the network
configurations every oracle test runs over."""

from fractions import Fraction

import numpy as np
import torch

import convac

TOLERANCES = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
}


def assert_close(actual, expected, dtype=torch.float64):
    torch.testing.assert_close(actual, expected, check_dtype=False, **TOLERANCES[dtype])


def assert_close_to_reference(actual, reference, dtype):
    """``actual`` (computed in ``dtype``) against a float64 ``reference``.

    float32 is measured relative to the largest output: its sums cancel, so small outputs
    lose relative accuracy in every forward path alike.  float64 is compared entrywise.
    """
    if dtype == torch.float64 or reference.numel() == 0:
        return assert_close(actual, reference)
    scale = reference.abs().max().clamp_min(torch.finfo(torch.float64).tiny)
    return assert_close(actual.double() / scale, reference / scale, dtype)


# (name, constructor) pairs over the configurations the issue names: CP, HT, truncated,
# window 4, shared and unshared, contiguous and mirror geometry, several outputs.
NET_CASES = {
    "cp": lambda s, sh, g: convac.CPNet(6, 3, 4, n_outputs=2, shared=sh, geometry=g, seed=s),
    "ht": lambda s, sh, g: convac.HTNet(8, 2, (2, 3, 2), n_outputs=2, shared=sh, geometry=g,
                                        seed=s),
    "truncated": lambda s, sh, g: convac.ConvAC(8, 2, convac.truncated_windows(8, 2), (3, 2),
                                                shared=sh, geometry=g, seed=s),
    "window4": lambda s, sh, g: convac.HTNet(16, 2, 2, window=4, shared=sh, geometry=g, seed=s),
    "mixed": lambda s, sh, g: convac.ConvAC(12, 2, (2, 3, 2), (2, 3, 2), shared=sh,
                                            geometry=g, seed=s),
}


def make_net(case, seed=0, shared=False, geometry="contiguous"):
    return NET_CASES[case](seed, shared, geometry).double()


def partition_for(kind, n, seed, stream=1000):
    """Named partitions, or a seeded random one with 1..N-1 row modes (``stream`` keeps
    the random partitions of different test modules apart)."""
    if kind != "random":
        return kind
    rng = np.random.default_rng(stream + seed)
    size = int(rng.integers(1, n))
    return sorted(rng.choice(n, size=size, replace=False).tolist())


def fraction_rank(mat) -> int:
    """Rank over Q by Gaussian elimination on Fractions of the stored values (every float
    is a dyadic rational, converted exactly): an oracle independent of flint and of p."""
    rows = [[Fraction(v) for v in row] for row in np.asarray(mat).tolist()]
    rank, n_cols = 0, len(rows[0]) if rows else 0
    for col in range(n_cols):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(rank + 1, len(rows)):
            f = rows[i][col] / rows[rank][col]
            if f:
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


def assert_order_one(out, log_abs=None, sign=None):
    """The default-scale guarantee: every output finite, median ``|output|`` in
    ``[1e-3, 1e3]``, and, given a float64 log-space forward ``(log_abs, sign)``, ``out``
    agreeing with it (to ``out``'s dtype) with the same signs."""
    assert torch.isfinite(out).all(), f"{int((~torch.isfinite(out)).sum())} non-finite outputs"
    median = float(out.abs().median())
    assert 1e-3 <= median <= 1e3, median
    if log_abs is not None:
        assert_close_to_reference(out, sign * torch.exp(log_abs), out.dtype)
        assert torch.equal(sign[out != 0], torch.sign(out[out != 0]).double())
