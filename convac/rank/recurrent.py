"""Ranks of recurrent circuits and tensor trains: start-end separation ranks of RACs
(certified over prime fields), and the ranks of the tensor formats (TT-ranks over the
sequential cuts, HT-ranks over the clusters of the balanced tree).

The start-end separation rank of a function ``y(x_1 .. x_T)`` of a RAC (Levine, Sharir
& Shashua) is the separation rank w.r.t. ``S = {1 .. T/2}`` and ``E = {T/2+1 .. T}``; for
the functions a RAC realises (``y = sum A[d] prod_t f_{d_t}(x_t)`` with linearly
independent ``f_d``) it is the rank of the matricization ``[A]_{S,E}``: the ``left-right``
partition.  A RAC is not a tree of convs (a deep one feeds every hidden state to two
places), so its coefficient tensor comes from one-hot forward passes (``M^T`` of them),
exactly modulo a prime: every product of :func:`convac.nets.recurrent.rac_forward` is
reduced mod ``p``, and the rank over GF(p) is a certified lower bound on the rank over
the reals (:mod:`convac.rank.exact`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import validate
from ..nets.recurrent import MAX_MOD_WIDTH, RAC, rac_forward
from ..tensors.coefficient import one_hot_tensor
from ..tensors.matricization import RankResult, matricize, resolve_partition
from . import modp
from .methods import matricization_rank

__all__ = ["rac_coefficient_tensor", "rac_residue_tensor", "rac_exact_rank",
           "sequential_partitions", "balanced_clusters", "tt_ranks", "ht_ranks",
           "RAC_MAX_BYTES"]

RAC_MAX_BYTES = 256 * 1024**2
"""Default budget of a RAC's dense coefficient tensor (``M^T`` float64 entries)."""


def _rac(rac) -> RAC:
    if not isinstance(rac, RAC):
        raise validate.InvalidTypeError(
            f"expected a convac.nets.recurrent.RAC, got {type(rac).__name__}")
    return rac


@torch.no_grad()
def rac_coefficient_tensor(rac: RAC, n_steps: int, output: int = 0,
                           max_bytes: int = RAC_MAX_BYTES) -> torch.Tensor:
    """The float64 coefficient tensor ``A[d_1 .. d_T]`` of a RAC after ``T = n_steps``
    steps: its outputs on every one-hot sequence.

    Returns
    -------
    Tensor, float64, shape ``(M,) * T``
    """
    rac = _rac(rac)
    output = validate.output(rac, output)
    groups = [[w.detach().to("cpu", torch.float64) for w in g] if isinstance(g, list)
              else g.detach().to("cpu", torch.float64) for g in rac.weight_groups()]
    return one_hot_tensor(lambda feats: rac_forward(feats, *groups)[:, output],
                          rac.n_channels, validate.positive_int(n_steps, "n_steps"),
                          max_bytes=max_bytes)


@torch.no_grad()
def rac_residue_tensor(rac: RAC, n_steps: int, prime: int, output: int = 0,
                       max_bytes: int = RAC_MAX_BYTES) -> np.ndarray:
    """The coefficient tensor of a RAC modulo ``prime``, computed exactly.

    Every weight (an exact dyadic rational) is mapped to GF(prime)
    (:func:`convac.rank.modp.residues`) and the recurrence runs with every product
    reduced (float64 residues: exact for widths up to
    :data:`~convac.nets.recurrent.MAX_MOD_WIDTH`).

    Returns
    -------
    ndarray, float64 residues in ``[0, prime)``, shape ``(M,) * T``
    """
    rac = _rac(rac)
    output = validate.output(rac, output)
    prime = modp.check_prime(prime)
    if max(rac.widths) > MAX_MOD_WIDTH:
        raise validate.InvalidValueError(
            f"exact RAC tensors need widths <= {MAX_MOD_WIDTH} (float64 sums of residue "
            f"products stay exact), got {rac.widths}")

    def res(w: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(modp.residues(w.detach().cpu().numpy(), prime, "weight"))

    groups = [[res(w) for w in g] if isinstance(g, list) else res(g)
              for g in rac.weight_groups()]
    tensor = one_hot_tensor(lambda feats: rac_forward(feats, *groups, prime=prime)[:, output],
                            rac.n_channels, validate.positive_int(n_steps, "n_steps"),
                            max_bytes=max_bytes)
    return tensor.numpy()


def rac_exact_rank(rac: RAC, n_steps: int, partition="left-right", output: int = 0,
                   primes=None, max_bytes: int = RAC_MAX_BYTES) -> RankResult:
    """Exact rank of ``[A]_{I,J}`` of a RAC's coefficient tensor over prime fields: a
    certified lower bound on its rank over the reals (for ``left-right``, on the
    start-end separation rank of the function).

    Parameters
    ----------
    rac : RAC
    n_steps : int
        Sequence length ``T`` (the tensor's order).
    partition : str or sequence of int, default "left-right"
        ``"left-right"`` is the start-end partition (``T`` even).
    output : int, default 0
    primes : sequence of int, optional
        Default :data:`convac.rank.exact.DEFAULT_PRIMES` (both run; the larger rank is
        the bound).
    max_bytes : int, default 256 MiB

    Returns
    -------
    RankResult
        ``method="exact"``, ``ranks_mod`` per prime.
    """
    n_steps = validate.positive_int(n_steps, "n_steps", 2)
    part = resolve_partition(partition, n_steps)
    primes = modp.DEFAULT_PRIMES if primes is None else tuple(primes)
    if not primes:
        raise validate.InvalidValueError("primes is empty; expected at least one prime")
    ranks = []
    for p in primes:
        res = rac_residue_tensor(rac, n_steps, p, output, max_bytes)
        mat = np.ascontiguousarray(matricize(res, part))  # (M^|I|, M^|J|)
        ranks.append(modp.rank_mod(mat, p, overwrite=True))
    found = ", ".join(f"GF({p}): {r}" for p, r in zip(primes, ranks, strict=True))
    return RankResult(
        max(ranks), "exact", None, None, math.inf, False,
        f"exact rank of the RAC's matricization over {found} (one-hot forward passes "
        "reduced mod p): a proven lower bound on its rank over the reals",
        ranks_mod=tuple(zip(primes, ranks, strict=True)))


def sequential_partitions(n_modes: int) -> list[tuple[int, ...]]:
    """The cuts of a tensor train, ``{0 .. k-1} | {k .. N-1}`` for ``k = 1 .. N-1``: the
    TT-ranks are the ranks of these matricizations."""
    n = validate.positive_int(n_modes, "n_modes", 2)
    return [tuple(range(k)) for k in range(1, n)]


def balanced_clusters(n_modes: int) -> list[tuple[int, ...]]:
    """The clusters of the balanced binary tree over ``N = 2^L`` modes, leaves first, the
    root's two children last (the root itself is no partition): the HT-ranks are the
    ranks of these matricizations."""
    n = validate.positive_int(n_modes, "n_modes", 2)
    if n & (n - 1):
        raise validate.InvalidValueError(
            f"the balanced binary tree needs a power of two modes, got {n}")
    out, size = [], 1
    while size < n:
        out += [tuple(range(j, j + size)) for j in range(0, n, size)]
        size *= 2
    return out


def _ranks(net_or_tensor, parts, method: str, **options) -> list[int]:
    return [int(matricization_rank(net_or_tensor, list(rows), method, **options))
            for rows in parts]


def tt_ranks(net_or_tensor, n_modes: int, method: str = "exact", **options) -> list[int]:
    """Ranks of the sequential cuts (the TT-ranks ``r_1 .. r_{N-1}``) of a network's
    coefficient tensor or of a tensor, by :func:`convac.matricization_rank`."""
    return _ranks(net_or_tensor, sequential_partitions(n_modes), method, **options)


def ht_ranks(net_or_tensor, n_modes: int, method: str = "exact", **options) -> list[int]:
    """Ranks over the clusters of the balanced binary tree (the HT-ranks), in the order of
    :func:`balanced_clusters`."""
    return _ranks(net_or_tensor, balanced_clusters(n_modes), method, **options)
