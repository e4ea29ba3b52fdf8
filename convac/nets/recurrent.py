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

import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .. import arrays, validate
from .network import fan_in_draws, seeded_generator, signed_log, signed_log_conv

__all__ = ["RAC", "rac_forward", "rac_forward_log", "rac_parameter_count", "rac_scale_gains",
           "MAX_MOD_WIDTH"]

MAX_MOD_WIDTH = 2**10
"""Widest layer whose products are exact modulo a prime below ``2^21`` in float64: a sum
of ``R`` products of two residues stays below ``R * 2^42 <= 2^52``."""


PROBE_STEPS = 128
"""Steps of the standard-normal probe that sets the initial scale of each layer."""

PROBE_BURN_IN = 16
"""Probe steps left out of the averages: the state forgets its constant start in a few
steps (the hidden matrix mixes the channels at every step)."""

PROBE_FLOPS = 2**22
"""Multiply-adds of one probe step of one layer, ``batch * R^2``: a wider network gets
fewer probe sequences (16 to 256)."""


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


def _log_layer(log_abs: torch.Tensor, sign: torch.Tensor, w_in: torch.Tensor,
               w_h: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One RAC layer in signed log space: inputs ``(T, B, R_{l-1})`` to states
    ``(T, B, R_l)`` (``log|h_t|`` and ``sign(h_t)``)."""
    drive_log, drive_sign = signed_log_conv(log_abs, sign, w_in)  # (T, B, R)
    h_log, h_sign = signed_log(h0.expand(log_abs.shape[1], -1))  # (B, R)
    logs, signs = [], []
    for t in range(drive_log.shape[0]):
        h_log, h_sign = signed_log_conv(h_log[None], h_sign[None], w_h)  # (1, B, R)
        h_log, h_sign = h_log[0] + drive_log[t], h_sign[0] * drive_sign[t]  # (B, R)
        logs.append(h_log)
        signs.append(h_sign)
    return torch.stack(logs), torch.stack(signs)


def _mean_finite(x: torch.Tensor) -> float:
    """Mean of the finite entries (0 if there are none)."""
    finite = torch.isfinite(x)
    count = int(finite.sum())  # a masked sum: no copy of the finite entries
    return float(torch.where(finite, x, 0.0).sum()) / count if count else 0.0


def rac_forward_log(features: torch.Tensor, input_weights, hidden_weights, initial_states,
                    output_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The RAC recurrence in signed log space: products become sums of ``log|x|`` (signs
    multiply) and every matrix product a signed log-sum-exp, so no state over- or
    underflows however long the sequence.

    Parameters
    ----------
    As :func:`rac_forward` (without ``prime``).

    Returns
    -------
    log_abs, sign : Tensor, shape ``(batch, Y)``
        ``log|y|`` (``-inf`` where ``y`` is exactly zero) and ``sign(y)``.
    """
    log_abs, sign = signed_log(features.transpose(0, 1))  # (T, B, M)
    for w_in, w_h, h0 in zip(input_weights, hidden_weights, initial_states, strict=True):
        log_abs, sign = _log_layer(log_abs, sign, w_in, w_h, h0)  # (T, B, R_l)
    log_abs, sign = signed_log_conv(log_abs[-1:], sign[-1:], output_weight)  # (1, B, Y)
    return log_abs[0], sign[0]


def rac_scale_gains(input_weights, hidden_weights, output_weight: torch.Tensor,
                    gen: torch.Generator) -> tuple[list[float], list[float], list[float], float]:
    """Per-layer constants that keep every state of a RAC at geometric-mean magnitude 1
    over sequences of any length, on standard-normal features.

    A float64 run of the recurrence over a probe of standard-normal sequences (drawn from
    ``gen``, :data:`PROBE_STEPS` steps), layer after layer, each state kept as a vector of
    largest entry 1 and the logarithm of its scale (:func:`_renormalized`): the
    logarithms of the log-space recurrence (:func:`rac_forward_log`) without its
    log-sum-exp per product, so it neither overflows nor underflows.  Layer ``l``, run
    with initial state all ones:

    * input gain ``c^I_l = exp(-mean log|W^{I,l} h^{l-1}_t|)``: the drive of every step
      has geometric-mean magnitude 1 (the level-0 conv of a ConvAC);
    * hidden gain ``c^H_l = exp(-lambda_l) / c^I_l``, ``lambda_l`` the growth per step of
      ``mean log|h^l_t|`` after :data:`PROBE_BURN_IN` steps (the top Lyapunov exponent of
      the drawn weights): the weights are shared over time, so a state is a product of
      ``t`` random matrices ``diag(W^I h^{l-1}_t) W^H`` and drifts like
      ``exp(lambda t)``; scaling both matrices by ``c`` multiplies ``h_t`` by ``c^t``;
    * initial value ``s_l`` (``h^l_0 = s_l`` in every channel) so that the states after
      the burn-in have mean ``log|h^l_t| = 0``;

    the next layer reads the rescaled states.  Output gain ``c^O``: the outputs
    ``W^O h^L_t`` after the burn-in get geometric-mean magnitude 1.  The means run over
    every sequence, channel and step of the probe.

    Parameters
    ----------
    input_weights, hidden_weights : sequence of Tensor
        Float64 CPU weights ``(R_l, R_{l-1})`` and ``(R_l, R_l)``; unchanged.
    output_weight : Tensor, shape ``(Y, R_L)``
    gen : torch.Generator
        CPU generator of the probe ``(PROBE_STEPS, batch, M)``.

    Returns
    -------
    input_gains, hidden_gains, initial_values : list of float
        One per layer.
    output_gain : float
    """
    widest = max(w.shape[0] for w in hidden_weights)
    batch = max(16, min(256, PROBE_FLOPS // widest**2))
    x = torch.randn(PROBE_STEPS, batch, input_weights[0].shape[1], generator=gen,
                    dtype=torch.float64)  # (T, P, M): the layer's input is x * exp(scale)
    scale = torch.zeros(PROBE_STEPS, batch, dtype=torch.float64)  # (T, P)
    steps = torch.arange(1, PROBE_STEPS + 1, dtype=torch.float64)[:, None]  # (T, 1)
    gains_in, gains_h, starts = [], [], []
    for w_in, w_h in zip(input_weights, hidden_weights, strict=True):
        drive = torch.matmul(x, w_in.t())  # (T, P, R): W^I h^{l-1}_t / exp(scale)
        gains_in.append(_exp(-_mean_finite(_scaled_log_abs(drive, scale))))
        h = torch.ones(batch, w_h.shape[0], dtype=torch.float64)  # h_0 = 1
        h_scale = torch.zeros(batch, dtype=torch.float64)
        states, scales = [], []
        for t in range(PROBE_STEPS):
            h, grown = _renormalized(torch.matmul(h, w_h.t()) * drive[t])  # (P, R), (P,)
            h_scale = h_scale + scale[t] + grown
            states.append(h)
            scales.append(h_scale)
        x, scale = torch.stack(states), torch.stack(scales)  # (T, P, R), (T, P)
        first, last = (_mean_finite(_scaled_log_abs(x[t], scale[t]))  # mean log|h_t|
                       for t in (PROBE_BURN_IN - 1, PROBE_STEPS - 1))
        growth = (last - first) / (PROBE_STEPS - PROBE_BURN_IN)
        gains_h.append(_exp(-growth) / gains_in[-1])
        scale = scale - growth * steps  # the states of the rescaled weights
        starts.append(_exp(-_mean_finite(
            _scaled_log_abs(x[PROBE_BURN_IN:], scale[PROBE_BURN_IN:]))))
        scale = scale + math.log(starts[-1])  # from h_0 = s_l
    out = torch.matmul(x[PROBE_BURN_IN:], output_weight.t())  # (T', P, Y)
    return (gains_in, gains_h, starts,
            _exp(-_mean_finite(_scaled_log_abs(out, scale[PROBE_BURN_IN:]))))


def _exp(x: float) -> float:
    """``exp(x)``, ``inf`` past float64's range instead of an ``OverflowError`` (the
    constants are then clamped to the parameters' range by :meth:`RAC.reset_parameters`)."""
    return math.exp(x) if x < 709.0 else math.inf


def _renormalized(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` ``(P, R)`` divided row by row by its largest magnitude (1 for an all-zero
    row), and the logarithm of that divisor ``(P,)``."""
    top = x.abs().amax(-1)
    top = torch.where(top > 0, top, torch.ones_like(top))
    return x / top[:, None], top.log()


def _scaled_log_abs(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``log|x * exp(scale)|`` entry by entry, ``scale`` broadcast over the last axis."""
    return x.abs().log() + scale[..., None]


def _representable(constants: list[float], dtype: torch.dtype) -> list[float]:
    """``constants`` clamped to the positive normal range of ``dtype``, with a warning
    where one was outside it: a deep narrow RAC's states spread so far over the probe
    (``log|h_t|`` like ``T^(L - 1/2)``) that no constant keeps them in range."""
    info = torch.finfo(dtype)
    clamped = [min(max(c, info.tiny), info.max) for c in constants]
    if clamped != constants:
        warnings.warn(
            f"RAC initial scale: constants {[c for c in constants if c not in clamped]} "
            f"are outside {dtype}'s range and were clamped to it; the states of this "
            f"network spread beyond {dtype} over {PROBE_STEPS} steps whatever the scale "
            f"(use dtype=torch.float64 or forward_log, or a wider or shallower network)",
            RuntimeWarning, stacklevel=4)
    return clamped


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
    Initialisation (:meth:`reset_parameters`): every weight ``N(0, 1 / fan_in)``, then
    one constant per matrix and a constant initial state per layer
    (:func:`rac_scale_gains`) so that, on features with i.i.d. standard-normal channels,
    every drive ``W^{I,l} h^{l-1}_t``, every state ``h^l_t`` after a few steps and the
    output have geometric-mean magnitude 1, and no state drifts with ``t``: float32
    forwards stay of order one over thousands of steps.  Without the constants the
    weights shared over time make ``log|h_t|`` drift linearly in ``t`` (the Lyapunov
    exponent of the drawn matrices), the outputs shrinking or growing geometrically.
    ``N(0, 1 / fan_in)`` alone gives ``h_1`` second moment 1 in expectation over the
    weights, but not ``h_t``'s median (the products are log-normal), nor its second
    moment for one draw of shared weights.  A seed gives the earlier draws times one
    constant per matrix, so the coefficient tensor on one-hot inputs is the earlier one
    times one constant: its ranks are unchanged.  Rule and measurements:
    ``docs/initialisation.md``.
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
        ``seed``: input weights, hidden weights, output weight, in this order), then scale
        each matrix by one constant and fill each initial state with one constant,
        :func:`rac_scale_gains` (a probe drawn from the same stream after the weights):
        every state and output of order one on standard-normal features, at any length.
        """
        gen = seeded_generator(seed)
        weights = [*self.input_weights, *self.hidden_weights, self.output_weight]
        draws = fan_in_draws(weights, gen)
        d = self.depth
        gains_in, gains_h, starts, gain_out = rac_scale_gains(draws[:d], draws[d:2 * d],
                                                              draws[-1], gen)
        gains = _representable([*gains_in, *gains_h, gain_out, *starts],
                               self.output_weight.dtype)
        for w, draw, gain in zip(weights, draws, gains[:len(weights)], strict=True):
            w.copy_((draw * gain).to(w.dtype))
        for h0, start in zip(self.initial_states, gains[len(weights):], strict=True):
            h0.fill_(start)

    def weight_groups(self) -> tuple[list, list, list, torch.Tensor]:
        """``(input_weights, hidden_weights, initial_states, output_weight)`` as tensors,
        the arguments of :func:`rac_forward`."""
        return (list(self.input_weights), list(self.hidden_weights),
                list(self.initial_states), self.output_weight)

    def _check_features(self, features) -> torch.Tensor:
        f = arrays.real_tensor(features, "features", 3)
        if f.shape[2] != self.n_channels or f.shape[1] < 1:
            raise validate.InvalidValueError(
                f"features must have shape (batch, T >= 1, n_channels={self.n_channels}), "
                f"got {tuple(f.shape)}")
        return f

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Outputs after the last step.

        Parameters
        ----------
        features : Tensor, shape ``(batch, T, M)``, ``T >= 1``

        Returns
        -------
        Tensor, shape ``(batch, Y)``
        """
        f = self._check_features(features)
        w = self.output_weight
        return rac_forward(f.to(w.dtype), *self.weight_groups())

    def forward_log(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs after the last step as signed log-magnitudes
        (:func:`rac_forward_log`), for sequences too long for floating point.

        Returns
        -------
        log_abs, sign : Tensor, shape ``(batch, Y)``
        """
        f = self._check_features(features)
        return rac_forward_log(f.to(self.output_weight.dtype), *self.weight_groups())
