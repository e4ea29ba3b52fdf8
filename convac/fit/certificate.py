"""The Haeffele-Vidal optimality certificate for regularized CP fits, and ``grow_cp``.

The regularized CP problem over factors ``U = (U_1, .., U_N)``, ``U_k`` of shape
``(M_k, K)``, component ``i`` being ``u_i^1 ⊗ .. ⊗ u_i^N``::

    min_U  F(U) = 0.5 ||T - [[U]]||_F^2 + lam * Theta(U),
    Theta(U) = sum_i prod_k ||u_i^k||

is the factorized form of the convex problem ``min_X 0.5 ||T - X||^2 + lam * Omega(X)``,
``Omega(X) = inf {Theta(U) : [[U]] = X}`` (a norm: the projective tensor norm).  Haeffele
& Vidal (2015; stated for any map ``phi`` and regularizer ``Theta`` positively
homogeneous of the same degree, here ``N``: ``phi`` the rank-one map) show (i) a local
minimum of ``F`` at which some component is all zero is a global minimum, and (ii) a
point with ``<-grad l(X), X> = lam Theta(U)`` (true at any first-order point) is a global
minimum iff the polar ``Omega°(-grad l(X) / lam) <= 1``, where
``Omega°(Z) = sup {<Z, u^1 ⊗ .. ⊗ u^N> : ||u^k|| <= 1}`` is the tensor spectral norm.

:func:`certify` brackets that polar: every matricization's largest singular value is an
upper bound (a unit rank-one tensor is a unit rank-one matrix in every matricization),
the best rank-one direction that higher-order power iteration finds is a lower bound.
``upper <= 1``: global optimum; ``lower > 1``: not optimal, and adding ``t d`` (``d``
the direction) lowers ``F`` at rate ``lam (lower - 1)``.  Independently of stationarity,
the duality gap ``F(U) - D(Lambda)``, ``Lambda = (T - X) / max(1, upper)`` feasible for
the dual ``max {<T, Lambda> - 0.5 ||Lambda||^2 : Omega°(Lambda) <= lam}``, bounds how far
``F(U)`` is above the global minimum: a rigorous number (up to the rounding of an SVD).

:func:`grow_cp` is the paper's meta-algorithm: fit at width ``K``, certify,
and while not certified append the rank-one direction found as a new component and refit.

References
----------
B. D. Haeffele, R. Vidal, "Global Optimality in Tensor Factorization, Deep Learning, and
Beyond", arXiv:1506.07540, 2015.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorly as tl
from scipy.optimize import minimize

from .. import validate
from ..tensors.matricization import matricize, resolve_partition
from .cp import as_tensor, check_width_budget
from .floor import default_partitions
from .solvers import balance, cp_objective

__all__ = ["RegularizedFit", "Certificate", "GrowthStep", "Growth", "fit_regularized",
           "certify", "polar_bounds", "grow_cp", "STATUSES"]

STATUSES = ("certified", "not optimal", "not stationary", "undecided")
"""Outcomes of :func:`certify`."""


@dataclass(frozen=True)
class RegularizedFit:
    """A fit of ``0.5 ||T - [[U]]||^2 + lam * sum_i prod_k ||u_i^k||``, factors balanced
    (``||u_i^k||`` equal over ``k`` for each component ``i``).

    Attributes
    ----------
    factors : tuple of ndarray, each shape ``(M_k, K)``
    lam : float
    objective, loss, penalty : float
        ``F(U)``, ``0.5 ||T - [[U]]||^2`` and ``Theta(U) = sum_i prod_k ||u_i^k||``.
    gradient_norm : float
        ``||grad F(U)||`` after balancing (0 at a first-order point).
    iterations : int
    """

    factors: tuple
    lam: float
    objective: float
    loss: float
    penalty: float
    gradient_norm: float
    iterations: int

    @property
    def width(self) -> int:
        return int(self.factors[0].shape[1])

    def to_tensor(self) -> np.ndarray:
        """``[[U]]``, float64, shape ``(M_1, .., M_N)``."""
        if self.width == 0:
            return np.zeros(tuple(f.shape[0] for f in self.factors))
        with tl.backend_context("numpy"):
            return tl.cp_to_tensor((None, list(self.factors)))


def _penalty(factors) -> float:
    """``Theta(U) = sum_i prod_k ||u_i^k||``."""
    norms = np.stack([np.linalg.norm(f, axis=0) for f in factors])  # (N, K)
    return float(np.prod(norms, axis=0).sum())


def _surrogate(tensor, factors, lam):
    """``0.5 ||T - [[U]]||^2 + (lam / N) sum_i sum_k ||u_i^k||^N`` and its gradient.

    By the AM-GM inequality the penalty is ``>= Theta(U)``, with equality on balanced
    factors, so both problems have the same minima (and this one is smooth)."""
    n = len(factors)
    value, grads = cp_objective(tensor, factors)
    for k, f in enumerate(factors):
        nrm = np.linalg.norm(f, axis=0)  # (K,)
        value += lam / n * float(np.sum(nrm ** n))
        grads[k] = grads[k] + lam * f * nrm ** (n - 2)  # (M_k, K)
    return value, grads


def fit_regularized(tensor, width: int, lam: float, init=None, seed: int = 0,
                    n_iter_max: int = 5000, gtol: float = 1e-10) -> RegularizedFit:
    """Minimize ``0.5 ||T - [[U]]||^2 + lam * sum_i prod_k ||u_i^k||`` at width ``K``.

    L-BFGS (scipy) on the smooth balanced surrogate (see :func:`_surrogate`), then the
    factors are balanced.

    Parameters
    ----------
    tensor : ndarray or Tensor, shape ``(M_1, .., M_N)``
    width : int
        ``K >= 0`` (0: the zero tensor).
    lam : float
        ``> 0``.
    init : sequence of ndarray, each shape ``(M_k, K)``, optional
        Starting factors; default seeded Gaussian factors of scale
        ``(||T|| / K)^(1/N) / sqrt(M_k)``.
    seed : int, default 0
    n_iter_max : int, default 5000
        L-BFGS steps.
    gtol : float, default 1e-10
        Stop when the largest gradient entry, relative to ``||T||``, is below it.

    Returns
    -------
    RegularizedFit
    """
    arr = as_tensor(tensor)
    width = validate.integer(width, "width", minimum=0)
    lam = validate.real(lam, "lam", 0.0, strict_minimum=True)
    n_iter_max = validate.count(n_iter_max, "n_iter_max")
    gtol = validate.real(gtol, "gtol", 0.0)
    check_width_budget(arr.shape, max(width, 1), 2**30)
    shape, n = arr.shape, arr.ndim
    if width == 0:
        factors = [np.zeros((m, 0)) for m in shape]
        loss = 0.5 * float(np.vdot(arr, arr))
        return RegularizedFit(tuple(factors), lam, loss, loss, 0.0, 0.0, 0)
    norm = float(np.linalg.norm(arr)) or 1.0
    if init is None:
        rng = np.random.default_rng(validate.seed(seed))
        scale = (norm / width) ** (1.0 / n)
        init = [rng.standard_normal((m, width)) * scale / np.sqrt(m) for m in shape]
    init = [np.array(f, dtype=np.float64) for f in init]
    if [f.shape for f in init] != [(m, width) for m in shape]:
        raise validate.InvalidValueError(
            f"init factors must have shapes {[(m, width) for m in shape]}, got "
            f"{[f.shape for f in init]}")
    sizes = [m * width for m in shape]
    splits = np.cumsum(sizes)[:-1]

    def unpack(x):
        return [p.reshape(m, width) for p, m in zip(np.split(x, splits), shape, strict=True)]

    def fun(x):
        value, grads = _surrogate(arr, unpack(x), lam)
        return value, np.concatenate([g.ravel() for g in grads])

    x0 = np.concatenate([f.ravel() for f in balance(init, drop_zero=True)])
    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": n_iter_max, "maxfun": 2 * n_iter_max, "ftol": 0.0,
                            "gtol": gtol * norm, "maxcor": 30})
    factors = balance(unpack(res.x), drop_zero=True)
    value, grads = _surrogate(arr, factors, lam)
    loss = value - lam / n * sum(float(np.sum(np.linalg.norm(f, axis=0) ** n))
                                 for f in factors)
    penalty = _penalty(factors)
    grad_norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    return RegularizedFit(tuple(factors), lam, loss + lam * penalty, loss, penalty, grad_norm,
                          int(res.nit))


def _hopm(z: np.ndarray, start, n_iter: int, tol: float):
    """Higher-order power iteration for ``max <Z, u^1 ⊗ .. ⊗ u^N>`` over unit vectors
    (De Lathauwer, De Moor & Vandewalle, SIAM J. Matrix Anal. Appl. 21, 2000)."""
    vecs = [v / np.linalg.norm(v) for v in start]
    value = -np.inf
    n = z.ndim
    for _ in range(n_iter):
        for k in range(n):
            contracted = z
            for j in reversed(range(n)):  # contract every mode but k, last first
                if j != k:
                    contracted = np.tensordot(contracted, vecs[j], axes=([j], [0]))  # drops j
            nrm = np.linalg.norm(contracted)
            if nrm == 0:
                return 0.0, vecs
            vecs[k] = contracted / nrm  # (M_k,)
        new = float(nrm)  # = <Z, u^1 ⊗ .. ⊗ u^N> after the last update
        if new - value <= tol * max(abs(new), 1e-300):
            value = new
            break
        value = new
    return value, vecs


def polar_bounds(z, partitions=None, n_restarts: int = 8, seed: int = 0,
                 n_iter: int = 500, tol: float = 1e-14):
    """Bounds on the tensor spectral norm ``||Z||_sigma = sup <Z, u^1 ⊗ .. ⊗ u^N>``.

    Parameters
    ----------
    z : ndarray, shape ``(M_1, .., M_N)``
    partitions : sequence, optional
        Matricizations for the upper bound; default
        :func:`~convac.floor.default_partitions` (odd-even, left-right, 8 balanced).
    n_restarts : int, default 8
        Power-iteration starts: restart 0 from the leading left singular vector of each
        unfolding, the others seeded Gaussian.
    seed, n_iter, tol : power-iteration settings.

    Returns
    -------
    upper : float
        ``min_P sigma_max([Z]_P)`` (exact SVDs).
    partition : Partition
        The partition that gave it.
    lower : float
        ``<Z, d>`` of the best unit rank-one ``d`` found.
    direction : tuple of ndarray, each shape ``(M_k,)``
        Unit vectors with ``d = u^1 ⊗ .. ⊗ u^N``.
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.ndim
    parts = default_partitions(n) if partitions is None else partitions
    uppers = [float(np.linalg.norm(matricize(z, p), 2)) for p in parts]
    best_part = int(np.argmin(uppers))
    rng = np.random.default_rng(validate.seed(seed))
    lower, direction = -np.inf, None
    for restart in range(validate.count(n_restarts, "n_restarts")):
        if restart == 0:
            start = [np.linalg.svd(np.moveaxis(z, k, 0).reshape(z.shape[k], -1),
                                   full_matrices=False)[0][:, 0] for k in range(n)]
        else:
            start = [rng.standard_normal(m) for m in z.shape]
        value, vecs = _hopm(z, start, n_iter, tol)
        if value > lower:
            lower, direction = value, tuple(vecs)

    return uppers[best_part], resolve_partition(parts[best_part], n), lower, direction


@dataclass(frozen=True)
class Certificate:
    """Outcome of :func:`certify`.

    Attributes
    ----------
    status : {"certified", "not optimal", "not stationary", "undecided"}
        ``lower > 1 + rtol``: not optimal; ``upper <= 1 + rtol`` at a first-order point
        (``|alignment - 1| <= rtol``): certified global minimum; ``upper <= 1 + rtol``
        elsewhere: not stationary (refit; the gap bounds the excess); otherwise undecided.
    upper, lower : float
        Bounds on the polar ``Omega°((T - X) / lam)`` (tensor spectral norm).
    partition : Partition
        Matricization that gave ``upper``.
    direction : tuple of ndarray
        Unit vectors of the best rank-one direction (lower bound); with ``"not optimal"``
        adding it (scaled) to the fit lowers the objective.
    objective : float
        ``F(U)`` of the fit.
    dual : float
        Dual value ``<T, Lambda> - 0.5 ||Lambda||^2`` at ``Lambda = (T - X) / max(1, upper)``.
    gap : float
        ``objective - dual >= F(U) - min F``: how far the fit can be from the global minimum.
    alignment : float
        ``<T - X, X> / (lam Theta(U))``: 1 at a first-order point (the condition under
        which ``upper <= 1`` is the paper's certificate; the gap holds regardless).
    lam, rtol : float
    """

    status: str
    upper: float
    lower: float
    partition: object
    direction: tuple
    objective: float
    dual: float
    gap: float
    alignment: float
    lam: float
    rtol: float


def certify(fit, tensor, lam: float, rtol: float = 1e-6, partitions=None,
            n_restarts: int = 8, seed: int = 0) -> Certificate:
    """Haeffele-Vidal certificate of a regularized CP fit.

    Parameters
    ----------
    fit : RegularizedFit, CPFit or sequence of factors
        Anything with ``to_tensor()`` and ``factors`` (a :class:`~convac.fit.CPFit`'s
        weights are folded into its first factor).
    tensor : ndarray or Tensor, shape ``(M_1, .., M_N)``
    lam : float
        Regularization weight ``> 0``.
    rtol : float, default 1e-6
        Margin on the polar value: rounding in a first-order point puts ``upper`` at
        ``1 + O(gradient)``, so ``upper <= 1 + rtol`` counts as certified (the gap states
        what that margin costs).
    partitions, n_restarts, seed
        See :func:`polar_bounds`.

    Returns
    -------
    Certificate
    """
    arr = as_tensor(tensor)
    lam = validate.real(lam, "lam", 0.0, strict_minimum=True)
    rtol = validate.real(rtol, "rtol", 0.0, 1.0)
    factors = [np.asarray(f, dtype=np.float64) for f in getattr(fit, "factors", fit)]
    weights = getattr(fit, "weights", None)
    if weights is not None and factors and factors[0].shape[1]:
        factors[0] = factors[0] * np.asarray(weights)  # (M_1, K)
    if [f.shape[0] for f in factors] != list(arr.shape):
        raise validate.InvalidValueError(
            f"fit has mode sizes {[f.shape[0] for f in factors]}, tensor has shape "
            f"{arr.shape}")
    if factors[0].shape[1]:
        with tl.backend_context("numpy"):
            x = tl.cp_to_tensor((None, factors))
    else:
        x = np.zeros_like(arr)
    resid = arr - x  # -grad l(X), shape (M_1, .., M_N)
    theta = _penalty(factors) if factors[0].shape[1] else 0.0
    objective = 0.5 * float(np.vdot(resid, resid)) + lam * theta
    upper, part, lower, direction = polar_bounds(resid / lam, partitions, n_restarts, seed)
    dual_var = resid / max(1.0, upper)  # feasible: Omega°(dual_var) <= lam
    dual = float(np.vdot(arr, dual_var)) - 0.5 * float(np.vdot(dual_var, dual_var))
    alignment = float(np.vdot(resid, x)) / (lam * theta) if theta > 0 else 1.0
    if lower > 1 + rtol:
        status = "not optimal"
    elif upper <= 1 + rtol:
        # the paper's condition needs a first-order point: <T - X, X> = lam Theta(U)
        status = "certified" if abs(alignment - 1) <= rtol else "not stationary"
    else:
        status = "undecided"
    return Certificate(status, upper, lower, part, direction, objective, dual,
                       objective - dual, alignment, lam, rtol)


@dataclass(frozen=True)
class GrowthStep:
    """One width of :func:`grow_cp`: ``width``, ``objective``, polar ``upper`` and
    ``lower`` bounds, ``status`` and duality ``gap``."""

    width: int
    objective: float
    upper: float
    lower: float
    status: str
    gap: float


@dataclass(frozen=True)
class Growth:
    """Result of :func:`grow_cp`: the ``path`` (tuple of GrowthStep), the last ``fit``
    and its ``certificate``."""

    path: tuple
    fit: RegularizedFit
    certificate: Certificate

    @property
    def width(self) -> int:
        return self.fit.width


def grow_cp(tensor, lam: float, max_width: int = 32, seed: int = 0, rtol: float = 1e-6,
            n_iter_max: int = 5000, n_restarts: int = 8) -> Growth:
    """Grow a regularized CP fit until the Haeffele-Vidal certificate holds.

    Start from width 0 (``X = 0``); at each width certify the fit; if not certified,
    append the rank-one direction ``d`` of the lower bound as a new component of size
    ``t = max(<T - X, d> - lam, 0)`` (the minimizer of ``F`` along ``t d``), balanced over
    the modes, and refit from there (the meta-algorithm of Haeffele & Vidal 2015).

    Parameters
    ----------
    tensor : ndarray or Tensor, shape ``(M_1, .., M_N)``
    lam : float
        ``> 0``.
    max_width : int, default 32
        Stop (uncertified) after this width.
    seed, rtol, n_iter_max, n_restarts
        For :func:`fit_regularized` and :func:`certify`.

    Returns
    -------
    Growth
        ``path`` lists ``(width, objective, upper, lower, status, gap)`` per width.
    """
    arr = as_tensor(tensor)
    lam = validate.real(lam, "lam", 0.0, strict_minimum=True)
    max_width = validate.count(max_width, "max_width", minimum=0)
    fit = fit_regularized(arr, 0, lam)
    path = []
    while True:
        cert = certify(fit, arr, lam, rtol, n_restarts=n_restarts, seed=seed)
        path.append(GrowthStep(fit.width, fit.objective, cert.upper, cert.lower,
                               cert.status, cert.gap))
        if cert.status == "certified" or fit.width >= max_width:
            break
        size = max(cert.lower * lam - lam, 0.0) ** (1.0 / arr.ndim)
        init = [np.concatenate([f, size * d[:, None]], axis=1)  # (M_k, K + 1)
                for f, d in zip(fit.factors, cert.direction, strict=True)]
        fit = fit_regularized(arr, fit.width + 1, lam, init=init, seed=seed,
                              n_iter_max=n_iter_max)
    return Growth(tuple(path), fit, cert)
