"""Matricization ranks (``convac.tensors.matricization``, ``convac.rank.structured``,
``convac.rank.exact``, ``convac.rank.methods``).

Tracked numbers: the odd-even and left-right ranks of random HT networks (CP-rank lower
bounds) and their *deficit* from the theorem, ``theorem - measured``, with the measured
rank certified (exact over GF(p)) wherever floats cannot decide.  For generic weights
the deficit is 0 (COLT 2016, Thm 1); lower is better and any change is a bug.
Timings: dense, structured, exact and auto rank; the exact elimination against LAPACK's
LU.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from convac import matricization_rank

from ._common import (
    cache_each,
    cached,
    convac_net,
    declared_unit,
    ht_net,
    require,
    require_rank_method,
    skip_if,
)


def dense_max_entries() -> int:
    """Dense ranks only where the coefficient tensor has at most this many entries: the
    threshold of the ``auto`` method (``AUTO_DENSE_MAX_ENTRIES``), declared once in the
    package (in ``convac.rank`` in commits from before the rank-method registry)."""
    try:
        return require("convac.rank.methods", "AUTO_DENSE_MAX_ENTRIES")
    except NotImplementedError:
        return require("convac.rank", "AUTO_DENSE_MAX_ENTRIES")

RANK_N = [2, 4, 8, 16]
RANK_M = [2, 3]
RANK_R = [2, 3]


def _theory():
    return require("convac.rank.theory")


def pick_method(n: int, m: int) -> str:
    """``dense`` where the tensor is tiny, else ``exact`` (certified; skipped where it is
    absent)."""
    if m**n <= dense_max_entries():
        return "dense"
    require_rank_method("exact")
    return "exact"


class HTRanks:
    """Odd-even and left-right ranks of a seeded random HT (float64, unshared), certified
    (exact over GF(p)) beyond tiny sizes.

    The ranks themselves: any change is a bug.  The deficits ``theorem - measured``:
    0 expected, lower is better (and any change is a bug).

    Each rank is computed once (``setup_cache``), not once per tracked number.
    """

    params = (RANK_N, RANK_M, RANK_R)
    param_names = ["N", "M", "r"]
    unit = declared_unit("rank")

    def setup_cache(self):
        return cache_each(itertools.product(*self.params), self._ranks)

    @staticmethod
    def _ranks(n, m, r):
        """``{partition: (theorem, certified rank)}`` for odd-even and left-right."""
        theory = _theory()
        skip_if(theory.ht_odd_even_rank(n, m, r) > 1024, "matricization side above 1024")
        method = pick_method(n, m)
        net = ht_net(n, m, r)
        theorem = {"odd-even": theory.ht_odd_even_rank(n, m, r),
                   "left-right": theory.ht_left_right_rank(n, m, r)}
        return {p: (theorem[p], int(matricization_rank(net, p, method=method).rank))
                for p in theorem}

    def setup(self, cache, n, m, r):
        self.ranks = cached(cache, (n, m, r))

    def track_odd_even_rank(self, cache, n, m, r):
        """Odd-even rank, a lower bound on the CP width; ``min(r, M)^(N/2)`` expected.
        Any change is a bug."""
        return self.ranks["odd-even"][1]

    def track_left_right_rank(self, cache, n, m, r):
        """Left-right rank, ``<= r_{L-1}``; ``min(r, M^(N/2))`` expected. Any change is
        a bug."""
        return self.ranks["left-right"][1]

    def track_odd_even_deficit(self, cache, n, m, r):
        """``min(r, M)^(N/2) - odd-even rank``: 0 expected; lower is better."""
        theorem, rank = self.ranks["odd-even"]
        return theorem - rank

    track_odd_even_deficit.unit = declared_unit("rank deficit")

    def track_left_right_deficit(self, cache, n, m, r):
        """``min(r, M^(N/2)) - left-right rank``: 0 expected; lower is better."""
        theorem, rank = self.ranks["left-right"]
        return theorem - rank

    track_left_right_deficit.unit = declared_unit("rank deficit")


DEFICIT_WINDOWS = {16: (2, 2, 2, 2), 20: (2, 2, 5), 24: (2, 2, 2, 3)}
"""Schedules with a first window of 2 (so Thm 1's ``min(r_0, M)^(N/2)`` applies)."""


class CertifiedDeficits:
    """``min(2, M)^(N/2) -`` the certified (exact over two primes) odd-even rank of
    ``ConvAC(N, M, windows, 2)`` at N = 16, 20, 24 and M = 2, 3, 16: the sizes where
    float64 fails.  0 expected; lower is better, any change is a bug.

    The ranks are computed once (``setup_cache``, about 30 CPU s in all: within the
    config's default timeout of 300 s).
    """

    params = ([16, 20, 24], [2, 3, 16])
    param_names = ["N", "M"]
    unit = declared_unit("rank deficit")

    def setup_cache(self):
        return cache_each(itertools.product(*self.params), self._deficit)

    @staticmethod
    def _deficit(n, m):
        """(theorem - certified rank, distinct ranks over the primes - 1)."""
        theory = _theory()
        exact_rank = require("convac.rank.exact", "exact_rank")
        res = exact_rank(convac_net(n, m, DEFICIT_WINDOWS[n], 2), "odd-even")
        return (theory.ht_odd_even_rank(n, m, 2) - res.rank,
                len({r for _, r in res.ranks_mod}) - 1)

    def setup(self, cache, n, m):
        self.deficit, self.disagreement = cached(cache, (n, m))

    def track_certified_odd_even_deficit(self, cache, n, m):
        """Theorem minus the certified odd-even rank: 0 expected; lower is better."""
        return self.deficit

    def track_prime_disagreement(self, cache, n, m):
        """Distinct ranks over the two primes, minus one: 0 expected (a prime dividing
        every maximal minor would show here); lower is better."""
        return self.disagreement

    track_prime_disagreement.unit = declared_unit("count")


class RankMethods:
    """The odd-even rank of a seeded HT (ranks 2) by method: wall time and peak memory
    (lower is better) and the deficit from the theorem.  Every method runs on the same
    float64 weights (``exact`` takes their exact dyadic values).
    """

    params = (["dense", "structured", "exact", "auto"], [8, 16], [2, 3])
    param_names = ["method", "N", "M"]

    def setup(self, method, n, m):
        skip_if(method == "dense" and m**n > 2**20,
                f"dense rank of {m}^{n} entries is too slow for the suite")
        require_rank_method(method)
        self.theory = _theory()
        self.net = ht_net(n, m, 2)

    def time_rank(self, method, n, m):
        """Odd-even rank. Lower is better."""
        matricization_rank(self.net, "odd-even", method=method)

    def peakmem_rank(self, method, n, m):
        """Odd-even rank, peak resident memory of the process. Lower is better."""
        matricization_rank(self.net, "odd-even", method=method)

    def track_odd_even_deficit_by_method(self, method, n, m):
        """``min(2, M)^(N/2) -`` the odd-even rank this method finds, where the method
        decides it: an *ambiguous* float rank (flagged by its own margin) counts 0, a
        clear wrong one shows.  0 expected; lower is better."""
        res = matricization_rank(self.net, "odd-even", method=method)
        if res.ambiguous:
            return 0
        return self.theory.ht_odd_even_rank(n, m, 2) - int(res.rank)

    track_odd_even_deficit_by_method.unit = declared_unit("rank deficit")


class CertifiedLargeRank:
    """Certified odd-even ranks whose dense root core would not fit the budget: the
    root's two Kronecker terms decide them (``modp.kron_pair_nonsingular``).
    ``ConvAC(32, 2, (2,) * 5, 2)`` (65536, terms of 256 on a side) and
    ``ConvAC(28, 64, (2, 2, 7), 2)`` (16384, a root window of 7 cut into terms of 64 and
    256).  Time: lower is better; the deficit from the min-cut bound: 0 expected, any
    change is a bug."""

    params = (["N32-M2-w2x5", "N28-M64-w2-2-7"],)
    param_names = ["net"]
    NETS = {"N32-M2-w2x5": (32, 2, (2,) * 5), "N28-M64-w2-2-7": (28, 64, (2, 2, 7))}
    BUDGET = 2**28
    """256 MiB: far below either dense core (32 GiB and 2 GiB)."""

    def setup(self, net):
        require_rank_method("exact")
        require("convac.rank.modp", "kron_pair_nonsingular")
        if net == "N28-M64-w2-2-7":  # commits before the balanced cut need the dense core
            require("convac.rank.structured", "_term_split")
        n, m, windows = self.NETS[net]
        self.net = convac_net(n, m, windows, 2)
        self.bound = require("convac.rank.cuts", "min_cut_bound")(self.net, "odd-even")

    def _rank(self):
        return matricization_rank(self.net, "odd-even", method="exact",
                                  max_bytes=self.BUDGET)

    def time_certified_rank(self, net):
        """The exact odd-even rank within 256 MiB. Lower is better."""
        self._rank()

    def track_certified_deficit(self, net):
        """Min-cut bound minus the certified rank: 0 expected, any change is a bug."""
        return self.bound - int(self._rank().rank)

    track_certified_deficit.unit = declared_unit("rank deficit")


class StructuredSingularValues:
    """Structured singular values of the odd-even matricization (no dense tensor)."""

    params = ([8, 16], [2, 3])
    param_names = ["N", "M"]

    def setup(self, n, m):
        self.fn = require("convac.rank.structured", "structured_singular_values")
        self.net = ht_net(n, m, 2)

    def time_structured_singular_values(self, n, m):
        """Odd-even singular values of an HT with ranks 2 (side 2^(N/2)). Lower is
        better."""
        self.fn(self.net, "odd-even")


class EliminationVsLU:
    """Rank mod p (``convac.rank.modp.rank_mod``, p = 2^21 - 9, one BLAS thread) of a random
    ``n x n`` residue matrix, full rank or of rank ``n/2``, against LAPACK's LU
    (``scipy.linalg.lu_factor``: the same ``2n^3/3`` operations) of a float64 matrix of
    the same side, in the same process.

    ``track_time_per_lu``: best CPU time of the rank over best CPU time of the LU (three
    each at 2048, two at 4096, interleaved; CPU time because the machines are shared).
    Residues in, rank out: nothing is prepared outside the timed call.  Lower is better;
    the goal is ``<= 2`` (half of LU's throughput or more).
    """

    params = ([2048, 4096], ["full", "deficient"])
    param_names = ["n", "profile"]
    unit = declared_unit("time ratio")

    def setup(self, n, profile):
        self.rank_mod, mul_mod, primes = require("convac.rank.modp", "rank_mod", "mul_mod",
                                                 "DEFAULT_PRIMES")
        self.prime = primes[0]
        rng = np.random.default_rng(n)
        if profile == "full":
            self.mat = rng.integers(0, self.prime, (n, n)).astype(np.float64)
        else:
            left = rng.integers(0, self.prime, (n, n // 2)).astype(np.float64)
            right = rng.integers(0, self.prime, (n // 2, n)).astype(np.float64)
            self.mat = mul_mod(left, right, self.prime)  # (n, n), rank n/2
        self.floats = rng.standard_normal((n, n))

    def track_time_per_lu(self, n, profile):
        """Best rank time over best LU time, CPU seconds, one thread. Lower is better."""
        with threadpool_limits(limits=1):
            rank = lu = float("inf")
            for _ in range(3 if n <= 2048 else 2):
                start = time.process_time()
                self.rank_mod(self.mat, self.prime)
                rank = min(rank, time.process_time() - start)
                start = time.process_time()
                scipy.linalg.lu_factor(self.floats, check_finite=False)
                lu = min(lu, time.process_time() - start)
        return rank / lu
