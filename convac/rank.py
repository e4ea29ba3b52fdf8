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

Registers ``"structured"`` and ``"auto"`` in :data:`convac.matricize.RANK_METHODS`.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (Thm 1 and its proof).  W. Hackbusch, "Tensor Spaces and Numerical
Tensor Calculus", Springer 2012 (HT format, orthonormal bases and Gramians).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .matricize import RANK_METHODS, RankResult, numerical_rank, resolve_partition
from .network import ConvAC

__all__ = [
    "structured_singular_values",
    "structured_rank",
    "auto_rank",
    "AUTO_DENSE_MAX_ENTRIES",
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


def _compress(cores: np.ndarray) -> tuple[np.ndarray, float]:
    """Project cores onto orthonormal bases of their joint column and row spaces.

    Parameters
    ----------
    cores : ndarray, shape ``(r, p, q)``

    Returns
    -------
    cores : ndarray, shape ``(r, p', q')``, ``p' <= p``, ``q' <= q``
        Scaled so that the largest singular value of ``[C[0] | .. | C[r-1]]`` is one.
    log_scale : float
        Log of the factor divided out (``0`` for zero cores, which come back empty).
    """
    r, p, q = cores.shape
    if p == 0 or q == 0:
        return np.zeros((r, 0, 0)), 0.0
    hstack = cores.transpose(1, 0, 2).reshape(p, r * q)  # (p, r*q) = [C[0] | .. ]
    u, s, _ = np.linalg.svd(hstack, full_matrices=False)  # u: (p, k), s: (k,)
    if s[0] == 0 or not np.isfinite(s[0]):
        if not np.isfinite(s[0]):
            raise ValueError("non-finite weights: a structured core is not finite")
        return np.zeros((r, 0, 0)), 0.0
    keep = int(np.count_nonzero(s > max(hstack.shape) * _EPS * s[0]))
    cores = np.einsum("pk,rpq->rkq", u[:, :keep], cores) / s[0]  # (r, p', q)
    vstack = cores.reshape(r * keep, q)  # (r*p', q) = [C[0]; ..]
    _, s2, vt = np.linalg.svd(vstack, full_matrices=False)  # vt: (k2, q)
    keep2 = int(np.count_nonzero(s2 > max(vstack.shape) * _EPS * s2[0]))
    cores = cores @ vt[:keep2].T  # (r, p', q')
    return cores, math.log(s[0])


def _kron_all(mats) -> np.ndarray:
    """Kronecker product of a sequence of matrices (rows and columns both multiply)."""
    out = mats[0]
    for m in mats[1:]:
        out = np.kron(out, m)  # (p_out * p_m, q_out * q_m)
    return out


def _root_core(net: ConvAC, partition, output: int) -> tuple[np.ndarray, float, object]:
    """Core ``C`` and log-scale of ``[A^y]_{I,J} = exp(log_scale) U C V^T``."""
    s = net.schedule
    is_row, part = row_leaves(net, partition)
    leaf_w = level_weights_f64(net, 0)  # (N, r_0, M)
    nodes = []  # per node: (cores (r, p, q), log_scale)
    for pos in range(s.n_patches):
        vec = leaf_w[pos]  # (r_0, M)
        cores = vec[:, :, None] if is_row[pos] else vec[:, None, :]  # (r_0, M, 1) / (r_0, 1, M)
        nodes.append(_compress(cores))
    for level, w in enumerate(s.windows, start=1):
        weight = level_weights_f64(net, level)  # (nodes_l, r_l, r_{l-1})
        top = level == s.n_levels
        merged = []
        for j in range(s.nodes[level]):
            kids = nodes[j * w : (j + 1) * w]
            log_scale = sum(k[1] for k in kids)
            if any(k[0].shape[1] == 0 for k in kids):  # a zero child: the node is zero
                if top:
                    return np.zeros((0, 0)), 0.0, part
                merged.append((np.zeros((weight.shape[1], 0, 0)), 0.0))
                continue
            if top:
                coeff = weight[j, output]  # (r_{L-1},)
                core = None
                for a, c in enumerate(coeff):
                    if c == 0:
                        continue
                    term = c * _kron_all([k[0][a] for k in kids])  # (p, q)
                    core = term if core is None else core + term
                if core is None:
                    p = math.prod(k[0].shape[1] for k in kids)
                    q = math.prod(k[0].shape[2] for k in kids)
                    core = np.zeros((p, q))
                return core, log_scale, part
            krons = np.stack(
                [_kron_all([k[0][a] for k in kids]) for a in range(weight.shape[2])]
            )  # (r_{l-1}, p, q)
            cores = np.einsum("ga,apq->gpq", weight[j], krons)  # (r_l, p, q)
            cores, extra = _compress(cores)
            merged.append((cores, log_scale + extra))
        nodes = merged
    raise AssertionError("unreachable: the top level returns")  # pragma: no cover


def _core_singular_values(core: np.ndarray) -> np.ndarray:
    """Singular values of a core, descending (empty for an empty core)."""
    if core.size == 0:
        return np.zeros(0)
    return np.linalg.svd(core, compute_uv=False)  # (min(p, q),)


def structured_singular_values(net: ConvAC, partition, output: int = 0) -> np.ndarray:
    """Nonzero singular values of ``[A^y]_{I,J}`` from the weights, no dense tensor.

    Parameters
    ----------
    net : ConvAC
        Any schedule, geometry and weight sharing.
    partition : str, sequence of int or Partition
        Row modes ``I`` (patch indices), see :func:`convac.resolve_partition`.
    output : int, default 0
        Which output ``y``.

    Returns
    -------
    ndarray, float64, shape ``(k,)``, descending
        The singular values of the root core, ``k <= min(M^|I|, M^|J|)``; every other
        singular value of ``[A^y]_{I,J}`` is zero (directions dropped by the compression
        carry singular values below ``max(shape) * eps`` relative to their node).
        Values beyond the float64 range come back as ``inf`` or ``0``.

    Notes
    -----
    Cost: one Kronecker product and two SVDs per node, of sizes bounded by the products
    of the children's core sizes; the root core has side at most the rank of the
    matricization restricted to the tree (Levine et al. 2018 min-cut).  The Eckart-Young
    floor of a width-K CP fit is ``sqrt(sum(sv[K:] ** 2))``.
    """
    net = _check_net(net)
    output = _check_output(net, output)
    core, log_scale, _ = _root_core(net, partition, output)
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
                    **kwargs) -> RankResult:
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

    Returns
    -------
    RankResult
        ``method="structured"``, with the core's singular values, the margin and the
        ambiguity flag of :func:`convac.numerical_rank`.
    """
    if kwargs:
        raise ValueError(f"unexpected arguments for the structured method: {sorted(kwargs)}")
    net = _check_net(net)
    output = _check_output(net, output)
    core, _, _ = _root_core(net, partition, output)
    sv = _core_singular_values(core)  # scale-free: the rank only needs ratios
    if rtol is None:
        rtol = _structured_rtol(core.shape, net.schedule.n_levels)
    return numerical_rank(sv, rtol, core.shape, "structured")


def auto_rank(tensor_or_net, partition="odd-even", rtol: float | None = None, **kwargs):
    """Dense rank for tensors and tiny networks (``M^N <= AUTO_DENSE_MAX_ENTRIES``),
    structured otherwise; the result's ``method`` names the one used."""
    dense = RANK_METHODS["dense"]
    if not isinstance(tensor_or_net, ConvAC):
        return dense(tensor_or_net, partition, rtol=rtol, **kwargs)
    if tensor_or_net.n_channels ** tensor_or_net.n_patches <= AUTO_DENSE_MAX_ENTRIES:
        return dense(tensor_or_net, partition, rtol=rtol, **kwargs)
    kwargs.pop("max_bytes", None)  # a dense-only option
    return structured_rank(tensor_or_net, partition, rtol=rtol, **kwargs)


RANK_METHODS["structured"] = structured_rank
RANK_METHODS["auto"] = auto_rank
