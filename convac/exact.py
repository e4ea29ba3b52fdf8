"""Exact matricization rank over a prime field: a certified lower bound on CP-rank.

For a ConvAC with integer weights, the coefficient tensor ``A^y`` has integer entries.
Reducing them modulo a prime ``p`` can only lose rank (a nonzero minor over GF(p) is a
nonzero integer minor), so

``rank_GF(p) [A^y mod p]_{I,J}  <=  rank_R [A^y]_{I,J}  <=  CP-rank(A^y)``.

The rank over GF(p) is computed exactly, with integer arithmetic only (no floating-point
tolerance), by the structured recursion of :mod:`convac.rank` run over GF(p): every node
keeps cores ``C_v[g]`` with ``[T_v[g]]_{I,J} = B_v C_v[g] D_v^T`` for full-column-rank
``B_v, D_v`` (never formed); a parent's cores are ``sum_a W[g, a] kron_c C_c[a]`` and
are compressed by reduced row echelon forms of ``[C[0] | C[1] | ..]`` and of
``[C[0]^T | C[1]^T | ..]``.  Full-column-rank factors do not change ranks, so the rank of
the root core is the rank of the matricization mod p.

Requires python-flint (``pip install python-flint`` or ``convac[exact]``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .matricize import RANK_METHODS, RankResult, matricize
from .network import ConvAC
from .rank import _must_shrink as must_shrink
from .rank import check_core_budget, row_leaves
from .tensors import DEFAULT_MAX_BYTES

__all__ = [
    "DEFAULT_PRIME",
    "integer_weights_",
    "integer_network",
    "exact_rank",
]

DEFAULT_PRIME = 2_147_483_647
"""``2^31 - 1``, the largest prime whose products of two residues fit in int64."""

_MAX_EXACT_FLOAT = 2**53


def _flint():
    try:
        import flint
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the exact rank method needs python-flint; install it with "
            "`pip install python-flint` or `pip install convac[exact]`"
        ) from err
    return flint


def _check_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


@torch.no_grad()
def integer_weights_(net: ConvAC, low: int = -100, high: int = 100, seed: int = 0) -> ConvAC:
    """Overwrite every weight of ``net`` with integers drawn uniformly from ``low..high``.

    In place and reproducible (a private generator seeded with ``seed``; the global RNG
    is untouched).  Small integers are exact in every float dtype, so the network's
    coefficient tensor has integer entries and :func:`exact_rank` applies.

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
    if not isinstance(net, ConvAC):
        raise ValueError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    low, high = _check_int(low, "low"), _check_int(high, "high")
    seed = _check_int(seed, "seed")
    if low > high:
        raise ValueError(f"expected low <= high, got low={low}, high={high}")
    if max(abs(low), abs(high)) > 2**24:
        raise ValueError(f"integer weights must lie within +-2^24, got low={low}, high={high}")
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


def _integer_level(net: ConvAC, level: int, prime: int) -> np.ndarray:
    """Weights of ``level`` reduced mod ``prime``, int64 in ``[0, prime)``.

    Returns
    -------
    ndarray of int64, shape ``(nodes_l, r_l, r_{l-1})``

    Raises
    ------
    ValueError
        If a weight is not an integer (naming the level, index and value).
    """
    w = net.level_weights(level).detach().to("cpu", torch.float64).numpy()  # (nodes, r, r')
    idx = _first_non_integer(w)
    if idx is not None:
        raise ValueError(
            f"the exact method needs integer weights (|w| < 2^53); level {level} holds "
            f"{float(w[idx])!r} at node/channel index {idx}; use convac.integer_weights_(net)"
        )
    return np.mod(w.astype(np.int64), prime)  # (nodes, r, r'), in [0, prime)


def _first_non_integer(values: np.ndarray) -> tuple | None:
    """Index of the first entry that is not an integer exactly representable in float64
    (non-finite, ``|x| >= 2^53`` or fractional), or None."""
    bad = ~np.isfinite(values) | (np.abs(values) >= _MAX_EXACT_FLOAT)
    bad |= np.where(bad, True, values != np.round(np.where(bad, 0.0, values)))
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _rref_rows(mat: np.ndarray, prime: int) -> np.ndarray:
    """Nonzero rows of the reduced row echelon form of ``mat`` over GF(prime).

    Parameters
    ----------
    mat : ndarray of int64, shape ``(p, n)``, entries in ``[0, prime)``

    Returns
    -------
    ndarray of int64, shape ``(k, n)``, ``k = rank``; ``mat = B @ rows`` with ``B`` of
    full column rank.
    """
    p, n = mat.shape
    if p == 0 or n == 0:
        return np.zeros((0, n), dtype=np.int64)
    flint = _flint()
    echelon, k = flint.nmod_mat(mat.tolist(), prime).rref()
    rows = [[int(x) for x in row] for row in echelon.tolist()[:k]]
    return np.array(rows, dtype=np.int64).reshape(k, n)  # (k, n)


def _compress_mod(cores: np.ndarray, prime: int) -> np.ndarray:
    """Exact compression of cores ``(r, p, q)`` to ``(r, p', q')`` over GF(prime)."""
    r, p, q = cores.shape
    hstack = cores.transpose(1, 0, 2).reshape(p, r * q)  # (p, r*q) = [C[0] | ..]
    rows = _rref_rows(hstack, prime)  # (k, r*q)
    k = rows.shape[0]
    if k == 0:
        return np.zeros((r, 0, 0), dtype=np.int64)
    cores = rows.reshape(k, r, q).transpose(1, 0, 2)  # (r, k, q)
    tstack = cores.transpose(2, 0, 1).reshape(q, r * k)  # (q, r*k) = [C[0]^T | ..]
    rows = _rref_rows(tstack, prime)  # (k2, r*k)
    k2 = rows.shape[0]
    return rows.reshape(k2, r, k).transpose(1, 2, 0).copy()  # (r, k, k2)


def _pool_mod(kids, prime: int, max_bytes: int) -> tuple[np.ndarray, int]:
    """Product pooling over GF(prime), ``P[a] = kron_c C_c[a]``, compressed between factors.

    Parameters
    ----------
    kids : list of (ndarray of int64, shape ``(r, p_c, q_c)``, int)
        Children's cores and bounds on the rank of each channel's core.

    Returns
    -------
    ndarray of int64, shape ``(r, p, q)``, and its channel rank bound
    """
    acc, channel_rank = kids[0]
    for i, (cores, rank) in enumerate(kids[1:], start=2):
        r, p, q = acc.shape
        _, s_, t = cores.shape
        check_core_budget((r, p * s_, q * t), max_bytes, "exact core")
        # single products of residues < 2^31: below 2^62, exact in int64
        acc = acc[:, :, None, :, None] * cores[:, None, :, None, :]  # (r, p, s, q, t)
        acc = np.remainder(acc, prime, out=acc).reshape(r, p * s_, q * t)  # (r, p*s, q*t)
        channel_rank = min(channel_rank * rank, p * s_, q * t)
        if i < len(kids) and must_shrink(acc.shape, channel_rank):  # more factors to come
            acc = _compress_mod(acc, prime)
    return acc, channel_rank  # (r, p, q), int


def _root_core_mod(net: ConvAC, partition, output: int, prime: int,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Root core over GF(prime): ``rank(core) = rank([A^y mod prime]_{I,J})``."""
    s = net.schedule
    is_row, _ = row_leaves(net, partition)
    weights = [_integer_level(net, level, prime) for level in range(s.n_levels + 1)]
    nodes = []
    for pos in range(s.n_patches):
        vec = weights[0][pos]  # (r_0, M)
        cores = vec[:, :, None] if is_row[pos] else vec[:, None, :]  # (r_0, M, 1) / (r_0, 1, M)
        nodes.append((_compress_mod(cores, prime), 1))  # a vector per channel: rank 1
    for level, w in enumerate(s.windows, start=1):
        weight = weights[level]  # (nodes_l, r_l, r_{l-1})
        top = level == s.n_levels
        if top:
            weight = weight[:, output : output + 1]  # (1, 1, r_{L-1})
        merged = []
        for j in range(s.nodes[level]):
            kids = nodes[j * w : (j + 1) * w]
            if any(k[0].shape[1] == 0 for k in kids):  # a zero child: the node is zero
                if top:
                    return np.zeros((0, 0), dtype=np.int64)
                merged.append((np.zeros((weight.shape[1], 0, 0), dtype=np.int64), 0))
                continue
            if top:  # fold the output weights into the smallest factor, then sum channels
                last = min(range(w), key=lambda c: kids[c][0][0].size)
                kids = list(kids)
                kids[last] = (weight[j, 0][:, None, None] * kids[last][0] % prime, kids[last][1])
                pooled, _ = _pool_mod(kids, prime, max_bytes)  # (r_{L-1}, p, q)
                core = pooled[0].copy()  # (p, q)
                for a in range(1, pooled.shape[0]):
                    core += pooled[a]  # both in [0, prime): the sum is below 2 * prime
                    np.subtract(core, prime, out=core, where=core >= prime)
                return core
            pooled, rank = _pool_mod(kids, prime, max_bytes)  # (r_{l-1}, p, q)
            cores = np.zeros((weight.shape[1],) + pooled.shape[1:], dtype=np.int64)  # (r_l, p, q)
            for a in range(weight.shape[2]):
                coeff = weight[j, :, a]  # (r_l,)
                if coeff.any():
                    cores = (cores + coeff[:, None, None] * pooled[a][None] % prime) % prime
            cores = _compress_mod(cores, prime)  # (r_l, p', q')
            merged.append((cores, min(weight.shape[2] * rank, *cores.shape[1:])))
        nodes = merged
    raise AssertionError("unreachable: the top level returns")  # pragma: no cover


def _check_prime(prime) -> int:
    prime = _check_int(prime, "prime")
    if not 2 <= prime < 2**31 or not _flint().fmpz(prime).is_prime():
        raise ValueError(f"prime must be a prime below 2^31, got {prime}")
    return prime


def _tensor_mod(tensor, prime: int) -> np.ndarray:
    arr = np.asarray(tensor.detach().cpu() if isinstance(tensor, torch.Tensor) else tensor)
    if not np.issubdtype(arr.dtype, np.integer):
        flt = arr.astype(np.float64)
        idx = _first_non_integer(flt)
        if idx is not None:
            raise ValueError(
                f"the exact method needs an integer tensor; entry {idx} is {float(flt[idx])!r}"
            )
        arr = flt.astype(np.int64)
    return np.mod(arr.astype(np.int64), prime)


def exact_rank(tensor_or_net, partition="odd-even", rtol=None, output: int = 0,
               prime: int = DEFAULT_PRIME, max_bytes: int = DEFAULT_MAX_BYTES) -> RankResult:
    """Exact rank of ``[A]_{I,J}`` over GF(prime): a proven lower bound on CP-rank.

    Parameters
    ----------
    tensor_or_net : ConvAC with integer weights, or an integer tensor ``(M,) * N``
        Networks are handled by the structured recursion (no dense tensor); integer
        tensors are matricized and reduced mod ``prime``.
    partition : str, sequence of int or Partition
    rtol : None
        Exact ranks take no tolerance; anything else is an error.
    output : int, default 0
    prime : int, default ``2^31 - 1``
        A prime below ``2^31``.
    max_bytes : int, default 2 GiB
        Budget of any one int64 array of cores (networks).

    Returns
    -------
    RankResult
        ``method="exact"``, ``rtol=None``, no singular values, ``margin=inf``,
        ``ambiguous=False``; ``certified`` states the guarantee.

    Raises
    ------
    ValueError
        For non-integer weights or entries (naming the level or index and the value),
        a tolerance, or a bad prime.

    Notes
    -----
    Every minor of an integer matrix that is nonzero mod ``p`` is a nonzero integer, so
    ``rank_GF(p) <= rank_Q = rank_R <= CP-rank``: the result is a certified lower bound
    on the rank over the reals and on the width of any shallow (CP) network realising the
    tensor, with no floating-point decision anywhere.  It equals the real rank unless
    ``p`` divides all the maximal nonzero minors, which for random integer weights and a
    prime near ``2^31`` is very unlikely.
    """
    if rtol is not None:
        raise ValueError(f"the exact method takes no tolerance, expected rtol=None, got {rtol!r}")
    prime = _check_prime(prime)
    flint = _flint()
    if isinstance(tensor_or_net, ConvAC):
        net = tensor_or_net
        if isinstance(output, bool) or not isinstance(output, (int, np.integer)) or not (
            0 <= output < net.n_outputs
        ):
            raise ValueError(f"output must be an int in 0..{net.n_outputs - 1}, got {output!r}")
        core = _root_core_mod(net, partition, int(output), prime, max_bytes)  # (p, q)
    else:
        core = matricize(_tensor_mod(tensor_or_net, prime), partition)  # (M^|I|, M^|J|)
    rank = 0 if core.size == 0 else int(flint.nmod_mat(core.tolist(), prime).rank())
    return RankResult(
        rank, "exact", None, None, math.inf, False,
        f"exact rank over GF({prime}) of the integer matricization: a proven lower bound "
        "on its rank over the reals, hence on CP-rank (no floating-point tolerance)",
    )


def _exact_method(tensor_or_net, partition, rtol=None, **kwargs) -> RankResult:
    return exact_rank(tensor_or_net, partition, rtol=rtol, **kwargs)


RANK_METHODS["exact"] = _exact_method
