"""Gradient fitting of shallow generalized networks to a grid tensor.

A shallow network (generalized CP, schedule ``(N,)``) of width ``Z`` with pooling ``g``
has grid tensor ``sum_z a_z H_z`` where ``H_z[t] = g(<a^{z,1}, F[t_1]>, ..,
<a^{z,N}, F[t_N]>)``.  Its output layer is linear, so for any hidden weights the best
output weights are a least-squares solve: training runs Adam on the hidden weights with
the output weights re-solved at every step (variable projection; by the envelope theorem
the gradient at the solved output weights is the gradient of the projected loss).

References
----------
N. Cohen, A. Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016 (shallow networks, Sec. 3).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from .. import validate
from ..nets.network import CPNet
from ..nets.pooling import resolve_pooling
from ..tensors.grid import identity_templates

__all__ = ["ShallowFit", "fit_shallow", "additive_floor"]


@dataclass(frozen=True)
class ShallowFit:
    """Result of :func:`fit_shallow`.

    Attributes
    ----------
    width : int
    pooling : str
    rel_error : float
        Best ``||G_fit - G||_F / ||G||_F`` over the restarts (float64, on every grid point).
    errors : tuple of float
        The error of each restart.
    steps, n_restarts : int
    lr : float
    """

    width: int
    pooling: str
    rel_error: float
    errors: tuple
    steps: int
    n_restarts: int
    lr: float


def _grid_inputs(features: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Every grid point's features, ``(T^N, N, M)``, mode 0 most significant."""
    t = features.shape[0]
    idx = torch.tensor(list(itertools.product(range(t), repeat=n_patches)))  # (T^N, N)
    return features[idx]  # (T^N, N, M)


def fit_shallow(target, width: int, pooling="product", features=None, *, steps: int = 1000,
                lr: float = 0.05, n_restarts: int = 2, seed: int = 0,
                shared: bool = False) -> ShallowFit:
    """Fit a shallow network with pooling ``pooling`` to a grid tensor.

    Parameters
    ----------
    target : array_like, shape ``(T,) * N``
        The grid tensor to reproduce (e.g. a deep network's,
        :func:`convac.tensors.grid.grid_tensor`).
    width : int
        Hidden width ``Z`` of the shallow network.
    pooling : str or PoolingOperator
    features : array_like, shape ``(T, M)``, optional
        Template representations; default ``I_T``.
    steps : int, default 1000
        Full-batch Adam steps per restart (cosine decay of ``lr``).
    lr : float, default 0.05
    n_restarts : int, default 2
        Restart ``k`` starts from the network seeded ``seed + k``.
    seed : int, default 0
    shared : bool, default False
        One hidden weight per unit for every patch (convolutional) instead of one per
        patch.

    Returns
    -------
    ShallowFit
        The best relative error over the restarts.  Gradient training gives an upper
        bound on the best error of width ``Z``, never a lower bound.
    """
    g = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor)
                                   else target), dtype=torch.float64)
    if g.ndim < 2 or len(set(g.shape)) != 1:
        raise validate.InvalidValueError(
            f"target must be a grid tensor of shape (T,) * N with N >= 2, got {tuple(g.shape)}")
    width = validate.positive_int(width, "width")
    steps = validate.count(steps, "steps")
    n_restarts = validate.count(n_restarts, "n_restarts")
    lr = validate.real(lr, "lr", 0.0, strict_minimum=True)
    seed = validate.integer(seed, "seed", 0)
    shared = validate.boolean(shared, "shared")
    op = resolve_pooling(pooling)
    n, t = g.ndim, g.shape[0]
    f = identity_templates(t) if features is None else torch.as_tensor(
        np.asarray(features), dtype=torch.float64)
    if f.ndim != 2 or f.shape[0] != t:
        raise validate.InvalidValueError(
            f"features must have shape (T={t}, M), got {tuple(f.shape)}")
    x = _grid_inputs(f, n)  # (T^N, N, M)
    y = g.reshape(-1, 1)  # (T^N, 1)
    norm = float(torch.linalg.vector_norm(y))
    if norm == 0.0:
        return ShallowFit(width, op.name, 0.0, (0.0,) * n_restarts, steps, n_restarts, lr)
    errors = []
    for k in range(n_restarts):
        # n_outputs = width with identity output weights: the net returns its hidden units
        net = CPNet(n, f.shape[1], width, n_outputs=width, seed=seed + k, shared=shared,
                    dtype=torch.float64, pooling=op)
        with torch.no_grad():
            net.weights[1].copy_(torch.eye(width, dtype=torch.float64))
        net.weights[1].requires_grad_(False)
        opt = torch.optim.Adam([net.weights[0]], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        best = np.inf
        for _ in range(steps + 1):
            hidden = net(x)  # (T^N, Z)
            coef = torch.linalg.lstsq(hidden.detach(), y, driver="gelsd").solution  # (Z, 1)
            residual = hidden @ coef - y  # (T^N, 1)
            loss = residual.pow(2).sum()
            best = min(best, float(loss.detach().sqrt()) / norm)
            if not np.isfinite(best):
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        errors.append(best)
    return ShallowFit(width, op.name, float(min(errors)), tuple(errors), steps, n_restarts, lr)


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
