"""Grid tensors of generalized ConvACs (any pooling operator) and their matricization ranks.

A network with pooling operator ``g`` (:mod:`convac.pooling`) realizes a *generalized*
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
operation is exact, the grid tensor is certified integer, and :func:`grid_rank` computes
its matricization rank exactly over the rationals (python-flint ``fmpz_mat``).

References
----------
N. Cohen, A. Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import validate
from .matricize import RankResult, matricization_rank, matricize, resolve_partition
from .network import ConvAC
from .tensors import DEFAULT_MAX_BYTES
from .tree import fold_levels

__all__ = [
    "identity_templates",
    "neuron_templates",
    "GridTensor",
    "grid_tensor",
    "exact_bound",
    "grid_rank",
    "shallow_rank_per_unit",
    "shallow_width_lower_bound",
    "additive_floor",
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
    x = torch.as_tensor(validate.float_array(templates, "templates", "(T, s)"))
    w = torch.as_tensor(validate.float_array(weight, "weight", "(M, s)"))
    b = torch.as_tensor(validate.float_array(bias, "bias", "(M,)"))
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
    # weights[l]: (..., r_l, r_{l-1}); the row sums of |w| bound a conv's output
    row_sums = [float(w.abs().sum(dim=-1).max()) for w in weights]
    leaf = row_sums[0] * f_max

    def level(lvl: int, w: int, state: tuple) -> tuple:
        b, worst = state
        pooled = float(op.bound(b, w))
        conv = row_sums[lvl] * pooled
        return conv, max(worst, pooled, conv)

    _, worst = fold_levels(net.schedule, (leaf, leaf), level)
    return max(worst, f_max, max(float(w.abs().max()) for w in weights))


def _check_features(net: ConvAC, features) -> torch.Tensor:
    if features is None:
        return identity_templates(net.n_channels)
    f = torch.as_tensor(validate.float_array(features, "features",
                                             f"(n_templates, n_channels={net.n_channels})"))
    if f.ndim != 2 or f.shape[1] != net.n_channels or f.shape[0] < 1:
        raise validate.InvalidValueError(
            f"features must have shape (n_templates >= 1, n_channels={net.n_channels}), got "
            f"{tuple(f.shape)}"
        )
    if not bool(torch.isfinite(f).all()):
        raise validate.InvalidValueError("features must be finite")
    return f


@torch.no_grad()
def grid_tensor(net: ConvAC, features=None, output: int = 0,
                max_bytes: int = DEFAULT_MAX_BYTES, batch_size: int | None = None) -> GridTensor:
    """Grid tensor of any (generalized) ConvAC by ``T^N`` forward evaluations.

    Parameters
    ----------
    net : ConvAC
        Any pooling operator (product, ReLU+max, ReLU+sum, user-given).
    features : array_like, shape ``(T, M)``, optional
        ``F[t, d] = f_d(x^(t))``, the templates' representation; default
        :func:`identity_templates` (``T = M``, ``F = I``).
    output : int, default 0
    max_bytes : int, default 2 GiB
        Budget of the float64 result (``T^N`` entries), checked before anything is built.
    batch_size : int, optional
        Grid points per forward call; default: as many as fit in :data:`CHUNK_BYTES`.

    Returns
    -------
    GridTensor
        ``values`` of shape ``(T,) * N`` (mode ``i`` is patch ``i``: the network applies
        its own pooling geometry), with the exactness certificate.

    Notes
    -----
    Grid point ``(t_1, .., t_N)`` is the input ``X = (x^(t_1), .., x^(t_N))``, whose
    features are ``rep[i, :] = F[t_i, :]`` (ICML 2016, eq. 3).  For product pooling and
    ``F = I`` this is the coefficient tensor (the one-hot oracle).
    """
    net = validate.network(net)
    output = validate.output(net, output)
    f = _check_features(net, features)
    t, n = f.shape[0], net.n_patches
    validate.check_budget(t, n, validate.max_bytes(max_bytes), "grid tensor")
    w0 = net.weights[0]
    cpu = net if (w0.device.type == "cpu" and w0.dtype == torch.float64) else (
        copy.deepcopy(net).to("cpu", torch.float64))
    total = t**n
    if batch_size is None:
        per_point = 8 * n * (net.n_channels + 3 * max(net.schedule.widths))
        batch_size = max(1, min(total, CHUNK_BYTES // per_point))
    batch_size = validate.positive_int(batch_size, "batch_size")
    powers = t ** torch.arange(n - 1, -1, -1)  # (N,), mode 0 most significant
    values = torch.empty(total, dtype=torch.float64)
    for start in range(0, total, batch_size):
        flat = torch.arange(start, min(start + batch_size, total))  # (B,)
        digits = (flat[:, None] // powers) % t  # (B, N): template index of each patch
        values[start : start + flat.numel()] = cpu(f[digits])[:, output]  # (B,)
    bound = exact_bound(cpu, f)
    exact = bound is not None and bound < EXACT_LIMIT
    return GridTensor(values.reshape((t,) * n), exact, bound, net.pooling.name)


def _have_flint() -> bool:
    try:
        import flint  # noqa: F401  (python-flint: exact integer linear algebra)
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


def _exact_rational_rank(mat: torch.Tensor) -> int:
    if not _have_flint():  # pragma: no cover - depends on the environment
        raise ImportError("the exact grid rank needs python-flint; install it with "
                          "`pip install python-flint` or `pip install convac[exact]`")
    import flint

    rows = [[int(x) for x in row] for row in mat.to(torch.int64).tolist()]
    return int(flint.fmpz_mat(rows).rank()) if mat.numel() else 0


def grid_rank(grid, partition="odd-even", method: str = "auto",
              rtol: float | None = None) -> RankResult:
    """Matricization rank of a grid tensor, exact where the entries are exact integers.

    Parameters
    ----------
    grid : GridTensor, or Tensor / ndarray of shape ``(T,) * N``
    partition : str, sequence of int or Partition, default "odd-even"
    method : {"auto", "exact", "dense"}
        ``exact``: rank over the rationals of the integer matricization (python-flint
        ``fmpz_mat.rank``, fraction-free elimination: no tolerance); refused unless the
        grid is a certified-exact :class:`GridTensor` or an integer-valued array.
        ``dense``: numerical rank from the SVD, tolerance and margin reported.
        ``auto``: ``exact`` where allowed and python-flint is installed, else ``dense``.
    rtol : float, optional
        Relative tolerance of the dense method.

    Returns
    -------
    RankResult
        ``method`` ``"exact"`` (``certified`` states what it proves) or ``"dense"``.
    """
    validate.option({"auto": 0, "exact": 0, "dense": 0}, method, "grid rank method")
    rtol = validate.tolerance(rtol)
    if isinstance(grid, GridTensor):
        values, exact = grid.values, grid.exact
        why = "a grid tensor certified integer (every intermediate below 2^53)"
    else:
        values = torch.as_tensor(np.asarray(grid.detach().cpu() if isinstance(grid, torch.Tensor)
                                            else grid), dtype=torch.float64)
        exact = _is_integer(values) and bool((values.abs() < EXACT_LIMIT).all())
        why = "an integer-valued tensor"
    if values.ndim < 2:
        raise validate.InvalidValueError(
            f"a grid tensor of order >= 2 is needed, got shape {tuple(values.shape)}")
    if method == "exact" and not exact:
        raise validate.InvalidValueError(
            "method='exact' needs a certified-exact GridTensor or an integer-valued tensor "
            "(use integer weights, integer features and a rational pooling operator); "
            "use method='dense' or 'auto'"
        )
    if method == "dense" or not exact or (method == "auto" and not _have_flint()):
        return matricization_rank(values, partition, method="dense", rtol=rtol)
    if rtol is not None:
        raise validate.InvalidValueError(f"exact ranks take no tolerance, got rtol={rtol!r}")
    rank = _exact_rational_rank(matricize(values, partition))
    return RankResult(rank, "exact", None, None, math.inf, False,
                      f"exact rank over Q of the matricization of {why} (python-flint "
                      "fmpz_mat.rank): no floating-point decision")


def shallow_rank_per_unit(pooling, partition, n_modes: int, n_templates: int) -> int | None:
    """Largest matricization rank one hidden unit of a shallow network can contribute.

    A shallow (generalized CP) network of width ``Z`` has grid tensor
    ``sum_z a_z g(v^{z,1}_{t_1}, .., v^{z,N}_{t_N})``; its rank is at most ``Z`` times this.

    - product: ``1`` (a rank-one term).
    - ReLU+max: ``T * min(|I|, |J|)`` (capped by the matrix side): the term is
      ``max(P[t_I], Q[t_J])`` with ``P`` taking at most ``T |I|`` values (one per patch
      and template), so it has at most that many distinct rows, likewise columns.
    - ReLU+sum: ``None`` (meaning: not per unit) -- the whole grid tensor is additive,
      ``sum_i phi_i(t_i)``, of rank ``<= 2`` whatever the width; see
      :func:`shallow_width_lower_bound`.
    - other operators: ``None`` (unknown).
    """
    part = resolve_partition(partition, n_modes)
    name = pooling if isinstance(pooling, str) else pooling.name
    if name == "product":
        return 1
    if name == "relu-max":
        small = min(len(part.rows), len(part.cols))
        return min(n_templates * small, n_templates**small)
    return None


def shallow_width_lower_bound(rank: int, pooling, partition, n_modes: int,
                              n_templates: int) -> int | None:
    """Smallest shallow width whose grid tensors can reach matricization rank ``rank``.

    Returns
    -------
    int or None
        product: ``rank``; ReLU+max: ``ceil(rank / (T min(|I|, |J|)))``; ReLU+sum:
        ``0`` or ``1`` when ``rank <= 2`` (``1`` if ``rank`` is positive) and ``None``
        above 2 -- no width suffices (shallow ReLU+average networks are not universal,
        ICML 2016, Sec. 5); other operators: ``None`` (unknown).
    """
    rank = validate.integer(rank, "rank", 0)
    name = pooling if isinstance(pooling, str) else pooling.name
    if name in ("relu-sum", "relu-avg"):
        return min(rank, 1) if rank <= 2 else None
    per_unit = shallow_rank_per_unit(name, partition, n_modes, n_templates)
    return None if per_unit is None else -(-rank // per_unit)


def additive_floor(tensor) -> float:
    """Relative distance from a tensor to the additive tensors ``sum_i phi_i(t_i)``.

    With an invertible template matrix the grid tensors of shallow ReLU+average networks
    of width ``>= 2N`` are exactly the additive tensors (each is
    ``sum_z a_z sum_i relu(v^{z,i}_{t_i})``), so this is the smallest relative fit error
    any such network reaches: the certified floor of the universality measurement.

    Parameters
    ----------
    tensor : array_like, shape ``(T_1, .., T_N)``

    Returns
    -------
    float
        ``||G - P G||_F / ||G||_F`` with ``P`` the orthogonal projection onto additive
        tensors (mean plus main effects, the ANOVA decomposition); 0 for a zero tensor.
    """
    g = torch.as_tensor(np.asarray(tensor.detach().cpu() if isinstance(tensor, torch.Tensor)
                                   else tensor), dtype=torch.float64)
    norm = float(torch.linalg.vector_norm(g))
    if norm == 0.0:
        return 0.0
    mean = g.mean()
    proj = mean.expand_as(g).clone()
    for i in range(g.ndim):
        others = tuple(k for k in range(g.ndim) if k != i)
        effect = g.mean(dim=others, keepdim=True) - mean  # (1, .., T_i, .., 1)
        proj = proj + effect
    return float(torch.linalg.vector_norm(g - proj)) / norm
