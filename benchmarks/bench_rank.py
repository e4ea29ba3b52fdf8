"""Matricization ranks (``convac.matricize``, ``convac.rank``, ``convac.exact``).

Tracked numbers: the odd-even and left-right ranks of random HT networks (certified CP-rank
lower bounds) and their *deficit* from the theorem, ``theorem - measured``.  For generic
weights the deficit is 0 (COLT 2016, Thm 1); lower is better and any change is a bug.
Timings: dense, structured and exact rank.
"""

from __future__ import annotations

import torch

from convac import HTNet, matricization_rank

from ._common import require, require_rank_method, skip_if

DENSE_MAX_ENTRIES = 2**20
"""Dense ranks only where the coefficient tensor has at most this many entries."""

RANK_N = [2, 4, 8, 16]
RANK_M = [2, 3]
RANK_R = [2, 3]


def theorem_odd_even(n: int, m: int, r: int) -> int:
    """``min(r_0, M)^(N/2)`` (COLT 2016, Thm 1)."""
    return min(r, m) ** (n // 2)


def theorem_left_right(n: int, m: int, r: int) -> int:
    """Generic left-right rank of an HT with every rank ``r``: ``min(r, M^(N/2))``
    (the top cut carries ``r_{L-1} = r``; a half has ``M^(N/2)`` entries per function)."""
    return min(r, m ** (n // 2)) if n > 2 else min(r, m)


def pick_method(n: int, m: int) -> str:
    """``dense`` where the tensor is small, else ``auto`` (skipped where it is absent)."""
    if m**n <= DENSE_MAX_ENTRIES:
        return "dense"
    require_rank_method("auto")
    return "auto"


class HTRanks:
    """Odd-even and left-right ranks of a seeded random HT (float64, unshared).

    The ranks themselves: any change is a bug.  The deficits ``theorem - measured``:
    0 expected, lower is better (and any change is a bug).
    """

    params = (RANK_N, RANK_M, RANK_R)
    param_names = ["N", "M", "r"]
    unit = "rank"
    timeout = 300

    def setup(self, n, m, r):
        skip_if(theorem_odd_even(n, m, r) > 1024, "matricization side above 1024")
        self.method = pick_method(n, m)
        self.net = HTNet(n, m, r, seed=0, dtype=torch.float64)

    def _rank(self, partition):
        return int(matricization_rank(self.net, partition, method=self.method).rank)

    def track_odd_even_rank(self, n, m, r):
        """Odd-even rank, a lower bound on the CP width; ``min(r, M)^(N/2)`` expected.
        Any change is a bug."""
        return self._rank("odd-even")

    def track_left_right_rank(self, n, m, r):
        """Left-right rank, ``<= r_{L-1}``; ``min(r, M^(N/2))`` expected. Any change is
        a bug."""
        return self._rank("left-right")

    def track_odd_even_deficit(self, n, m, r):
        """``min(r, M)^(N/2) - odd-even rank``: 0 expected; lower is better."""
        return theorem_odd_even(n, m, r) - self._rank("odd-even")

    track_odd_even_deficit.unit = "rank deficit"

    def track_left_right_deficit(self, n, m, r):
        """``min(r, M^(N/2)) - left-right rank``: 0 expected; lower is better."""
        return theorem_left_right(n, m, r) - self._rank("left-right")

    track_left_right_deficit.unit = "rank deficit"


class RankMethods:
    """The odd-even rank of a seeded HT (ranks 2) by method: wall time and peak memory
    (lower is better) and the deficit from the theorem (0 expected, lower is better).
    ``exact`` runs on integer weights in [-100, 100] (``convac.exact.integer_weights_``).
    """

    params = (["dense", "structured", "exact"], [8, 16], [2, 3])
    param_names = ["method", "N", "M"]
    timeout = 300

    def setup(self, method, n, m):
        skip_if(method == "dense" and m**n > DENSE_MAX_ENTRIES,
                f"dense rank of {m}^{n} entries is too slow for the suite")
        require_rank_method(method)
        self.net = HTNet(n, m, 2, seed=0, dtype=torch.float64)
        if method == "exact":
            integer_weights_ = require("convac.exact", "integer_weights_")
            # a range wide enough to be generic: with -3..3 a singular 2x2 leaf is likely
            # (seed 0, N=16, M=2: rank 32 instead of 256)
            integer_weights_(self.net, -100, 100, 0)

    def time_rank(self, method, n, m):
        """Odd-even rank. Lower is better."""
        matricization_rank(self.net, "odd-even", method=method)

    def peakmem_rank(self, method, n, m):
        """Odd-even rank, peak resident memory of the process. Lower is better."""
        matricization_rank(self.net, "odd-even", method=method)

    def track_odd_even_deficit_by_method(self, method, n, m):
        """``min(2, M)^(N/2) -`` the odd-even rank this method finds: 0 expected (the
        methods must agree with the theorem); lower is better."""
        rank = int(matricization_rank(self.net, "odd-even", method=method).rank)
        return theorem_odd_even(n, m, 2) - rank

    track_odd_even_deficit_by_method.unit = "rank deficit"


class StructuredSingularValues:
    """Structured singular values of the odd-even matricization (no dense tensor)."""

    params = ([8, 16], [2, 3])
    param_names = ["N", "M"]
    timeout = 300

    def setup(self, n, m):
        self.fn = require("convac.rank", "structured_singular_values")
        self.net = HTNet(n, m, 2, seed=0, dtype=torch.float64)

    def time_structured_singular_values(self, n, m):
        """Odd-even singular values of an HT with ranks 2 (side 2^(N/2)). Lower is
        better."""
        self.fn(self.net, "odd-even")
