"""Structured matricization rank and singular values, without the ``M^N`` tensor.

Every node ``v`` of the pooling tree holds, for each of its output channels ``g``, its
sub-tensor matricized with rows = its row leaves (modes in ``I``) and columns = its
column leaves (modes in ``J``) in factored form ``U_v C_v[g] V_v^T``: ``U_v`` and
``V_v`` have orthonormal columns (implicitly Kronecker products of the children's bases,
never formed) and the cores ``C_v[g]`` are small.  A parent's core is

``C_v[g] = sum_a W[g, a] kron_c C_c[a]``

(the order of the Kronecker factors only permutes rows and columns), then compressed
onto orthonormal bases of the column space of ``[C_v[0] | C_v[1] | ..]`` and the row
space of ``[C_v[0]; C_v[1]; ..]``.  At the root (the one requested output) the bases
are orthonormal, so the core's singular values *are* the nonzero singular values of
``[A^y]_{I,J}``.  Cores carry a separate log-scale so that long products neither
overflow nor underflow.

Details that keep it exact and small:

* the bases are taken with every channel scaled to unit norm, so a direction is dropped
  only when it is below ``max(shape) * eps`` relative to every channel it occurs in (a
  parent may rescale channels arbitrarily);
* a wide window (a CP net pools all N leaves at once) is pooled factor by factor, and a
  partial product is compressed whenever a structural bound on its channels' ranks
  guarantees that it shrinks, so a width-K CP net never forms more than ``K``-sided cores;
* no array of cores may exceed ``max_bytes`` (default 2 GiB): a clear error instead of
  an out-of-memory kill when the rank itself is astronomically large.

Registers ``"structured"`` and ``"auto"`` in :data:`convac.matricize.RANK_METHODS`.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (Thm 1 and its proof).  W. Hackbusch, "Tensor Spaces and Numerical
Tensor Calculus", Springer 2012 (HT format, orthonormal bases).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from .matricize import RANK_METHODS, RankResult, numerical_rank, resolve_partition
from .network import ConvAC
from .tensors import DEFAULT_MAX_BYTES

__all__ = [
    "structured_singular_values",
    "structured_rank",
    "auto_rank",
    "AUTO_DENSE_MAX_ENTRIES",
    "row_leaves",
    "check_core_budget",
    "BudgetError",
]

_EPS = float(np.finfo(np.float64).eps)

AUTO_DENSE_MAX_ENTRIES = 4096
"""``method="auto"`` uses the dense method when ``M^N`` is at most this, else structured."""


def _check_net(net) -> ConvAC:
    if not isinstance(net, ConvAC):
        raise ValueError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    return net


def _check_output(net: ConvAC, output) -> int:
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
        raise ValueError(f"output must be an int in 0..{net.n_outputs - 1}, got {output!r}")
    if not 0 <= output < net.n_outputs:
        raise ValueError(f"output must be in 0..{net.n_outputs - 1}, got {output}")
    return int(output)


def row_leaves(net: ConvAC, partition) -> tuple[np.ndarray, object]:
    """Which tree positions are row leaves of ``partition``.

    Returns
    -------
    is_row : ndarray of bool, shape ``(N,)``
        ``is_row[p]`` is True when tree position ``p`` (patch ``net.order[p]``) is a row
        mode.
    part : Partition
        The resolved partition (patch indices).
    """
    part = resolve_partition(partition, net.n_patches)
    order = net.order.cpu().numpy()  # (N,), patch at each tree position
    return np.isin(order, np.asarray(part.rows)), part


def level_weights_f64(net: ConvAC, level: int) -> np.ndarray:
    """``net.level_weights(level)`` as a float64 ndarray, shape ``(nodes_l, r_l, r_{l-1})``."""
    return net.level_weights(level).detach().to("cpu", torch.float64).numpy()


_MAX_CHANNEL_RATIO = 1e200
"""Channels smaller than the largest by more than this are treated as zero."""


def _channel_norms(cores: np.ndarray) -> np.ndarray:
    """Frobenius norm of each channel, ``(r, p, q) -> (r,)``, safe from under/overflow."""
    flat = cores.reshape(cores.shape[0], -1)  # (r, p*q)
    amax = np.abs(flat).max(axis=1)  # (r,)
    safe = np.where(amax > 0, amax, 1.0)
    return amax * np.linalg.norm(flat / safe[:, None], axis=1)  # (r,)


def _compress(cores: np.ndarray) -> tuple[np.ndarray, float]:
    """Project cores onto orthonormal bases of their joint column and row spaces.

    The bases come from ``[C[0] | .. | C[r-1]]`` and ``[C[0]; ..; C[r-1]]`` with every
    channel scaled to unit norm first: a parent may scale channels by any weight, so a
    direction is dropped only when it is below ``max(shape) * eps`` relative to every
    channel it occurs in (scale invariance per channel; the exact spaces are unchanged).

    Parameters
    ----------
    cores : ndarray, shape ``(r, p, q)``

    Returns
    -------
    cores : ndarray, shape ``(r, p', q')``, ``p' <= p``, ``q' <= q``
        Scaled so that the largest channel has unit Frobenius norm.
    log_scale : float
        Log of the factor divided out (``0`` for zero cores, which come back empty).
    """
    r, p, q = cores.shape
    if p == 0 or q == 0:
        return np.zeros((r, 0, 0)), 0.0
    if not np.all(np.isfinite(cores)):
        raise ValueError("a structured core is not finite: non-finite weights")
    norms = _channel_norms(cores)  # (r,)
    top = float(norms.max())
    if top == 0:
        return np.zeros((r, 0, 0)), 0.0
    cores = cores / top  # (r, p, q), largest channel of unit norm
    rel = norms / top  # (r,)
    balance = np.where(rel * _MAX_CHANNEL_RATIO > 1, 1.0 / np.maximum(rel, 1e-300), 0.0)  # (r,)
    hstack = (cores * balance[:, None, None]).transpose(1, 0, 2).reshape(p, r * q)  # (p, r*q)
    u, s, _ = np.linalg.svd(hstack, full_matrices=False)  # u: (p, k), s: (k,)
    keep = int(np.count_nonzero(s > max(hstack.shape) * _EPS * s[0]))
    cores = np.einsum("pk,rpq->rkq", u[:, :keep], cores)  # (r, p', q)
    vstack = (cores * balance[:, None, None]).reshape(r * keep, q)  # (r*p', q)
    _, s2, vt = np.linalg.svd(vstack, full_matrices=False)  # vt: (k2, q)
    keep2 = int(np.count_nonzero(s2 > max(vstack.shape) * _EPS * s2[0]))
    cores = cores @ vt[:keep2].T  # (r, p', q')
    return cores, math.log(top)


class BudgetError(ValueError):
    """A structured or exact core would exceed the memory budget ``max_bytes``."""


def check_core_budget(shape, max_bytes: int, what: str = "structured core") -> None:
    """Raise :class:`BudgetError` if a float64/int64 array of ``shape`` exceeds
    ``max_bytes``."""
    size = 8 * math.prod(shape)
    if size > max_bytes:
        raise BudgetError(
            f"the {what} would have shape {tuple(shape)} ({size / 2**30:.3g} GiB), above the "
            f"memory budget max_bytes={max_bytes} ({max_bytes / 2**30:.3g} GiB); the rank may "
            "be that large (see convac.min_cut_bound): raise max_bytes if it fits"
        )


def _batched_kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Channel-wise Kronecker product: ``(r, p, q), (r, s, t) -> (r, p*s, q*t)``."""
    r, p, q = a.shape
    _, s_, t = b.shape
    return np.einsum("apq,ast->apsqt", a, b).reshape(r, p * s_, q * t)  # (r, p*s, q*t)


def _must_shrink(shape, channel_rank: int) -> bool:
    """Whether compressing cores ``(r, p, q)`` is sure to shrink them.

    ``[C[0] | ..]`` and ``[C[0]; ..]`` have rank ``<= r * channel_rank`` (a bound on the
    rank of every ``C[a]``, from the structure); when that is not below ``p`` or ``q``
    only a degenerate network would shrink, and the SVDs of large partial products would
    cost more than they save.
    """
    r, p, q = shape
    return r * channel_rank < max(p, q)


def _pool(kids, max_bytes: int) -> tuple[np.ndarray, float, int]:
    """Product pooling of children's cores, ``P[a] = kron_c C_c[a]``, compressed between
    factors so that wide windows (a CP net's N children) stay as small as their rank.

    Parameters
    ----------
    kids : list of (ndarray ``(r, p_c, q_c)``, float, int)
        Children's cores, log-scales and bounds on the rank of each channel's core.

    Returns
    -------
    ndarray, shape ``(r, p, q)``, its log-scale and its channel rank bound.
    """
    acc, log_scale, channel_rank = kids[0]
    for i, (cores, scale, rank) in enumerate(kids[1:], start=2):
        r, p, q = acc.shape
        check_core_budget((r, p * cores.shape[1], q * cores.shape[2]), max_bytes)
        acc = _batched_kron(acc, cores)  # (r, p*p_c, q*q_c)
        log_scale += scale
        channel_rank = min(channel_rank * rank, *acc.shape[1:])  # rank(kron) = product
        if i < len(kids) and _must_shrink(acc.shape, channel_rank):  # more factors to come
            acc, extra = _compress(acc)
            log_scale += extra
    return acc, log_scale, channel_rank


def _root_core(net: ConvAC, partition, output: int,
               max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[np.ndarray, float, object]:
    """Core ``C`` and log-scale of ``[A^y]_{I,J} = exp(log_scale) U C V^T``."""
    s = net.schedule
    is_row, part = row_leaves(net, partition)
    leaf_w = level_weights_f64(net, 0)  # (N, r_0, M)
    nodes = []  # per node: (cores (r, p, q), log_scale)
    for pos in range(s.n_patches):
        vec = leaf_w[pos]  # (r_0, M)
        cores = vec[:, :, None] if is_row[pos] else vec[:, None, :]  # (r_0, M, 1) / (r_0, 1, M)
        nodes.append((*_compress(cores), 1))  # a vector per channel: rank 1
    for level, w in enumerate(s.windows, start=1):
        weight = level_weights_f64(net, level)  # (nodes_l, r_l, r_{l-1})
        top = level == s.n_levels
        merged = []
        for j in range(s.nodes[level]):
            kids = nodes[j * w : (j + 1) * w]
            if any(k[0].shape[1] == 0 for k in kids):  # a zero child: the node is zero
                if top:
                    return np.zeros((0, 0)), 0.0, part
                merged.append((np.zeros((weight.shape[1], 0, 0)), 0.0, 0))
                continue
            pooled, log_scale, rank = _pool(kids, max_bytes)  # (r_{l-1}, p, q)
            if top:
                core = np.einsum("a,apq->pq", weight[j, output], pooled)  # (p, q)
                return core, log_scale, part
            cores = np.einsum("ga,apq->gpq", weight[j], pooled)  # (r_l, p, q)
            cores, extra = _compress(cores)
            rank = min(weight.shape[2] * rank, *cores.shape[1:])  # sums of r_{l-1} terms
            merged.append((cores, log_scale + extra, rank))
        nodes = merged
    raise AssertionError("unreachable: the top level returns")  # pragma: no cover


def _core_singular_values(core: np.ndarray) -> np.ndarray:
    """Singular values of a core, descending (empty for an empty core)."""
    if core.size == 0:
        return np.zeros(0)
    # torch's LAPACK (MKL in the CPU wheels) is several times faster than numpy's here
    return torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(core))).numpy()  # (k,)


def structured_singular_values(net: ConvAC, partition, output: int = 0,
                               max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Nonzero singular values of ``[A^y]_{I,J}`` from the weights, no dense tensor.

    Parameters
    ----------
    net : ConvAC
        Any schedule, geometry and weight sharing.
    partition : str, sequence of int or Partition
        Row modes ``I`` (patch indices), see :func:`convac.resolve_partition`.
    output : int, default 0
        Which output ``y``.
    max_bytes : int, default 2 GiB
        Budget of any one array of cores; above it a ``ValueError`` names the shape.

    Returns
    -------
    ndarray, float64, shape ``(k,)``, descending
        The singular values of the root core, ``k <= min(M^|I|, M^|J|)``; every other
        singular value of ``[A^y]_{I,J}`` is zero (directions dropped by the compression
        carry singular values below ``max(shape) * eps`` relative to their node).
        Values beyond the float64 range come back as ``inf`` or ``0``.

    Notes
    -----
    Cost: per node, Kronecker products of the children's cores and two SVDs of the
    stacked cores; every core side is bounded by the rank of the sub-matricization it
    represents, so the root core is about ``rank x rank`` (odd-even of an HT with ranks 2
    over N=24 patches: 4096 x 4096, seconds).  The Eckart-Young floor of a width-K CP
    fit is ``sqrt(sum(sv[K:] ** 2))``.
    """
    net = _check_net(net)
    output = _check_output(net, output)
    core, log_scale, _ = _root_core(net, partition, output, max_bytes)
    sv = _core_singular_values(core)  # (k,)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return np.exp(np.log(sv) + log_scale)  # (k,), the scale applied in log space


def _structured_rtol(core_shape, n_levels: int) -> float:
    """Default tolerance: ``max(core side) * eps * (L + 1)``.

    The structured computation is backward stable per node: each level adds an error of
    order ``side * eps`` relative to the matrix norm, so the tolerance scales with the
    core side and the depth, not with the (astronomic) side of the full matricization.
    """
    return max(max(core_shape), 1) * _EPS * (n_levels + 1)


def structured_rank(net, partition="odd-even", rtol: float | None = None, output: int = 0,
                    max_bytes: int = DEFAULT_MAX_BYTES, **kwargs) -> RankResult:
    """Numerical rank of ``[A^y]_{I,J}`` from the structured singular values.

    Parameters
    ----------
    net : ConvAC
    partition : str, sequence of int or Partition
    rtol : float, optional
        Singular values ``> rtol * sigma_max`` count.  Default
        ``max(core side) * eps * (L + 1)`` (see :func:`_structured_rtol`); the value used
        is in the result.
    output : int, default 0
    max_bytes : int, default 2 GiB
        Budget of any one array of cores.

    Returns
    -------
    RankResult
        ``method="structured"``, with the singular values (those of the root core; if
        the true values overflow float64 the core's, scaled so that the largest channel
        of the root has norm one, which the result's ``certified`` text then says), the
        margin and the ambiguity flag of :func:`convac.numerical_rank`.
    """
    if kwargs:
        raise ValueError(f"unexpected arguments for the structured method: {sorted(kwargs)}")
    net = _check_net(net)
    output = _check_output(net, output)
    core, log_scale, _ = _root_core(net, partition, output, max_bytes)
    sv = _core_singular_values(core)  # (k,), scale-free: the rank only needs ratios
    if rtol is None:
        rtol = _structured_rtol(core.shape, net.schedule.n_levels)
    result = numerical_rank(sv, rtol, core.shape, "structured")
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        scaled = np.exp(np.log(result.singular_values) + log_scale)  # (k,)
    if scaled.size and not (np.isfinite(scaled[0]) and scaled[0] > 0):
        return replace(result, certified=result.certified
                       + f"; singular values scaled by exp({-log_scale:.6g}) (float64 range)")
    return replace(result, singular_values=scaled)


def auto_rank(tensor_or_net, partition="odd-even", rtol: float | None = None, **kwargs):
    """Dense rank for tensors and tiny networks (``M^N <= AUTO_DENSE_MAX_ENTRIES``),
    structured otherwise; the result's ``method`` names the one used."""
    dense = RANK_METHODS["dense"]
    if not isinstance(tensor_or_net, ConvAC):
        return dense(tensor_or_net, partition, rtol=rtol, **kwargs)
    if tensor_or_net.n_channels ** tensor_or_net.n_patches <= AUTO_DENSE_MAX_ENTRIES:
        return dense(tensor_or_net, partition, rtol=rtol, **kwargs)
    return structured_rank(tensor_or_net, partition, rtol=rtol, **kwargs)


RANK_METHODS["structured"] = structured_rank
RANK_METHODS["auto"] = auto_rank
