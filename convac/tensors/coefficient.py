"""Coefficient tensors of a ConvAC, built from its weights.

``h_y(X) = sum_{d_1..d_N} A^y[d_1..d_N] prod_i f_{d_i}(x_i)``: the coefficient tensor
``A^y`` has order N and M values per mode (mode ``i`` is patch ``i``, in the input's
order, whatever the pooling geometry).  The grid tensor over templates
``x^(1) .. x^(T)`` is ``G = A x_1 F .. x_N F`` with ``F[t, d] = f_d(x^(t))``.

Both are dense (``M^N`` or ``T^N`` entries) and sit behind a memory budget.  The public
grid tensor is :func:`convac.tensors.grid.grid_tensor`, which takes the weight contraction
here (:func:`_grid_by_weights`) for product pooling.
"""

from __future__ import annotations

import copy
import itertools

import torch

from .. import validate
from ..nets.geometry import DEFAULT_MAX_BYTES
from ..nets.network import ConvAC
from ..nets.tree import fold

__all__ = [
    "DEFAULT_MAX_BYTES",
    "coefficient_tensor",
    "coefficient_tensor_by_forward",
    "one_hot_tensor",
    "check_budget",
]

check_budget = validate.check_budget  # kept for the modules that import it from here


def _outer_rows(mats: list[torch.Tensor]) -> torch.Tensor:
    """Row-wise outer product: ``(r, p_1), .., (r, p_k) -> (r, p_1 * .. * p_k)``."""
    out = mats[0]
    for m in mats[1:]:
        out = (out[:, :, None] * m[:, None, :]).reshape(out.shape[0], -1)  # (r, p*q)
    return out


_SMALL_MERGE = 4096
"""Entries of ``(a, P*Q)`` below which :func:`_merge` builds it (einsum's planning cost
more than the arithmetic: 12 against 5 us for 2 x 2 matrices)."""


def _merge(weight: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """``merged[g, (p, q)] = sum_a weight[g, a] left[a, p] right[a, q]``.

    Parameters
    ----------
    weight : Tensor ``(g, a)``; left : Tensor ``(a, P)``; right : Tensor ``(a, Q)``

    Returns
    -------
    Tensor ``(g, P*Q)``
    """
    a, g = left.shape[0], weight.shape[0]
    size = a * left.shape[1] * right.shape[1]
    if g >= a or size <= _SMALL_MERGE:  # the (a, P*Q) product is no larger than the result
        return weight @ (left[:, :, None] * right[:, None, :]).reshape(a, -1)
    # einsum contracts the weight first: nothing larger than the result (the root, g = 1)
    return torch.einsum("ga,ap,aq->gpq", weight, left, right).reshape(g, -1)


def _tree_tensor(net: ConvAC, leaf_map, output: int) -> torch.Tensor:
    """Contract the pooling tree into ``T^N`` entries, every leaf's weight ``(r, M)``
    mapped to a matrix ``(r, T)`` by ``leaf_map``.

    Every node holds a matrix ``(r_l, T^size)``; a node's children are split in two
    halves so that no intermediate is larger than the result.
    """
    s = net.schedule
    # per-node matrices unbound once: a list lookup per node instead of a tensor index
    # (a third of this function's time at N = 8)
    # (``net`` is a float64 CPU network: ``_float64_cpu``)
    if net.is_tree:
        weights = [w.detach() for w in net.node_weights()]  # by key
        leaves = [leaf_map(weights[p]) for p in range(s.n_patches)]  # N matrices (r, T)
    else:  # a schedule: one detach and one leaf map per level, not per node
        levels = [net.level_weights(level).detach() for level in range(s.n_levels + 1)]
        leaves = leaf_map(levels[0]).unbind(0)  # N matrices (r, T)
        # by key; the leaves' own entries are never read (``node`` sees inner nodes)
        weights = [None] * s.n_patches + [w for lw in levels[1:] for w in lw.unbind(0)]

    def node(tn, kids: list) -> torch.Tensor:
        weight = weights[tn.key]  # (r_l, r_{l-1})
        if tn.is_root:
            weight = weight[output : output + 1]  # (1, r_{L-1})
        half = len(kids) // 2
        left = _outer_rows(kids[:half])  # (r_{l-1}, P)
        right = _outer_rows(kids[half:])  # (r_{l-1}, Q)
        return _merge(weight, left, right)  # (r_l, P*Q)

    root = fold(s, lambda tn: leaves[tn.index], node)  # (1, T^N), modes in tree order
    tree = root.reshape((leaves[0].shape[-1],) * s.n_patches)
    inverse = torch.argsort(net.order.cpu())  # patch i sits at tree position inverse[i]
    return tree.permute(*inverse.tolist())


def coefficient_tensor(
    net: ConvAC, output: int = 0, max_bytes: int = DEFAULT_MAX_BYTES
) -> torch.Tensor:
    """Dense coefficient tensor ``A^y`` of a ConvAC, from its weights.

    Parameters
    ----------
    net : ConvAC
    output : int, default 0
        Which output ``y``.
    max_bytes : int, default 2 GiB
        Memory budget for the float64 result; above it a ``ValueError`` names the size.

    Returns
    -------
    Tensor, float64, shape ``(M,) * N`` on the CPU
        ``A^y[d_1, .., d_N]``, mode ``i`` being patch ``i``.

    Notes
    -----
    Equal to the network's outputs on one-hot features
    (:func:`coefficient_tensor_by_forward`), which the tests use as the oracle.
    """
    net = validate.product_network(net, "the coefficient tensor")
    output = validate.output(net, output)
    validate.check_budget(net.n_channels, net.n_patches, max_bytes, "coefficient tensor")
    cpu = _float64_cpu(net)
    # leaf weights are stored in tree order (node p of level 0 reads patch order[p])
    return _tree_tensor(cpu, lambda w: w, output)  # leaves (r, M)


def _float64_cpu(net: ConvAC) -> ConvAC:
    """The network itself if it is a float64 CPU network, otherwise such a copy."""
    w = net.weights[0]
    if w.device.type == "cpu" and w.dtype == torch.float64:
        return net
    return copy.deepcopy(net).to("cpu", torch.float64)


def _grid_by_weights(net: ConvAC, features: torch.Tensor, output: int) -> torch.Tensor:
    """Grid tensor of a product-pooling ConvAC by contracting its weights,
    ``G = A x_1 F .. x_N F``, without building ``A``: the fast route of
    :func:`convac.tensors.grid.grid_tensor`, which validates the arguments.

    Parameters
    ----------
    net : ConvAC
        Product pooling, float64 on the CPU.
    features : Tensor, float64, shape ``(T, M)``
        ``F[t, d] = f_d(x^(t))``.
    output : int

    Returns
    -------
    Tensor, float64, shape ``(T,) * N``
        ``G[t_1, .., t_N] = h_y(x^(t_1), .., x^(t_N))``.
    """
    return _tree_tensor(net, lambda w: w @ features.T, output)  # leaves (r, T)


@torch.no_grad()
def coefficient_tensor_by_forward(
    net: ConvAC, output: int = 0, batch_size: int = 4096, max_bytes: int = 256 * 1024**2
) -> torch.Tensor:
    """Brute-force oracle: the network's float64 outputs on every one-hot input.

    With ``rep[i, :] = e_{d_i}`` the output is ``A^y[d_1, .., d_N]``.  Costs ``M^N``
    forward passes; meant for tests on tiny sizes.

    Returns
    -------
    Tensor, float64, shape ``(M,) * N``
    """
    net = validate.product_network(net, "the coefficient tensor (one-hot oracle)")
    output = validate.output(net, output)
    dtype_net = _float64_cpu(net)
    return one_hot_tensor(lambda feats: dtype_net(feats)[:, output], net.n_channels,
                          net.n_patches, batch_size, max_bytes)


@torch.no_grad()
def one_hot_tensor(fn, n_channels: int, n_modes: int, batch_size: int = 4096,
                   max_bytes: int = 256 * 1024**2) -> torch.Tensor:
    """The tensor ``A[d_1, .., d_N] = fn(e_{d_1}, .., e_{d_N})`` of any function of ``N``
    feature vectors that is linear in each, from its values on every one-hot input.

    Parameters
    ----------
    fn : callable ``(batch, N, M) float64 -> (batch,)``
        E.g. one output of a network (a ConvAC, a recurrent circuit).
    n_channels, n_modes : int
        ``M`` and ``N``.
    batch_size : int, default 4096
        One-hot inputs per call of ``fn``.
    max_bytes : int, default 256 MiB
        Budget of the result and of one batch.

    Returns
    -------
    Tensor, shape ``(M,) * N`` (the dtype ``fn`` returns), the last mode fastest
    """
    batch_size = validate.positive_int(batch_size, "batch_size")
    m = validate.positive_int(n_channels, "n_channels")
    n = validate.positive_int(n_modes, "n_modes")
    validate.check_budget(m, n, max_bytes, "brute-force coefficient tensor")
    batch_size = min(batch_size, m**n)
    validate.check_shape_budget((batch_size, n, m), max_bytes, "one-hot batch")
    eye = torch.eye(m, dtype=torch.float64)
    values = []
    combos = itertools.product(range(m), repeat=n)  # last mode fastest: C order
    while True:
        chunk = list(itertools.islice(combos, batch_size))
        if not chunk:
            break
        feats = eye[torch.tensor(chunk)]  # (B, N, M)
        values.append(fn(feats))
    return torch.cat(values).reshape((m,) * n)
