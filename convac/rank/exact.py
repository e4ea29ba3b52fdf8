"""Exact matricization rank over a prime field: a certified lower bound on CP-rank.

Every float is a dyadic rational ``m * 2^e``, so a network with float32/float64 weights
has a coefficient tensor ``A^y`` with rational entries whose denominators are powers of
two, and ``A^y mod p`` is well defined for every odd prime ``p``
(:func:`convac.rank.modp.residues`).  Reducing modulo ``p`` can only lose rank (a minor that
is nonzero mod ``p`` is a nonzero rational minor), so

``rank_GF(p) [A^y mod p]_{I,J} <= rank_Q [A^y]_{I,J} = rank_R [A^y]_{I,J} <= CP-rank(A^y)``.

The rank over GF(p) is computed exactly by the structured fold of :mod:`convac.rank.structured`
with :class:`ModField` plugged in: the same tree walk as the float computation, with
row echelon forms over GF(p) in place of SVDs, and the root core's rank by the blocked
elimination of :func:`convac.rank.modp.rank_mod` (float64 matrix products, exact).  Two
primes are run; both ranks are reported and the larger is the bound (they agree unless
a prime divides every maximal minor, which for a prime near ``2^21`` is rare).

Over the rationals (``field="Q"``): an integer-valued tensor (e.g. the certified grid
tensor of a generalized network, :mod:`convac.tensors.grid`) has its rank computed by
python-flint's fraction-free elimination (``fmpz_mat.rank``): the rank itself, not a bound.

Large square root cores (side :data:`KRON_MIN_SIDE` and up) whose root sums two
Kronecker terms are first decided from the terms (:func:`convac.rank.modp.kron_pair_nonsingular`:
python-flint's inverse and characteristic polynomial of factors up to 1024 on a side,
when the optional python-flint is installed); everything else is float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import validate
from ..nets.network import ConvAC
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.matricization import RankResult, matricize
from . import modp
from .cuts import min_cut_bound
from .structured import FloatField, predict_core_shape, root_core

__all__ = [
    "DEFAULT_PRIME",
    "DEFAULT_PRIMES",
    "ModField",
    "integer_weights_",
    "integer_network",
    "exact_rank",
]

DEFAULT_PRIMES = modp.DEFAULT_PRIMES
"""The two primes every exact rank is computed over (the largest below ``2^21``)."""

DEFAULT_PRIME = DEFAULT_PRIMES[0]


@torch.no_grad()
def integer_weights_(net: ConvAC, low: int = -100, high: int = 100, seed: int = 0) -> ConvAC:
    """Overwrite every weight of ``net`` with integers drawn uniformly from ``low..high``.

    In place and reproducible (a private generator seeded with ``seed``; the global RNG
    is untouched).  Small integers are exact in every float dtype, so the network's
    coefficient tensor has integer entries: handy for exact tests (:func:`exact_rank`
    accepts every float network; integers are not required).

    The default range is wide on purpose: with a narrow one (say ``-3..3``) zero weights
    and singular leaf blocks are common, and the (correct) exact rank of such a network
    falls below the generic value the theorems speak of.

    Parameters
    ----------
    net : ConvAC
    low, high : int
        Inclusive range, ``low <= high``, both within ``+-2^24`` (exact in float32).
    seed : int, default 0

    Returns
    -------
    ConvAC
        ``net`` itself.
    """
    net = validate.network(net)
    low = validate.integer(low, "low", -(2**24), 2**24)
    high = validate.integer(high, "high", -(2**24), 2**24)
    seed = validate.seed(seed)
    if low > high:
        raise validate.InvalidValueError(f"expected low <= high, got low={low}, high={high}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for w in net.weights:
        draw = torch.randint(low, high + 1, tuple(w.shape), generator=gen)  # w.shape
        w.copy_(draw.to(w.dtype))
    return net


def integer_network(*args, low: int = -100, high: int = 100, seed: int = 0,
                    **kwargs) -> ConvAC:
    """A float64 :class:`ConvAC` (same arguments) with seeded integer weights in
    ``low..high``; see :func:`integer_weights_`."""
    kwargs.setdefault("dtype", torch.float64)
    return integer_weights_(ConvAC(*args, **kwargs), low, high, seed)


class ModField:
    """GF(prime) arithmetic for :func:`convac.rank.structured.root_core`: residues as float64 in
    ``[0, prime)``, compression by row echelon forms (exact, margin ``inf``).

    Parameters
    ----------
    prime : int
        An odd prime below ``2^22`` (:func:`convac.rank.modp.check_prime`).
    """

    name = "exact"
    exact = True

    def __init__(self, prime: int):
        self.prime = modp.check_prime(prime)

    def weights(self, net: ConvAC, level: int) -> np.ndarray:
        """``(nodes_l, r_l, r_{l-1})`` residues of the exact (dyadic) weights."""
        w = FloatField.weights(net, level)  # exact: float32 -> float64 loses nothing
        return modp.residues(w, self.prime, f"level {level} weight")

    def node_weights(self, net: ConvAC) -> list[np.ndarray]:
        """Every node's ``(rank_out, rank_in)`` residues, by ``TreeNode.key``."""
        if net.is_tree:
            return [modp.residues(w, self.prime, f"node {k} weight")
                    for k, w in enumerate(FloatField.node_weights(net))]
        return [m for level in range(net.schedule.n_levels + 1)
                for m in self.weights(net, level)]

    def kron(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Channel-wise Kronecker product mod p (single products: below ``2^44``, exact)."""
        out = FloatField.kron(a, b)  # (r, p*s, q*t)
        return modp.remainder_(out, self.prime)

    def mix(self, weight: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """``(g, a), (a, p, q) -> (g, p, q)`` mod p."""
        a, p, q = pooled.shape
        flat = modp.mul_mod(weight, pooled.reshape(a, p * q), self.prime)  # (g, p*q)
        return flat.reshape(weight.shape[0], p, q)

    def add_to(self, acc: np.ndarray, term: np.ndarray) -> None:
        acc += term
        modp.remainder_(acc, self.prime)

    def compress(self, cores: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Cores ``(r, p, q) -> (r, p', q')`` on row echelon bases of ``[C[0] | ..]`` and
        ``[C[0]^T | ..]``: ``C[g] = B C'[g] D^T`` with ``B``, ``D`` of full column rank."""
        r, p, q = cores.shape
        empty = np.zeros((r, 0, 0))
        if p == 0 or q == 0:
            return empty, 0.0, math.inf
        hstack = cores.transpose(1, 0, 2).reshape(p, r * q)  # (p, r*q) = [C[0] | ..]
        rows = modp.echelon_rows(hstack, self.prime)  # (k, r*q)
        k = rows.shape[0]
        if k == 0:
            return empty, 0.0, math.inf
        cores = rows.reshape(k, r, q).transpose(1, 0, 2)  # (r, k, q)
        tstack = cores.transpose(2, 0, 1).reshape(q, r * k)  # (q, r*k) = [C[0]^T | ..]
        rows = modp.echelon_rows(tstack, self.prime)  # (k2, r*k)
        k2 = rows.shape[0]
        return rows.reshape(k2, r, k).transpose(1, 2, 0).copy(), 0.0, math.inf  # (r, k, k2)


def _primes(prime, primes) -> tuple:
    if prime is not None:
        if primes is not None:
            raise validate.InvalidValueError("give prime or primes, not both")
        primes = (prime,)
    primes = DEFAULT_PRIMES if primes is None else primes
    if isinstance(primes, (str, bytes)) or not hasattr(primes, "__iter__"):
        raise validate.InvalidTypeError(f"primes must be a sequence of primes, got {primes!r}")
    out = tuple(modp.check_prime(p) for p in primes)
    if not out:
        raise validate.InvalidValueError("primes is empty; expected at least one prime")
    return out


KRON_MIN_SIDE = 4096
"""Square root cores from this side up are first tried from their Kronecker terms
(:func:`_kron_full_rank`): milliseconds where the dense elimination takes seconds, and
the only route where the dense core exceeds the memory budget (side 65536: 32 GiB)."""


def _kron_full_rank(net, partition, output: int, prime: int, max_bytes: int,
                    cache) -> int | None:
    """The root core's side if the core is nonsingular mod ``prime`` by
    :func:`convac.rank.modp.kron_pair_nonsingular` on its two Kronecker terms (a root with
    two channels below it), else None (undecided or singular: the dense route decides)."""
    found = root_core(net, partition, output, ModField(prime), max_bytes, cache, terms=True)
    if found is None or found[0] is None:
        return None
    head, last = found
    if modp.kron_pair_nonsingular(head.cores, last.cores, prime):
        return head.cores.shape[1] * last.cores.shape[1]
    return None


def _tensor_residues(tensor, prime: int) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().numpy()
    return modp.residues(tensor, prime, "entry")


def _rational_rank(tensor, partition, max_bytes: int) -> RankResult:
    """Rank over Q of the matricization of an integer-valued tensor (python-flint)."""
    try:
        import flint  # optional extra: exact
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the exact rank over Q needs python-flint; install it with "
                          "`pip install python-flint` or `pip install convac[exact]`") from None
    values = torch.as_tensor(np.asarray(tensor.detach().cpu() if isinstance(tensor, torch.Tensor)
                                        else tensor), dtype=torch.float64)
    validate.check_shape_budget(tuple(values.shape), max_bytes, "integer matricization")
    if not (bool(torch.isfinite(values).all()) and bool((values == torch.round(values)).all())):
        raise validate.InvalidValueError(
            "field='Q' needs an integer-valued tensor (use integer weights, integer features "
            "and a rational pooling operator, or field='GF(p)')")
    mat = matricize(values, partition)  # (T^|I|, T^|J|)
    rows = [[int(x) for x in row] for row in mat.to(torch.int64).tolist()]
    rank = int(flint.fmpz_mat(rows).rank()) if mat.numel() else 0
    return RankResult(rank, "exact", None, None, math.inf, False,
                      "exact rank over Q of the integer matricization (python-flint "
                      "fmpz_mat.rank): no floating-point decision")


def exact_rank(tensor_or_net, partition="odd-even", rtol=None, output: int = 0,
               prime: int | None = None, max_bytes: int | None = DEFAULT_MAX_BYTES,
               primes=None, cache: dict | None = None, field: str = "GF(p)") -> RankResult:
    """Exact rank of ``[A]_{I,J}`` over GF(p): a certified lower bound on CP-rank.

    Parameters
    ----------
    tensor_or_net : ConvAC, or a tensor ``(M,) * N`` of integers or floats
        Any float32/float64 network (its weights are exact dyadic rationals), by the
        structured fold (no dense tensor); tensors are matricized and reduced mod p.
    partition : str, sequence of int or Partition
    rtol : None
        Exact ranks take no tolerance; anything else is an error.
    output : int, default 0
    prime : int, optional
        Run this one prime only (below ``2^22``; 2 only for integer values).
    max_bytes : int, optional
        Budget of the largest array (predicted before any work for networks; default 2 GiB).
    primes : sequence of int, optional
        The primes to run; default :data:`DEFAULT_PRIMES` (two; for a network the second
        runs only when the first falls below the min-cut bound, since a rank that
        reaches the bound is the real rank).
    cache : dict, optional
        For many partitions of one network: a dict kept between calls shares the
        subtrees' residue cores (see :func:`convac.rank.structured.root_core`); a new dict after any
        change of the weights.  Networks only.
    field : {"GF(p)", "Q"}, default "GF(p)"
        ``"Q"``: the rank over the rationals of an integer-valued tensor (python-flint
        ``fmpz_mat.rank``, fraction-free elimination), e.g. the certified grid tensor of a
        generalized network; tensors only, no primes.

    Returns
    -------
    RankResult
        ``method="exact"``, ``rtol=None``, no singular values, ``margin=inf``,
        ``ambiguous=False``, ``ranks_mod = ((p, rank mod p), ..)``; ``rank`` is the
        largest of them.  ``certified`` states the guarantee.

    Raises
    ------
    ValueError
        Non-finite weights or entries (naming the level or index and the value), a
        tolerance, a bad prime, or a predicted array above ``max_bytes``.

    Notes
    -----
    Every minor that is nonzero mod ``p`` is a nonzero rational, so
    ``rank_GF(p) <= rank_Q = rank_R <= CP-rank``: the result is a certified lower bound
    on the rank over the reals and on the width of any shallow (CP) network realising the
    tensor, with no floating-point decision anywhere.  It equals the real rank unless
    ``p`` divides all the maximal nonzero minors.
    """
    if rtol is not None:
        raise validate.InvalidValueError(
            f"the exact method takes no tolerance, expected rtol=None, got {rtol!r}")
    validate.option({"GF(p)": 0, "Q": 0}, field, "exact rank field")
    max_bytes = validate.max_bytes(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    if field == "Q":
        if isinstance(tensor_or_net, ConvAC) or prime is not None or primes is not None:
            raise validate.InvalidValueError(
                "field='Q' takes an integer-valued tensor and no primes; pass a network's "
                "grid tensor (convac.tensors.grid.grid_tensor), or use field='GF(p)'")
        return _rational_rank(tensor_or_net, partition, max_bytes)
    default_primes = prime is None and primes is None
    primes = _primes(prime, primes)
    ranks = []
    reached = ""
    if isinstance(tensor_or_net, ConvAC):
        net = tensor_or_net
        output = validate.output(net, output)
        # rank mod p <= real rank <= min-cut bound: a prime that reaches the bound decides
        # the real rank, and the default second prime could not change it (halves the
        # common case; primes given explicitly all run)
        bound = min_cut_bound(net, partition) if default_primes else None
        side = predict_core_shape(net, partition)
        for p in primes:
            full = None
            if side[-2] == side[-1] >= KRON_MIN_SIDE:
                full = _kron_full_rank(net, partition, output, p, max_bytes, cache)
            if full is not None:
                ranks.append(full)
                reached += (f"; GF({p}): nonsingular by the root's Kronecker-pair "
                            "determinant certificate (modp.kron_pair_nonsingular)")
            else:
                core = root_core(net, partition, output, ModField(p), max_bytes,
                                 cache).cores  # (p, q)
                ranks.append(modp.rank_mod(core, p, overwrite=True))
                del core  # one root core in memory at a time
            if ranks[-1] == bound:
                reached += (f"; it equals the min-cut bound {bound} (a proven upper bound), "
                           "so it is the real rank and the second default prime was skipped")
                break
        primes = primes[:len(ranks)]
    else:
        validate.check_shape_budget(np.shape(tensor_or_net), max_bytes, "residue tensor")
        for p in primes:
            mat = matricize(_tensor_residues(tensor_or_net, p), partition)  # (M^|I|, M^|J|)
            ranks.append(modp.rank_mod(np.ascontiguousarray(mat), p, overwrite=True))
    found = ", ".join(f"GF({p}): {r}" for p, r in zip(primes, ranks, strict=True))
    return RankResult(
        max(ranks), "exact", None, None, math.inf, False,
        f"exact rank of the matricization over {found}: a proven lower bound on its rank "
        "over the rationals (the exact values of the weights or entries), hence on CP-rank "
        f"(certified: no floating-point tolerance){reached}",
        ranks_mod=tuple(zip(primes, ranks, strict=True)),
    )
