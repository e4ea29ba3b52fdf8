"""Structured matricization rank, without the ``M^N`` tensor: one fold over the pooling
tree, with the arithmetic plugged in (float64 here, GF(p) in :mod:`convac.rank.exact`).

Every node ``v`` of the pooling tree holds, for each of its output channels ``g``, its
sub-tensor matricized with rows = its row leaves (modes in ``I``) and columns = its
column leaves (modes in ``J``) in factored form ``B_v C_v[g] D_v^T``: ``B_v`` and
``D_v`` have full column rank (implicitly Kronecker products of the children's bases,
never formed) and the cores ``C_v[g]`` are small.  A parent's cores are

``C_v[g] = sum_a W[g, a] kron_c C_c[a]``

(the order of the Kronecker factors only permutes rows and columns), then compressed
onto bases of the column space of ``[C_v[0] | C_v[1] | ..]`` and the row space of
``[C_v[0]; C_v[1]; ..]``.  Full-column-rank factors do not change ranks, so the rank of
the root core is the rank of ``[A^y]_{I,J}``.

* :class:`FloatField`: orthonormal bases from SVDs, so the root core's singular values
  *are* the nonzero singular values of ``[A^y]_{I,J}``; cores carry a log-scale so that
  long products neither overflow nor underflow; every dropped direction is a decision
  with a margin, and the result reports the smallest one.
* :class:`convac.rank.exact.ModField`: row echelon bases over GF(p), exact.

Details that keep it small:

* a wide window (a CP net pools all N leaves at once) is pooled factor by factor, and a
  partial product is compressed whenever a structural bound on its channels' ranks
  guarantees that it shrinks, so a width-K CP net never forms more than ``K``-sided cores;
* the root sums its channels one at a time into a single core;
* the largest array is predicted from the schedule before any work
  (:func:`predict_core_shape`); above ``max_bytes`` a :class:`BudgetError`.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016 (Thm 1 and its proof).  W. Hackbusch, "Tensor Spaces and Numerical
Tensor Calculus", Springer 2012 (HT format, orthonormal bases).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from .. import validate
from ..nets.network import ConvAC
from ..nets.tree import fold
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.matricization import AMBIGUITY_FACTOR, RankResult, numerical_rank, resolve_partition
from ..validate import BudgetError

__all__ = [
    "Cores",
    "FloatField",
    "root_core",
    "predict_core_shape",
    "structured_singular_values",
    "structured_rank",
    "row_leaves",
    "check_core_budget",
    "BudgetError",
]

_EPS = float(np.finfo(np.float64).eps)


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
    is_row_patch = np.zeros(net.n_patches, dtype=bool)
    is_row_patch[list(part.rows)] = True  # a mask lookup: np.isin cost 10 us at N = 8
    return is_row_patch[order], part


def check_core_budget(shape, max_bytes: int, what: str = "structured core") -> None:
    """Raise :class:`BudgetError` if a float64 array of ``shape`` exceeds ``max_bytes``."""
    validate.check_shape_budget(shape, max_bytes, what)


@dataclass(frozen=True)
class Cores:
    """A node's cores and what is known about them.

    Attributes
    ----------
    cores : ndarray, shape ``(r, p, q)``
    log_scale : float
        The node's matricizations are ``exp(log_scale) B cores[g] D^T`` (0 mod p).
    channel_rank : int
        A structural bound on the rank of every ``cores[g]``.
    margin : float
        The smallest margin of any rank decision below (``inf`` when exact).
    """

    cores: np.ndarray
    log_scale: float = 0.0
    channel_rank: int = 1
    margin: float = math.inf

    @property
    def is_zero(self) -> bool:
        return self.cores.shape[1] == 0 or self.cores.shape[2] == 0


_MAX_CHANNEL_RATIO = 1e200
"""Channels smaller than the largest by more than this are treated as zero."""


def _channel_norms(cores: np.ndarray) -> np.ndarray:
    """Frobenius norm of each channel, ``(r, p, q) -> (r,)``, safe from under/overflow."""
    flat = cores.reshape(cores.shape[0], -1)  # (r, p*q)
    amax = np.abs(flat).max(axis=1)  # (r,)
    safe = np.where(amax > 0, amax, 1.0)
    return amax * np.linalg.norm(flat / safe[:, None], axis=1)  # (r,)


def _kept(s: np.ndarray, shape) -> tuple[int, float]:
    """How many singular values clear ``max(shape) * eps * s[0]``, and the margin of that
    decision: ``min(last kept / threshold, last kept / first dropped)``."""
    vals = s.tolist()  # a few values: Python floats beat numpy scalars here
    threshold = max(shape) * _EPS * vals[0]
    keep = sum(v > threshold for v in vals)
    tail = vals[keep] if keep < len(vals) else 0.0
    margin = min(vals[keep - 1] / threshold, vals[keep - 1] / tail if tail > 0 else math.inf)
    return keep, margin


class FloatField:
    """float64 arithmetic for :func:`root_core`: orthonormal compression by SVD."""

    name = "structured"
    exact = False

    @staticmethod
    def weights(net: ConvAC, level: int) -> np.ndarray:
        """``(nodes_l, r_l, r_{l-1})`` float64 (a schedule's level)."""
        return net.level_weights(level).detach().to("cpu", torch.float64).numpy()

    @staticmethod
    def node_weights(net: ConvAC) -> list[np.ndarray]:
        """Every node's ``(rank_out, rank_in)`` float64 weight, by ``TreeNode.key``."""
        if net.is_tree:
            return [w.detach().to("cpu", torch.float64).numpy() for w in net.node_weights()]
        return [m for level in range(net.schedule.n_levels + 1)
                for m in FloatField.weights(net, level)]

    @staticmethod
    def kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Channel-wise Kronecker product: ``(r, p, q), (r, s, t) -> (r, p*s, q*t)``."""
        r, p, q = a.shape
        _, s_, t = b.shape
        return np.einsum("apq,ast->apsqt", a, b).reshape(r, p * s_, q * t)  # (r, p*s, q*t)

    @staticmethod
    def mix(weight: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """``(g, a), (a, p, q) -> (g, p, q)``: each output channel sums the inputs."""
        return np.einsum("ga,apq->gpq", weight, pooled)  # (g, p, q)

    @staticmethod
    def add_to(acc: np.ndarray, term: np.ndarray) -> None:
        acc += term

    @staticmethod
    def compress(cores: np.ndarray) -> tuple[np.ndarray, float, float]:
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
        cores : ndarray, shape ``(r, p', q')``
            Scaled so that the largest channel has unit Frobenius norm.
        log_scale : float
            Log of the factor divided out (``0`` for zero cores, which come back empty).
        margin : float
            The smaller margin of the two rank decisions (see :func:`_kept`).
        """
        r, p, q = cores.shape
        if p == 0 or q == 0:
            return np.zeros((r, 0, 0)), 0.0, math.inf
        if not np.all(np.isfinite(cores)):
            raise validate.InvalidValueError(
                "a structured core is not finite: non-finite weights")
        norms = _channel_norms(cores)  # (r,)
        top = float(norms.max())
        if top == 0:
            return np.zeros((r, 0, 0)), 0.0, math.inf
        cores = cores / top  # (r, p, q), largest channel of unit norm
        rel = norms / top  # (r,)
        balance = np.where(rel * _MAX_CHANNEL_RATIO > 1, 1.0 / np.maximum(rel, 1e-300), 0.0)
        hstack = (cores * balance[:, None, None]).transpose(1, 0, 2).reshape(p, r * q)  # (p, r*q)
        u, s, _ = np.linalg.svd(hstack, full_matrices=False)  # u: (p, k), s: (k,)
        keep, margin = _kept(s, hstack.shape)
        cores = np.einsum("pk,rpq->rkq", u[:, :keep], cores)  # (r, p', q)
        vstack = (cores * balance[:, None, None]).reshape(r * keep, q)  # (r*p', q)
        _, s2, vt = np.linalg.svd(vstack, full_matrices=False)  # vt: (k2, q)
        keep2, margin2 = _kept(s2, vstack.shape)
        cores = cores @ vt[:keep2].T  # (r, p', q')
        return cores, math.log(top), min(margin, margin2)


def _must_shrink(shape, channel_rank: int) -> bool:
    """Whether compressing cores ``(r, p, q)`` is sure to shrink them.

    ``[C[0] | ..]`` and ``[C[0]; ..]`` have rank ``<= r * channel_rank`` (a bound on the
    rank of every ``C[a]``, from the structure); when that is not below ``p`` or ``q``
    only a degenerate network would shrink, and the compression of large partial
    products would cost more than it saves.
    """
    r, p, q = shape
    return r * channel_rank < max(p, q)


def _compressed(field, cores: np.ndarray, base: Cores, channel_rank: int) -> Cores:
    if field.exact and not _must_shrink(cores.shape, channel_rank):
        # any basis of full rank serves an exact rank, and this one cannot shrink (the
        # float field needs its orthonormal bases for the singular values): two echelon
        # forms saved per node, an exact rank at N = 8, M = 2 went from 0.58 to 0.30 ms
        extra, margin = 0.0, math.inf
    else:
        cores, extra, margin = field.compress(cores)
    return Cores(cores, base.log_scale + extra, min(channel_rank, *cores.shape[1:]),
                 min(base.margin, margin))


def _pool(field, kids: list, compress_last: bool) -> Cores:
    """Product pooling ``P[a] = kron_c C_c[a]``, compressed between factors so that wide
    windows (a CP net's N children) stay as small as their rank."""
    acc = kids[0]
    for i, kid in enumerate(kids[1:], start=2):
        prod = field.kron(acc.cores, kid.cores)  # (r, p*p_c, q*q_c)
        acc = Cores(prod, acc.log_scale + kid.log_scale,
                    min(acc.channel_rank * kid.channel_rank, *prod.shape[1:]),  # rank of kron
                    min(acc.margin, kid.margin))
        if (i < len(kids) or compress_last) and _must_shrink(prod.shape, acc.channel_rank):
            acc = _compressed(field, prod, acc, acc.channel_rank)
    return acc


def _term_split(sides: list) -> int:
    """Where the root's children are cut into two Kronecker factors: the ``k`` for which
    ``kron_{c<k} C_c`` and ``kron_{c>=k} C_c`` are both square with the smaller largest
    side, from the children's core sides ``[(p_c, q_c), ..]`` (``len - 1``, all children
    but the last in the head, when no cut gives two square factors).

    The Kronecker product is associative, so every cut gives the same sum
    ``sum_a (kron_{c<k} C_c[a]) kron (kron_{c>=k} C_c[a]) = sum_a kron_c C_c[a]`` with
    rows and columns in the same order; a balanced cut keeps both factors small enough
    for :func:`convac.rank.modp.kron_pair_nonsingular` (a root window of 7 children with
    4-sided cores: 256 and 64 rather than 4096 and 4).
    """
    best, where = None, len(sides) - 1
    for k in range(1, len(sides)):
        head = (math.prod(p for p, _ in sides[:k]), math.prod(q for _, q in sides[:k]))
        last = (math.prod(p for p, _ in sides[k:]), math.prod(q for _, q in sides[k:]))
        if head[0] == head[1] and last[0] == last[1]:
            size = max(head[0], last[0])
            if best is None or size < best:
                best, where = size, k
    return where


def _root_terms(field, kids: list, weight: np.ndarray, balanced: bool = False) -> tuple:
    """``(head, last)`` with the requested output's core ``sum_a head[a] kron last[a]``
    (``head`` None for a window of one).

    The output weights scale the smallest child's channels.  All children but the last
    are pooled (compressed as usual) into ``head``; with ``balanced`` the children are
    cut where :func:`_term_split` says and both groups are pooled.
    """
    small = min(range(len(kids)), key=lambda c: kids[c].cores[0].size)
    kids = list(kids)
    kids[small] = replace(kids[small],
                          cores=field.mix(np.diag(weight), kids[small].cores))  # (r, p, q)
    if len(kids) == 1:
        return None, kids[0]
    cut = _term_split([k.cores.shape[1:] for k in kids]) if balanced else len(kids) - 1
    return (_pool(field, kids[:cut], compress_last=True),
            _pool(field, kids[cut:], compress_last=True))


def _root(field, kids: list, weight: np.ndarray) -> Cores:
    """The requested output's core ``sum_a w[a] kron_c C_c[a]``, shape ``(p, q)``: the
    last Kronecker factor is summed into one core channel by channel, so the root never
    holds ``r`` full-size cores at once."""
    head, last = _root_terms(field, kids, weight)
    if head is None:  # a window of one: nothing to multiply
        core = field.mix(np.ones((1, last.cores.shape[0])), last.cores)[0]  # (p, q)
        return replace(last, cores=core)
    core = None
    for a in range(last.cores.shape[0]):
        term = field.kron(head.cores[a:a + 1], last.cores[a:a + 1])[0]  # (p*s, q*t)
        if core is None:
            core = term
        else:
            field.add_to(core, term)
    return Cores(core, head.log_scale + last.log_scale, 0, min(head.margin, last.margin))


def predict_core_shape(net: ConvAC, partition, terms: bool = False) -> tuple:
    """Shape of the largest array :func:`root_core` can build, from the schedule alone.

    The same fold with shapes in place of cores: a leaf's core is ``min(r_0, M) x 1``
    (or ``1 x min(r_0, M)``), a Kronecker product multiplies sides, a compression caps a
    side at ``channels * channel rank``.  Used to refuse, before any work, what would
    not fit in ``max_bytes``.

    Parameters
    ----------
    net : ConvAC
    partition : str, sequence of int or Partition
    terms : bool, default False
        As :func:`root_core`'s ``terms``: the root's Kronecker terms are built, not their
        sum (the root's own product is left out of the prediction).

    Returns
    -------
    tuple of int
        ``(r, p, q)`` (or ``(2, p, q)`` at the root: the core and one channel's term).

    Notes
    -----
    The elimination of a large root core adds temporaries of up to about half its size
    (``ConvAC(28, 64, (2, 2, 7), 2)``: predicted 4 GiB, measured peak 5.4 GiB).
    """
    is_row, _ = row_leaves(net, partition)
    return _predict_core_shape(net.schedule, is_row.tobytes(), terms)


@functools.lru_cache(maxsize=4096)
def _predict_core_shape(s, row_pattern: bytes, terms: bool = False) -> tuple:
    # a pure function of the schedule and the row leaves: cached (a Python fold, 25 us
    # at N = 8, a twentieth of a structured rank there)
    is_row = np.frombuffer(row_pattern, dtype=bool)
    largest = [(0, 0, 0)]

    def note(shape):
        if math.prod(shape) > math.prod(largest[0]):
            largest[0] = tuple(int(x) for x in shape)

    def leaf(tn):
        side = min(tn.rank_out, s.n_channels)
        return (side, 1, 1) if is_row[tn.index] else (1, side, 1)  # (p, q, channel rank)

    def shrunk(r, p, q, channel):
        # [C[0] | ..] is p x r*q of rank <= r * channel; then [C'[0]; ..] is r*p' x q
        p = min(p, r * channel, r * q)
        return p, min(q, r * channel, r * p)

    def pool(r_in, kids, compress_last):  # as _pool
        p, q, rank = kids[0]
        for i, (pc, qc, rc) in enumerate(kids[1:], start=2):
            p, q, rank = p * pc, q * qc, min(rank * rc, p * pc, q * qc)
            note((r_in, p, q))
            if (i < len(kids) or compress_last) and _must_shrink((r_in, p, q), rank):
                p, q = shrunk(r_in, p, q, rank)
        return p, q, rank

    def node(tn, kids):
        r_in = tn.rank_in
        if tn.is_root:  # as _root: the pooled head times the last child, channel by channel
            if len(kids) > 1:
                cut = _term_split([k[:2] for k in kids]) if terms else len(kids) - 1
                (p, q, _), (pc, qc, _) = pool(r_in, kids[:cut], True), pool(r_in, kids[cut:],
                                                                            True)
                if not terms:  # the terms' own product
                    note((2, p * pc, q * qc))
            return None
        p, q, rank = pool(r_in, kids, False)  # as node: the last product is not compressed
        r_out = tn.rank_out
        note((r_out, p, q))
        channel = r_in * rank  # the mix's channel rank, as _compressed is told
        if _must_shrink((r_out, p, q), channel):
            p, q = shrunk(r_out, p, q, channel)
        return p, q, min(channel, p, q)

    fold(s, leaf, node)
    return largest[0]


def root_core(net: ConvAC, partition, output: int, field,
              max_bytes: int = DEFAULT_MAX_BYTES, cache: dict | None = None,
              terms: bool = False):
    """The root core of ``[A^y]_{I,J}`` in the arithmetic of ``field``.

    Parameters
    ----------
    net : ConvAC
    partition : str, sequence of int or Partition
    output : int
    field : FloatField or convac.exact.ModField
        The arithmetic: ``weights``, ``kron``, ``mix``, ``add_to``, ``compress``.
    max_bytes : int
        Budget of the largest array (predicted first, :func:`predict_core_shape`).
    cache : dict, optional
        Kept by the caller between calls on the same network with unchanged weights:
        the field's weights and every non-root subtree's cores are stored in it, keyed by
        the field and by which of the subtree's leaves are rows (all a subtree's cores
        depend on), so many partitions of one network share their subtrees (the 6435
        balanced partitions of N = 16 meet each level-3 subtree in 256 row patterns).
        Pass a new dict after any change of the weights or the order.
    terms : bool, default False
        Return the root's Kronecker terms instead of their sum: ``(head, last)``, two
        :class:`Cores` with ``core = sum_a head.cores[a] kron last.cores[a]`` (``head``
        None for a root window of one; None for a zero root), the root's children cut
        where both factors are square and smallest (:func:`_term_split`; each group
        compressed as a pooled product is, which keeps the rank).  The budget then
        applies to the subtrees' cores only (predicted first as well).

    Returns
    -------
    Cores
        ``cores`` of shape ``(p, q)``: ``[A^y]_{I,J} = exp(log_scale) B core D^T`` with
        ``B``, ``D`` of full column rank (orthonormal for floats).
    """
    validate.product_network(net, f"the {field.name} rank")
    check_core_budget(predict_core_shape(net, partition, terms), max_bytes,
                      f"{field.name} core")
    s = net.schedule
    is_row, _ = row_leaves(net, partition)
    arithmetic = (field.name, getattr(field, "prime", None))
    weights = None if cache is None else cache.get(arithmetic)
    if weights is None:
        weights = field.node_weights(net)  # by TreeNode.key
        if cache is not None:
            cache[arithmetic] = weights

    def cached(compute):
        if cache is None:  # one partition: nothing to share, no lookups
            return compute

        def value(tn, *kids):
            if tn.is_root:
                return compute(tn, *kids)
            key = (arithmetic, tn.level, tn.index,
                   is_row[tn.leaves.start:tn.leaves.stop].tobytes())
            found = cache.get(key)
            if found is None:
                found = cache[key] = compute(tn, *kids)
            return found
        return value

    @cached
    def leaf(tn):
        vec = weights[tn.key]  # (r_0, M)
        # (r_0, M, 1) for a row leaf, (r_0, 1, M) for a column leaf
        cores = vec[:, :, None] if is_row[tn.index] else vec[:, None, :]
        return _compressed(field, cores, Cores(cores), 1)  # a vector per channel: rank 1

    @cached
    def node(tn, kids):
        weight = weights[tn.key]  # (r_l, r_{l-1})
        if any(k.is_zero for k in kids):  # a zero child: the node is zero
            if tn.is_root and terms:
                return None
            return Cores(np.zeros((0, 0) if tn.is_root else (weight.shape[0], 0, 0)), 0.0, 0)
        if tn.is_root:
            if terms:
                for kid in kids:
                    check_core_budget(kid.cores.shape, max_bytes, f"{field.name} core")
                return _root_terms(field, kids, weight[output], balanced=True)
            return _root(field, kids, weight[output])
        pooled = _pool(field, kids, compress_last=False)  # (r_{l-1}, p, q)
        cores = field.mix(weight, pooled.cores)  # (r_l, p, q)
        return _compressed(field, cores, pooled, weight.shape[1] * pooled.channel_rank)

    return fold(s, leaf, node)


def _core_singular_values(core: np.ndarray) -> np.ndarray:
    """Singular values of a core, descending (empty for an empty core)."""
    if core.size == 0:
        return np.zeros(0)
    # Measured on the 4096 x 4096 root core of ConvAC(24, 16, (2, 2, 2, 3), 2), one thread:
    # numpy's SVD 16.9 CPU s, torch's svdvals 19.4 s (torch is not faster here), scipy's
    # pivoted QR 7.5 s (same rank, but no singular values, which the results report).
    # Cores that large go to the exact method under ``auto`` anyway.
    return np.linalg.svd(core, compute_uv=False)  # (k,), descending


def _check(net, output, max_bytes):
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    net = validate.product_network(net, "the structured rank")
    return net, validate.output(net, output), validate.max_bytes(max_bytes)


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
        Budget of the largest array (predicted before any work); above it a
        :class:`BudgetError` names the shape.

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
    represents, so the root core is about ``rank x rank``.  The Eckart-Young floor of a
    width-K CP fit is ``sqrt(sum(sv[K:] ** 2))``.
    """
    net, output, max_bytes = _check(net, output, max_bytes)
    root = root_core(net, partition, output, FloatField, max_bytes)
    sv = _core_singular_values(root.cores)  # (k,)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return np.exp(np.log(sv) + root.log_scale)  # (k,), the scale applied in log space


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
        Singular values of the root core ``> rtol * sigma_max`` count.  Default
        ``max(core side) * eps * (L + 1)`` (see :func:`_structured_rtol`); the value used
        is in the result.
    output : int, default 0
    max_bytes : int, default 2 GiB
        Budget of the largest array.

    Returns
    -------
    RankResult
        ``method="structured"``, with the singular values (those of the root core; if
        the true values overflow float64 the core's, scaled so that the largest channel
        of the root has norm one, which the result's ``certified`` text then says).
        ``margin`` is the smallest over *every* rank decision: the root's and each
        compression's (a direction dropped inside the tree is a decision too); below
        :data:`convac.tensors.matricization.AMBIGUITY_FACTOR` the result is ``ambiguous``.  Never
        certified: use ``method="exact"`` or ``"auto"`` for that.
    """
    if kwargs:
        raise validate.InvalidValueError(
            f"unexpected arguments for the structured method: {sorted(kwargs)}")
    rtol = validate.tolerance(rtol)
    net, output, max_bytes = _check(net, output, max_bytes)
    root = root_core(net, partition, output, FloatField, max_bytes)
    sv = _core_singular_values(root.cores)  # (k,), scale-free: the rank only needs ratios
    if rtol is None:
        rtol = _structured_rtol(root.cores.shape, net.schedule.n_levels)
    result = numerical_rank(sv, rtol, root.cores.shape, "structured")
    margin = min(result.margin, root.margin)
    note = result.certified
    if root.margin < result.margin:
        note += (f"; a compression inside the tree decided with margin {root.margin:.3g} "
                 f"(root: {result.margin:.3g})")
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        scaled = np.exp(np.log(result.singular_values) + root.log_scale)  # (k,)
    if scaled.size and not (np.isfinite(scaled[0]) and scaled[0] > 0):
        scaled = result.singular_values
        note += (f"; singular values scaled by exp({-root.log_scale:.6g}) "
                 "(float64 range)")
    return replace(result, singular_values=scaled, margin=margin,
                   ambiguous=bool(margin < AMBIGUITY_FACTOR), certified=note)
