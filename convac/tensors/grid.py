"""Grid tensors of generalized ConvACs (any pooling operator).

A network with pooling operator ``g`` (:mod:`convac.nets.pooling`) realizes a *generalized*
tensor decomposition of its **grid tensor** over templates ``x^(1) .. x^(T)``:
``G[t_1, .., t_N] = h_y(x^(t_1), .., x^(t_N))`` (Cohen & Shashua, ICML 2016, Sec. 4).
Products give the CP / HT decompositions of the ConvAC; ``max(a, b, 0)`` and
``max(a, 0) + max(b, 0)`` give convolutional rectifier networks with max and average
pooling.  There is no coefficient tensor for a general ``g``, so the grid tensor is built
the only way that holds for every operator: ``T^N`` forward evaluations, batched under the
memory budget.

**Templates.**  The paper assumes ``M`` templates whose representation matrix
``F[t, d] = f_d(x^(t))`` is invertible (its universality and efficiency results are stated
for such grids).  convac takes ``F`` as the network's input features for the grid: by
default ``F = I_M`` (:func:`identity_templates`: ``M`` distinct templates, each lighting
one representation channel), which is invertible and rational; :func:`neuron_templates`
evaluates the paper's ReLU neurons ``f_d(x) = max(0, <w_d, x> + b_d)`` (with bias) on
template points instead.

**Exactness.**  Products, max and sums keep integers integers.  With integer weights,
integer features and a pooling operator with a known growth :attr:`PoolingOperator.bound`,
:func:`grid_tensor` bounds every intermediate value; below ``2^53`` every float64
operation is exact, the grid tensor is certified integer, and
:func:`convac.rank.grid.grid_rank` computes its matricization rank exactly over the rationals
(python-flint ``fmpz_mat``).

References
----------
N. Cohen, A. Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import arrays, validate
from ..nets.network import ConvAC
from ..nets.tree import fold
from .coefficient import DEFAULT_MAX_BYTES, _float64_cpu, _grid_by_weights

__all__ = [
    "identity_templates",
    "neuron_templates",
    "GridTensor",
    "grid_tensor",
    "exact_bound",
    "EXACT_LIMIT",
]

EXACT_LIMIT = 2**53
"""Integers below this magnitude are exact in float64, and so are their sums and products
while every partial result stays below it."""

CHUNK_BYTES = 64 * 1024**2
"""Working memory of one batch of forward evaluations (features and activations)."""


def identity_templates(n_channels: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``F = I_M``: ``M`` distinct templates, template ``t`` lighting channel ``t`` only.

    Returns
    -------
    Tensor, shape ``(M, M)``
        ``F[t, d] = f_d(x^(t))``; invertible and integer.
    """
    m = validate.positive_int(n_channels, "n_channels")
    return torch.eye(m, dtype=dtype)


def neuron_templates(templates, weight, bias) -> torch.Tensor:
    """The paper's ReLU-neuron representation evaluated on template points.

    ``F[t, d] = max(0, <w_d, x^(t)> + b_d)`` (ICML 2016, Sec. 3: representation functions
    ``f_theta`` with ``theta = (w, b)``, a bias included).

    Parameters
    ----------
    templates : array_like, shape ``(T, s)``
        Template patches ``x^(1) .. x^(T)``.
    weight : array_like, shape ``(M, s)``
    bias : array_like, shape ``(M,)``

    Returns
    -------
    Tensor, float64, shape ``(T, M)``
    """
    x = torch.as_tensor(arrays.float_array(templates, "templates", "(T, s)"))
    w = torch.as_tensor(arrays.float_array(weight, "weight", "(M, s)"))
    b = torch.as_tensor(arrays.float_array(bias, "bias", "(M,)"))
    if x.ndim != 2 or w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != x.shape[1]:
        raise validate.InvalidValueError(
            f"expected templates (T, s), weight (M, s) and bias (M,), got "
            f"{tuple(x.shape)}, {tuple(w.shape)} and {tuple(b.shape)}"
        )
    return torch.relu(x @ w.T + b)  # (T, M)


@dataclass(frozen=True)
class GridTensor:
    """A grid tensor and what its entries rest on.

    Attributes
    ----------
    values : Tensor, float64, shape ``(T,) * N``
        ``values[t_1, .., t_N] = h_y(x^(t_1), .., x^(t_N))``, mode ``i`` being patch ``i``.
    exact : bool
        Whether the entries are certified exact integers (integer weights and features,
        a rational operator, every intermediate below :data:`EXACT_LIMIT`).
    bound : float or None
        The bound on every intermediate value that decided it (``None``: not
        integer-valued, or the operator's growth is unknown).
    pooling : str
        Name of the network's pooling operator.
    """

    values: torch.Tensor
    exact: bool
    bound: float | None
    pooling: str


def _is_integer(t: torch.Tensor) -> bool:
    t = t.detach()
    return bool(torch.isfinite(t).all()) and bool((t == torch.round(t)).all())


def exact_bound(net: ConvAC, features: torch.Tensor) -> float | None:
    """A bound on ``|x|`` for every value the forward pass computes on rows of ``features``.

    Parameters
    ----------
    net : ConvAC
    features : Tensor, shape ``(T, M)``

    Returns
    -------
    float or None
        ``None`` when the weights or features are not integers, or the pooling operator
        is not rational or has no known growth; otherwise the largest bound over all
        levels (conv partial sums included: ``|sum_a w_a x_a| <= sum_a |w_a| b``).
    """
    op = net.pooling
    weights = [w.detach().to("cpu", torch.float64) for w in net.weights]
    if not (op.rational and op.bound is not None and _is_integer(features)
            and all(_is_integer(w) for w in weights)):
        return None
    f_max = float(features.abs().max()) if features.numel() else 0.0
    # node weights (rank_out, rank_in): the row sums of |w| bound a conv's output
    row_sums = [float(w.detach().abs().sum(dim=-1).max()) for w in net.node_weights()]

    def leaf(tn) -> tuple:
        conv = row_sums[tn.key] * f_max
        return conv, conv

    def node(tn, kids: list) -> tuple:
        pooled = float(op.bound(max(b for b, _ in kids), len(kids)))
        conv = row_sums[tn.key] * pooled
        return conv, max(pooled, conv, *(worst for _, worst in kids))

    _, worst = fold(net.schedule, leaf, node)
    return max(worst, f_max, max(float(w.abs().max()) for w in weights))


def _check_features(net: ConvAC, features) -> torch.Tensor:
    """Template features as a float64 CPU tensor ``(T, M)``, real and finite; default
    :func:`identity_templates`."""
    if features is None:
        return identity_templates(net.n_channels)
    name, shape = "template_features", f"(n_templates, n_channels={net.n_channels})"
    if isinstance(features, torch.Tensor) and features.device.type == "meta":
        raise validate.InvalidTypeError(f"{name} is on the 'meta' device (shape only, no "
                                        "data); expected a tensor with values")
    dtype = getattr(features, "dtype", None)
    kind = "f" if dtype is None else (
        ("c" if dtype.is_complex else "b" if dtype == torch.bool else "f")
        if isinstance(dtype, torch.dtype) else getattr(dtype, "kind", "f"))
    if kind not in "iuf":
        raise validate.InvalidTypeError(f"{name} must be real numbers, got dtype {dtype}")
    f = torch.as_tensor(arrays.float_array(features, name, shape))
    if f.ndim != 2 or f.shape[1] != net.n_channels or f.shape[0] < 1:
        raise validate.InvalidValueError(f"{name} must have shape {shape}, got "
                                         f"{tuple(f.shape)}")
    if not bool(torch.isfinite(f).all()):
        raise validate.InvalidValueError(f"{name} must be finite")
    return f


def _grid_by_forward(net: ConvAC, features: torch.Tensor, output: int,
                     batch_size: int | None = None) -> torch.Tensor:
    """Grid tensor by ``T^N`` forward evaluations, batched: the route of every pooling
    operator (:func:`grid_tensor` takes it for all but product pooling).

    Parameters
    ----------
    net : ConvAC
        Float64 on the CPU.
    features : Tensor, float64, shape ``(T, M)``
    output : int
    batch_size : int, optional
        Grid points per forward call; default: as many as fit in :data:`CHUNK_BYTES`.

    Returns
    -------
    Tensor, float64, shape ``(T,) * N``
    """
    t, n = features.shape[0], net.n_patches
    total = t**n
    if batch_size is None:
        per_point = 8 * n * (net.n_channels + 3 * net.schedule.max_width)
        batch_size = max(1, min(total, CHUNK_BYTES // per_point))
    batch_size = validate.positive_int(batch_size, "batch_size")
    powers = t ** torch.arange(n - 1, -1, -1)  # (N,), mode 0 most significant
    values = torch.empty(total, dtype=torch.float64)
    for start in range(0, total, batch_size):
        flat = torch.arange(start, min(start + batch_size, total))  # (B,)
        digits = (flat[:, None] // powers) % t  # (B, N): template index of each patch
        values[start : start + flat.numel()] = net(features[digits])[:, output]  # (B,)
    return values.reshape((t,) * n)


@torch.no_grad()
def grid_tensor(net: ConvAC, template_features=None, output: int = 0,
                max_bytes: int = DEFAULT_MAX_BYTES, batch_size: int | None = None) -> GridTensor:
    """Grid tensor of a ConvAC with any pooling operator over templates,
    ``G[t_1, .., t_N] = h_y(x^(t_1), .., x^(t_N))``.

    Parameters
    ----------
    net : ConvAC
        Any pooling operator (product, ReLU+max, ReLU+sum, user-given).
    template_features : array_like, shape ``(T, M)``, optional
        ``F[t, d] = f_d(x^(t))``, the templates' representation; default
        :func:`identity_templates` (``T = M``, ``F = I``).
    output : int, default 0
    max_bytes : int, default 2 GiB
        Budget of the float64 result (``T^N`` entries), checked before anything is built.
    batch_size : int, optional
        Grid points per forward call where the grid is built by forward evaluations
        (every pooling operator but the product); default: as many as fit in
        :data:`CHUNK_BYTES`.

    Returns
    -------
    GridTensor
        ``values`` of shape ``(T,) * N`` (mode ``i`` is patch ``i``: the network applies
        its own pooling geometry), with the exactness certificate.

    Notes
    -----
    Grid point ``(t_1, .., t_N)`` is the input ``X = (x^(t_1), .., x^(t_N))``, whose
    features are ``rep[i, :] = F[t_i, :]`` (ICML 2016, eq. 3).  Product pooling (a ConvAC)
    has a coefficient tensor ``A`` and ``G = A x_1 F .. x_N F``, contracted from the
    weights without building ``A`` (:func:`convac.tensors.coefficient._grid_by_weights`);
    for ``F = I`` that is ``A`` itself, and with ``T = M`` and ``F`` invertible every
    matricization of ``G`` has the rank of the same matricization of ``A`` (COLT 2016,
    Sec. 5).  Every other operator is evaluated point by point, ``T^N`` forward passes in
    batches.  Either route's intermediate values (node values and their partial sums and
    products) are within :func:`exact_bound`, so the certificate holds for both.
    """
    net = validate.network(net)
    output = validate.output(net, output)
    f = _check_features(net, template_features)
    validate.check_budget(f.shape[0], net.n_patches, validate.max_bytes(max_bytes),
                          "grid tensor")
    if batch_size is not None:
        batch_size = validate.positive_int(batch_size, "batch_size")
    cpu = _float64_cpu(net)
    if net.pooling.name == "product":
        values = _grid_by_weights(cpu, f, output)
    else:
        values = _grid_by_forward(cpu, f, output, batch_size)
    bound = exact_bound(cpu, f)
    exact = bound is not None and bound < EXACT_LIMIT
    return GridTensor(values, exact, bound, net.pooling.name)
