"""Coefficient tensors of mixed networks (:class:`convac.nets.mixed.MixedConvAC`).

:func:`mixed_coefficient_tensor` contracts the weights node by node (dense, behind a
memory budget), without features; :func:`mixed_coefficient_tensor_by_forward` is the
brute-force oracle, the network's outputs on every one-hot input.
"""

from __future__ import annotations

import copy
import itertools

import torch

from .. import validate
from ..nets.geometry import DEFAULT_MAX_BYTES
from ..nets.mixed import MixedConvAC

__all__ = ["mixed_coefficient_tensor", "mixed_coefficient_tensor_by_forward"]


def _check(net, output: int, max_bytes: int) -> tuple[int, int, int]:
    if not isinstance(net, MixedConvAC):
        raise validate.InvalidTypeError(f"expected a MixedConvAC, got {type(net).__name__}")
    output = validate.integer(output, "output", 0, net.n_outputs - 1)
    m, n = net.n_channels, net.n_patches
    validate.check_budget(m, n, validate.max_bytes(max_bytes), "mixed coefficient tensor")
    return output, m, n


def _pool(kids: list[tuple[torch.Tensor, tuple]], m: int,
          prime: int | None) -> tuple[torch.Tensor, tuple]:
    """Product pooling of children values ``(r, M^|c|)`` (modes ascending within each):
    the pooled value ``(r, M^|nu|)`` with the union's modes ascending (mod ``prime``)."""
    value, modes = kids[0]
    for kid, kid_modes in kids[1:]:
        value = torch.einsum("ga,gb->gab", value, kid).reshape(value.shape[0], -1)
        value = value % prime if prime else value
        modes = modes + kid_modes
    r = value.shape[0]
    order = sorted(range(len(modes)), key=modes.__getitem__)
    value = value.reshape((r,) + (m,) * len(modes)).permute(0, *(1 + i for i in order))
    return value.reshape(r, -1), tuple(sorted(modes))  # (r, M^|nu|)


@torch.no_grad()
def mixed_coefficient_tensor(net: MixedConvAC, output: int = 0,
                             max_bytes: int = DEFAULT_MAX_BYTES,
                             prime: int | None = None) -> torch.Tensor:
    """The coefficient tensor ``A^y`` of a mixed network, contracted node by node.

    Every node's value is its conv applied to the product of its children's values, a
    ``(channels, M^|node|)`` array over the node's patches in ascending order; at a
    mixture node the first half of the pooled channels is exchanged between the trees,
    and the two roots' outputs are summed.  Float64 on the CPU.

    Parameters
    ----------
    net : MixedConvAC
    output : int, default 0
    max_bytes : int
        Budget of the dense tensor.
    prime : int, optional
        Compute ``A^y mod prime`` exactly in int64 instead (integer weights only, e.g.
        :func:`convac.rank.exact.integer_weights_`; ``prime < 2^21``): float64 rounds the
        large entries of integer networks, and a rounded tensor's rank is not theirs.

    Returns
    -------
    Tensor, float64 (int64 residues in ``[0, prime)`` with ``prime``), shape ``(M,) * N``
    """
    output, m, n = _check(net, output, max_bytes)
    validate.check_shape_budget((max(net.first.ranks + net.second.ranks), m**n),
                                max_bytes, "mixed coefficient tensor's nodes")
    if prime is not None:
        prime = validate.integer(prime, "prime", 2, 2**21)

    def weights(tree, level):  # (nodes, r_l, r_{l-1}), float64 or int64 residues
        w = tree.level_weights(level).detach().to("cpu", torch.float64)
        if prime is None:
            return w
        if not bool((w == torch.round(w)).all()) or w.abs().max() >= 2**53:
            raise validate.InvalidValueError(
                "prime= needs integer weights below 2^53 (convac.rank.exact.integer_weights_)")
        return torch.remainder(w.to(torch.int64), prime)

    values = []
    for tree in (net.first, net.second):
        w0 = weights(tree, 0)  # (N, r_0, M)
        order = tree.order.tolist()
        values.append([(w0[p], (order[p],)) for p in range(n)])
    for level, w in enumerate(net.first.windows, start=1):
        pooled = [[_pool(vals[j : j + w], m, prime) for j in range(0, len(vals), w)]
                  for vals in values]
        for node in net.mixture:
            if len(node) == len(pooled[0][0][1]):
                ia, ib = (next(j for j, (_, md) in enumerate(p) if frozenset(md) == node)
                          for p in pooled)
                h = pooled[0][ia][0].shape[0] // 2
                (va, ma), (vb, mb) = pooled[0][ia], pooled[1][ib]
                pooled[0][ia] = (torch.cat([vb[:h], va[h:]]), ma)
                pooled[1][ib] = (torch.cat([va[:h], vb[h:]]), mb)
        values = []
        for tree, pools in zip((net.first, net.second), pooled, strict=True):
            weight = weights(tree, level)  # (nodes, r_l, r)
            values.append([((weight[j] @ v) % prime if prime else weight[j] @ v, md)
                           for j, (v, md) in enumerate(pools)])
    total = values[0][0][0][output] + values[1][0][0][output]  # (M^N,)
    total = total % prime if prime else total
    return total.reshape((m,) * n)


@torch.no_grad()
def mixed_coefficient_tensor_by_forward(net: MixedConvAC, output: int = 0,
                                        batch_size: int = 4096,
                                        max_bytes: int = 256 * 1024**2) -> torch.Tensor:
    """Brute-force oracle: the mixed network's float64 outputs on every one-hot input.

    Returns
    -------
    Tensor, float64, shape ``(M,) * N``
    """
    output, m, n = _check(net, output, max_bytes)
    batch_size = min(validate.positive_int(batch_size, "batch_size"), m**n)
    cpu = MixedConvAC(_float64(net.first), _float64(net.second), net.mixture)
    eye = torch.eye(m, dtype=torch.float64)
    combos = itertools.product(range(m), repeat=n)  # last mode fastest: C order
    values = []
    while chunk := list(itertools.islice(combos, batch_size)):
        values.append(cpu(eye[torch.tensor(chunk)])[:, output])  # (B, N, M) -> (B,)
    return torch.cat(values).reshape((m,) * n)


def _float64(tree):
    return copy.deepcopy(tree).to("cpu", torch.float64)
