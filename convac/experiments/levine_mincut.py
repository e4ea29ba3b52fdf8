"""Levine, Yakira, Cohen & Shashua (ICLR 2018): is the min-cut bound on matricization
rank tight?

The grid (the paper's App. D setup as the task that asked for this reproduction described
it; the appendix text itself could not be retrieved, see ``PAPER``): deep ConvACs over ``N = 16``
inputs with ``M = 2`` channels, size-2 pooling (``L = 4`` levels), each width
``r_0 .. r_3`` drawn from the small primes ``(2, 3, 5, 7)`` (``4^4 = 256`` width
patterns), one output, seeded random integer weights; every balanced partition
``|I| = |J| = 8`` counted once (``I`` holds mode 0): ``C(16, 8) / 2 = 6435``.  In all
``256 * 6435 = 1,647,360`` configurations.

Each configuration compares the exact rank of ``[A]_{I,J}`` over GF(p) for the default
primes near ``2^21`` (the second only where the first falls below the bound; each a
certified lower bound on the real rank, :func:`convac.exact_rank` through
:func:`convac.matricization_rank` with ``method="exact"``) with
:func:`convac.min_cut_bound` (a proven upper bound): the verdict is ``tight`` (equal),
``below`` (rank < bound) or ``above``, which contradicts the theorem and makes the run fail
loudly (:class:`~.runner.ExperimentBugError`).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

from ..nets.network import HTNet
from ..rank.bounds import min_cut_bound
from ..rank.exact import integer_weights_
from ..rank.methods import matricization_rank
from ..validate import InvalidValueError, integer
from .levine_summary import (
    GRID_SIZE,
    N_CHANNELS,
    N_PATCHES,
    PAPER,
    PRIMES,
    format_summary,
    partitions,
    summarize,
    throughput,
)
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "check", "summarize", "format_summary", "throughput",
           "partitions", "PAPER", "GRID_SIZE", "quick_counts"]

WEIGHT_SEED = 1000
WEIGHT_RANGE = 2**20
"""Integer weights are drawn from ``-WEIGHT_RANGE .. WEIGHT_RANGE``.  The default range of
:func:`convac.integer_weights_` (``+-100``) is too narrow here: over 256 networks of 16
leaf blocks, singular ``2 x 2`` blocks and zero weights occur (measured: the network of
widths 2.3.2.5 drew the leaf ``[[6, 42], [9, 63]]`` and half its partitions fell below the
bound; 2.2.2.7 and 2.2.5.7 drew a zero in a ``2 x 2`` level-1 matrix, 18-20% below): that
is non-generic weights, not a failure of the bound's tightness."""

def _patterns(primes: tuple, levels: int) -> tuple:
    return tuple(itertools.product(primes, repeat=levels))


@functools.lru_cache(maxsize=64)
def _network(ranks: tuple, seed: int, n: int, m: int, weight_range: int = WEIGHT_RANGE):
    """The seeded integer network, whether it is generic in the checkable sense (no
    zero weight and every node's weight matrix of full rank), and its subtree cache for
    :func:`convac.exact_rank` (a worker keeps it while it works on the pattern).  Both
    failures occurred with
    weights in ``+-100`` and put whole width patterns below the bound (2.3.2.5: a
    singular leaf block; 2.2.2.7 and 2.2.5.7: a zero in a ``2 x 2`` level-1 matrix);
    the check is conservative (with ``+-100``, a zero somewhere in a large matrix is
    common and usually harmless).  With ``+-2^20`` none of the 256 networks fails it."""

    net = HTNet(n, m, list(ranks), dtype=torch.float64)
    integer_weights_(net, -weight_range, weight_range, seed=seed)
    full = True
    for w in net.weights:
        mats = w.detach().numpy()  # (nodes, r_l, r_{l-1}) or (Y, r_{L-1})
        mats = mats if mats.ndim == 3 else mats[None]
        # entries below 2^21: float64 products are exact, matrix_rank is decided exactly
        full &= all(np.linalg.matrix_rank(a) == min(a.shape) for a in mats)
        full &= bool((mats != 0).all())
    # the subtree cache of exact_rank: a pattern's 6435 partitions share its subtrees
    return net, bool(full), {}


def compute(config: dict) -> dict:
    """Exact rank and min-cut bound of one (widths, partition) configuration."""

    net, full, cache = _network(tuple(config["ranks"]), config["seed"], config["n"],
                                config["m"], config.get("range", 100))
    rows = config["rows"]
    bound = int(min_cut_bound(net, rows))
    # exact_rank's default primes: the second runs only where the first falls below the
    # bound (a rank mod p that reaches it is the real rank)
    rank = int(matricization_rank(net, rows, method="exact", cache=cache))
    verdict = "tight" if rank == bound else ("below" if rank < bound else "above")
    return {"rank": rank, "bound": bound, "verdict": verdict, "full_rank_weights": full}


def check(config: dict, result: dict) -> str | None:
    """A rank above the min-cut bound contradicts the theorem: a bug."""
    if result["rank"] > result["bound"]:
        return (f"exact rank {result['rank']} exceeds the min-cut bound {result['bound']} "
                f"for ranks {config['ranks']}, rows {config['rows']}")
    return None


def experiment(n: int = N_PATCHES, m: int = N_CHANNELS, primes=PRIMES,
               weight_seed: int = WEIGHT_SEED, weight_range: int = WEIGHT_RANGE,
               batch_size: int = 256) -> Experiment:
    """The grid: width patterns (pattern-major, so a batch shares one network) x balanced
    partitions.  The weights of pattern ``k`` are integers in ``+-weight_range`` seeded
    with ``weight_seed + k``."""
    n, m = integer(n, "n", minimum=2), integer(m, "m", minimum=1)
    weight_range = integer(weight_range, "weight_range", minimum=1)
    primes = tuple(integer(p, "primes[]", minimum=1) for p in primes)
    levels = round(math.log2(n))
    if 2**levels != n:
        raise InvalidValueError(f"n must be a power of 2 (size-2 pooling), got {n}")
    patterns = _patterns(primes, levels)
    parts = partitions(n)

    def config(i: int) -> dict:
        k, j = divmod(i, len(parts))
        return {"n": n, "m": m, "ranks": list(patterns[k]), "rows": list(parts[j]),
                "seed": weight_seed + k, "range": weight_range}

    def key(c: dict) -> str:
        mask = sum(1 << r for r in c["rows"])
        return (f"r{'.'.join(map(str, c['ranks']))}|I{mask:0{(n + 3) // 4}x}|s{c['seed']}"
                f"|w{c.get('range', 100)}")

    return Experiment(
        "levine-mincut", len(patterns) * len(parts), config, key, compute, check,
        batch_size=integer(batch_size, "batch_size", minimum=1),
        options={"n": n, "m": m, "primes": list(primes), "weight_seed": weight_seed,
                 "weight_range": weight_range},
    )


def quick_counts(sample: int = 200, seed: int = 0) -> dict:
    """The seeded quick size (tests, asv): ``sample`` configurations run in-process."""

    return summarize(evaluate(experiment(), sample, seed))["total"]
