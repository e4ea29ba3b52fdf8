"""Exact embedding of a shallow (CP) ConvAC in a deep (HT) one (COLT 2016, footnote 4)."""

from __future__ import annotations

import torch

from .. import validate
from .network import ConvAC, CPNet, HTNet

__all__ = ["embed_cp_in_ht", "embed_cp_in_tree"]


def _check_cp(cp_net) -> None:
    try:
        validate.network(cp_net)
    except validate.InvalidTypeError:
        raise validate.InvalidTypeError(
            f"expected a CP network with windows (n_patches,), got {type(cp_net).__name__}"
        ) from None
    if cp_net.schedule.n_levels != 1:
        raise validate.InvalidValueError(
            f"expected a CP network with windows (n_patches,), got {cp_net.schedule.windows}")


@torch.no_grad()
def embed_cp_in_tree(cp_net: CPNet, tree) -> ConvAC:
    """A network over any pooling tree computing the same function as a CP network.

    Every rank is the CP width ``K``: each leaf conv takes its patch's CP vectors, every
    inner node passes channel ``k`` to channel ``k`` (identity weights) and the root takes
    the CP output weights, so the product over all leaves of channel ``k`` reaches the
    output unchanged.

    Parameters
    ----------
    cp_net : CPNet
        Any ConvAC with the one-level schedule ``(N,)`` (any patch order, shared or not).
    tree : nested sequences of int
        A tree over the patches ``0 .. N-1`` (as ``ConvAC(tree=...)``).

    Returns
    -------
    ConvAC
        Unshared, same dtype and device as ``cp_net``; ``N*M*K + (inner nodes - 1)*K^2 +
        K*Y`` parameters.
    """
    _check_cp(cp_net)
    s = cp_net.schedule
    w0 = cp_net.weights[0]
    k = s.ranks[0]
    net = ConvAC(s.n_patches, s.n_channels, ranks=k, n_outputs=s.n_outputs, tree=tree,
                 dtype=w0.dtype, device=w0.device)
    by_patch = torch.empty_like(cp_net.level_weights(0))  # (N, K, M)
    by_patch[cp_net.order] = cp_net.level_weights(0)  # patch order[p] reads leaf p's vectors
    eye = torch.eye(k, dtype=w0.dtype, device=w0.device)
    weights = net.node_weights()  # views by key
    for tn_key, w in enumerate(weights):
        if tn_key < s.n_patches:
            w.copy_(by_patch[net.order[tn_key]])
        elif tn_key < len(weights) - 1:
            w.copy_(eye)
    weights[-1].copy_(cp_net.weights[-1])
    return net


@torch.no_grad()
def embed_cp_in_ht(cp_net: CPNet, window: int = 2) -> HTNet:
    """An HT network computing the same function as a CP network.

    The leaves take the CP vectors, every inner level passes channel ``k`` to channel
    ``k`` (identity weights), and the output level takes the CP output weights, so
    ``h_y`` is unchanged.  Every rank equals the CP width ``K``; with ``window=2`` the
    HT has ``N*M*K + (N-2)*K^2 + K*Y`` parameters (unshared).

    Parameters
    ----------
    cp_net : CPNet
        Any ConvAC with the one-level schedule ``(N,)``; ``N`` must be a power of
        ``window``.
    window : int, default 2

    Returns
    -------
    HTNet
        Same dtype, device, sharing and patch order as ``cp_net``.
    """
    _check_cp(cp_net)
    window = validate.positive_int(window, "window", 2)
    s = cp_net.schedule
    w0 = cp_net.weights[0]
    ht = HTNet(s.n_patches, s.n_channels, s.ranks[0], s.n_outputs, shared=cp_net.shared,
               window=window, geometry=cp_net.order.cpu().numpy(), dtype=w0.dtype,
               device=w0.device)
    ht.weights[0].copy_(w0)
    k = s.ranks[0]
    eye = torch.eye(k, dtype=w0.dtype, device=w0.device)
    for level in range(1, ht.schedule.n_levels):
        ht.weights[level].copy_(eye.expand_as(ht.weights[level]))
    ht.weights[-1].copy_(cp_net.weights[-1])
    return ht
