"""Coefficient and grid tensors of a ConvAC, built from its weights.

``h_y(X) = sum_{d_1..d_N} A^y[d_1..d_N] prod_i f_{d_i}(x_i)``: the coefficient tensor
``A^y`` has order N and M values per mode (mode ``i`` is patch ``i``, in the input's
order, whatever the pooling geometry).  The grid tensor over templates
``x^(1) .. x^(T)`` is ``G = A x_1 F .. x_N F`` with ``F[t, d] = f_d(x^(t))``.

Both are dense (``M^N`` or ``T^N`` entries) and sit behind a memory budget.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import torch

from .network import ConvAC
from .tree import fold

__all__ = [
    "DEFAULT_MAX_BYTES",
    "coefficient_tensor",
    "coefficient_tensor_by_forward",
    "grid_tensor",
    "check_budget",
]

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Default memory budget of a dense tensor (2 GiB, float64)."""


def _check_net(net) -> ConvAC:
    if not isinstance(net, ConvAC):
        raise ValueError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    return net


def _check_output(net: ConvAC, output: int) -> int:
    if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
        raise ValueError(f"output must be an int in 0..{net.n_outputs - 1}, got {output!r}")
    if not 0 <= output < net.n_outputs:
        raise ValueError(f"output must be in 0..{net.n_outputs - 1}, got {output}")
    return int(output)


def check_budget(side: int, order: int, max_bytes: int, what: str = "tensor") -> None:
    """Raise if a dense float64 tensor with ``side**order`` entries exceeds ``max_bytes``."""
    entries = side**order
    size = entries * 8
    if size > max_bytes:
        raise ValueError(
            f"the dense {what} would hold {side}^{order} = {entries:.3g} entries "
            f"({size / 2**30:.3g} GiB as float64), above the memory budget max_bytes="
            f"{max_bytes} ({max_bytes / 2**30:.3g} GiB); raise max_bytes or use a "
            "structured method"
        )


def _outer_rows(mats: list[torch.Tensor]) -> torch.Tensor:
    """Row-wise outer product: ``(r, p_1), .., (r, p_k) -> (r, p_1 * .. * p_k)``."""
    out = mats[0]
    for m in mats[1:]:
        out = (out[:, :, None] * m[:, None, :]).reshape(out.shape[0], -1)  # (r, p*q)
    return out


def _tree_tensor(net: ConvAC, leaf_mats: torch.Tensor, output: int) -> torch.Tensor:
    """Contract the pooling tree over leaf matrices ``(N, r_0, T)`` into ``T^N`` entries.

    Every node holds a matrix ``(r_l, T^size)``; a node's children are split in two
    halves so that no intermediate is larger than the result.
    """
    s = net.schedule
    weights = [net.level_weights(level).detach().to(torch.float64)  # (nodes_l, r_l, r_{l-1})
               for level in range(s.n_levels + 1)]

    def node(tn, kids: list) -> torch.Tensor:
        weight = weights[tn.level][tn.index]  # (r_l, r_{l-1})
        if tn.is_root:
            weight = weight[output : output + 1]  # (1, r_{L-1})
        half = len(kids) // 2
        left = _outer_rows(kids[:half])  # (r_{l-1}, P)
        right = _outer_rows(kids[half:])  # (r_{l-1}, Q)
        merged = torch.einsum("ga,ap,aq->gpq", weight, left, right)  # (r_l, P, Q)
        return merged.reshape(merged.shape[0], -1)  # (r_l, P*Q)

    root = fold(s, lambda tn: leaf_mats[tn.index], node)  # (1, T^N), modes in tree order
    tree = root.reshape((leaf_mats.shape[-1],) * s.n_patches)
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
    net = _check_net(net)
    output = _check_output(net, output)
    check_budget(net.n_channels, net.n_patches, max_bytes, "coefficient tensor")
    cpu = _float64_cpu(net)
    # leaf weights are stored in tree order (node p of level 0 reads patch order[p])
    leaves = cpu.level_weights(0).detach()  # (N, r_0, M)
    return _tree_tensor(cpu, leaves, output)


def _float64_cpu(net: ConvAC) -> ConvAC:
    """The network itself if it is a float64 CPU network, otherwise such a copy."""
    w = net.weights[0]
    if w.device.type == "cpu" and w.dtype == torch.float64:
        return net
    return copy.deepcopy(net).to("cpu", torch.float64)


def grid_tensor(
    net: ConvAC,
    template_features,
    output: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> torch.Tensor:
    """Grid tensor of a ConvAC over templates, ``G = A x_1 F .. x_N F``.

    Parameters
    ----------
    net : ConvAC
    template_features : array_like, shape ``(T, M)``
        ``F[t, d] = f_d(x^(t))``, the representation of each template.
    output : int, default 0
    max_bytes : int, default 2 GiB

    Returns
    -------
    Tensor, float64, shape ``(T,) * N``
        ``G[t_1, .., t_N] = h_y(x^(t_1), .., x^(t_N))``.

    Notes
    -----
    With ``T = M`` and ``F`` invertible, every matricization of ``G`` has the rank of
    the same matricization of ``A`` (COLT 2016, Sec. 5).
    """
    net = _check_net(net)
    output = _check_output(net, output)
    f = torch.as_tensor(np.asarray(template_features), dtype=torch.float64)
    if f.ndim != 2 or f.shape[1] != net.n_channels:
        raise ValueError(
            f"template_features must have shape (n_templates, n_channels={net.n_channels}), "
            f"got {tuple(f.shape)}"
        )
    check_budget(f.shape[0], net.n_patches, max_bytes, "grid tensor")
    cpu = _float64_cpu(net)
    leaves = cpu.level_weights(0).detach().to(torch.float64) @ f.T  # (N, r_0, T)
    return _tree_tensor(cpu, leaves, output)


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
    net = _check_net(net)
    output = _check_output(net, output)
    m, n = net.n_channels, net.n_patches
    check_budget(m, n, max_bytes, "brute-force coefficient tensor")
    dtype_net = _float64_cpu(net)
    eye = torch.eye(m, dtype=torch.float64)
    values = []
    combos = itertools.product(range(m), repeat=n)  # last mode fastest: C order
    while True:
        chunk = list(itertools.islice(combos, batch_size))
        if not chunk:
            break
        feats = eye[torch.tensor(chunk)]  # (B, N, M)
        values.append(dtype_net(feats)[:, output])
    return torch.cat(values).reshape((m,) * n)
