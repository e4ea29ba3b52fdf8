"""Recurrent arithmetic circuits (RACs): shallow and deep (stacked) recurrent networks
whose hidden state meets the input by multiplicative integration.

Layer ``l = 1 .. L`` of a depth-``L`` RAC with widths ``R_1 .. R_L`` over inputs with
``M = R_0`` channels keeps a hidden state ``h^l_t`` (``R_l`` channels):

``h^l_t = (W^{H,l} h^l_{t-1}) * (W^{I,l} h^{l-1}_t)``,  ``h^0_t = f(x_t)``,

``*`` the entrywise product, ``h^l_0`` a learned initial state, and the output after
``T`` steps ``y = W^O h^L_T``.  The weights are shared over time (a recurrent network).
On one-hot inputs the output is the coefficient tensor ``A[d_1 .. d_T]`` of
``y = sum A[d_1..d_T] prod_t f_{d_t}(x_t)``, an order-``T`` tensor with ``M`` values per
mode.  A depth-1 RAC is a tensor train (its cores ``G_t[d] = diag(W^I[:, d]) W^H``, the
first also times ``h_0``, the last times ``W^O``): the caterpillar tree of a ConvAC.

The recurrence is one pure function, :func:`rac_forward`, used by the module's forward
and, with every product reduced modulo a prime, by the exact ranks of
:mod:`convac.rank.recurrent`.

References
----------
Y. Levine, O. Sharir, A. Shashua, "Benefits of depth for long-term memory of recurrent
networks", arXiv:1710.09431 (the deep RAC, Multiplicative Integration).
V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
ICLR 2018 (the tensor-train network).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import arrays, validate

__all__ = ["RAC", "rac_forward", "rac_parameter_count", "MAX_MOD_WIDTH"]

MAX_MOD_WIDTH = 2**10
"""Widest layer whose products are exact modulo a prime below ``2^21`` in float64: a sum
of ``R`` products of two residues stays below ``R * 2^42 <= 2^52``."""


def _widths(width, depth: int) -> tuple[int, ...]:
    if isinstance(width, Sequence) and not isinstance(width, (str, bytes)):
        out = tuple(validate.positive_int(w, f"width[{i}]") for i, w in enumerate(width))
        if len(out) != depth:
            raise validate.InvalidValueError(
                f"width must be one int or {depth} ints (one per layer, depth={depth}), "
                f"got {len(out)}: {list(out)}")
        return out
    return (validate.positive_int(width, "width"),) * depth


def rac_parameter_count(n_channels: int, width, depth: int = 1, n_outputs: int = 1) -> int:
    """Parameters of a RAC in closed form:
    ``sum_l (R_l R_{l-1} + R_l^2 + R_l) + Y R_L`` (input, hidden, initial state per layer,
    then the output), ``R_0 = M``; independent of the sequence length (shared weights)."""
    depth = validate.positive_int(depth, "depth")
    widths = (validate.positive_int(n_channels, "n_channels"),) + _widths(width, depth)
    count = sum(widths[l] * widths[l - 1] + widths[l] ** 2 + widths[l]
                for l in range(1, depth + 1))
    return count + validate.positive_int(n_outputs, "n_outputs") * widths[-1]


def rac_forward(features: torch.Tensor, input_weights, hidden_weights, initial_states,
                output_weight: torch.Tensor, prime: int | None = None) -> torch.Tensor:
    """The RAC recurrence over a batch of sequences.

    Parameters
    ----------
    features : Tensor, shape ``(batch, T, M)``
        ``f(x_t)`` for every sequence and step.
    input_weights : sequence of Tensor, layer ``l``: ``(R_l, R_{l-1})``
    hidden_weights : sequence of Tensor, layer ``l``: ``(R_l, R_l)``
    initial_states : sequence of Tensor, layer ``l``: ``(R_l,)``
    output_weight : Tensor, shape ``(Y, R_L)``
    prime : int, optional
        Reduce every product modulo ``prime`` (the arguments being float64 residues in
        ``[0, prime)``, widths at most :data:`MAX_MOD_WIDTH`): the exact image of the
        network in GF(prime).  Default: plain arithmetic.

    Returns
    -------
    Tensor, shape ``(batch, Y)``
    """
    def reduce(x: torch.Tensor) -> torch.Tensor:
        return x if prime is None else torch.remainder(x, prime)

    x = features.transpose(0, 1)  # (T, B, R_{l-1}): steps first, one matmul per layer input
    batch = x.shape[1]
    for w_in, w_h, h0 in zip(input_weights, hidden_weights, initial_states, strict=True):
        drive = reduce(torch.matmul(x, w_in.t()))  # (T, B, R_l): W^I h^{l-1}_t for every t
        h = h0.expand(batch, -1)  # (B, R_l)
        states = []
        for t in range(drive.shape[0]):
            h = reduce(reduce(torch.matmul(h, w_h.t())) * drive[t])  # (B, R_l)
            states.append(h)
        x = torch.stack(states)  # (T, B, R_l): the next layer's input
    return reduce(torch.matmul(x[-1], output_weight.t()))  # (B, Y)


class RAC(nn.Module):
    """A (deep) recurrent arithmetic circuit: ``depth`` stacked layers of multiplicative
    integration, weights shared over time.

    Parameters
    ----------
    n_channels : int
        Input channels ``M`` (``f(x_t)`` has ``M`` entries).
    width : int or sequence of int
        Hidden channels ``R_l`` of every layer (one int: the same for all).
    depth : int, default 1
        Layers ``L``; ``depth=1`` is the shallow RAC (a tensor train with shared cores).
    n_outputs : int, default 1
        Outputs ``Y``.
    seed : int, optional
        Seed of a private generator for the initial weights (the global RNG is untouched).
    dtype, device : optional
        Parameter dtype (default ``torch.get_default_dtype()``) and device.

    Notes
    -----
    Parameters: ``input_weights[l]`` ``(R_l, R_{l-1})``, ``hidden_weights[l]``
    ``(R_l, R_l)``, ``initial_states[l]`` ``(R_l,)``, ``output_weight`` ``(Y, R_L)``.
    Weights are drawn ``N(0, 1 / fan_in)``, initial states are ones.  The state is a
    product of ``t`` factors after ``t`` steps, so over long sequences outputs shrink or
    grow geometrically; the rank measurements use one-hot inputs and short sequences.
    """

    def __init__(self, n_channels: int, width, depth: int = 1, n_outputs: int = 1,
                 seed: int | None = None, dtype: torch.dtype | None = None, device=None):
        super().__init__()
        self.depth = validate.positive_int(depth, "depth")
        self.n_channels = validate.positive_int(n_channels, "n_channels")
        self.widths = _widths(width, self.depth)
        self.n_outputs = validate.positive_int(n_outputs, "n_outputs")
        kwargs = {"dtype": arrays.float_dtype(dtype), "device": arrays.device(device)}
        fan = (self.n_channels,) + self.widths
        self.input_weights = nn.ParameterList(
            [nn.Parameter(torch.empty(fan[l + 1], fan[l], **kwargs)) for l in range(self.depth)])
        self.hidden_weights = nn.ParameterList(
            [nn.Parameter(torch.empty(r, r, **kwargs)) for r in self.widths])
        self.initial_states = nn.ParameterList(
            [nn.Parameter(torch.empty(r, **kwargs)) for r in self.widths])
        self.output_weight = nn.Parameter(torch.empty(self.n_outputs, self.widths[-1], **kwargs))
        self.reset_parameters(seed)

    def extra_repr(self) -> str:
        return (f"n_channels={self.n_channels}, widths={self.widths}, depth={self.depth}, "
                f"n_outputs={self.n_outputs}")

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = None) -> None:
        """Draw every weight ``N(0, 1 / fan_in)`` (a private generator seeded with
        ``seed``) and set the initial states to ones."""
        seed = validate.seed(seed)
        gen = torch.Generator(device="cpu")
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(seed)
        weights = [*self.input_weights, *self.hidden_weights, self.output_weight]
        for w in weights:
            draw = torch.randn(tuple(w.shape), generator=gen, dtype=torch.float64)
            w.copy_(draw / w.shape[1] ** 0.5)
        for h0 in self.initial_states:
            h0.fill_(1.0)

    def weight_groups(self) -> tuple[list, list, list, torch.Tensor]:
        """``(input_weights, hidden_weights, initial_states, output_weight)`` as tensors,
        the arguments of :func:`rac_forward`."""
        return (list(self.input_weights), list(self.hidden_weights),
                list(self.initial_states), self.output_weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Outputs after the last step.

        Parameters
        ----------
        features : Tensor, shape ``(batch, T, M)``, ``T >= 1``

        Returns
        -------
        Tensor, shape ``(batch, Y)``
        """
        f = arrays.real_tensor(features, "features", 3)
        if f.shape[2] != self.n_channels or f.shape[1] < 1:
            raise validate.InvalidValueError(
                f"features must have shape (batch, T >= 1, n_channels={self.n_channels}), "
                f"got {tuple(f.shape)}")
        w = self.output_weight
        return rac_forward(f.to(w.dtype), *self.weight_groups())
