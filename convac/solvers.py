"""CP solvers: one run of one method from one starting point.

Each solver takes a float64 tensor ``T`` of shape ``(M_1, .., M_N)`` and starting factors
(``N`` arrays of shape ``(M_k, K)``) and returns ``(weights, factors, iterations,
converged)``; :func:`convac.fit.fit_cp` runs them over seeded restarts and measures every
result's error from its own reconstruction.

- ``als``: alternating least squares, tensorly's :func:`~tensorly.decomposition.parafac`
  (Kolda & Bader 2009, Sec. 3.4).
- ``als-ls``: the same with tensorly's line search (extrapolation of the factors along
  the last two iterates every other sweep; Bro 1998, as implemented by tensorly).
- ``gn``: all-at-once damped Gauss-Newton (a trust-region Levenberg-Marquardt: scipy's
  ``least_squares(method="trf")``) on the residual ``([[U]] - T) / ||T||`` with its
  analytic Jacobian ``d[[U]] / dU_k[i, r] = e_i (mode k) ⊗ (⊗_{j != k} U_j[:, r])``;
  quadratic convergence near an exact fit (Paatero's PMF3 and Tomasi & Bro,
  "A comparison of algorithms for fitting the PARAFAC model", CSDA 50, 2006, found it
  the most reliable CP algorithm).  The Jacobian is dense, ``(prod M_k, K sum M_k)``, so
  it runs only within :data:`GN_MAX_BYTES`.
- ``lbfgs``: all-at-once quasi-Newton: L-BFGS (scipy's ``L-BFGS-B``) on every factor at
  once for ``f(U) = ||T - [[U]]||^2 / (2 ||T||^2)`` with the analytic gradient
  ``df/dU_k = -[T - [[U]]]_(k) (U_N ⊙ .. ⊙ U_{k+1} ⊙ U_{k-1} ⊙ .. ⊙ U_1) / ||T||^2``
  (the MTTKRP; Acar, Dunlavy & Kolda, "A scalable optimization approach for fitting
  canonical tensor decompositions", J. Chemometrics 25, 2011: CP-OPT).

Measured on the 20 rank-3 teachers ``CPNet(6, 4, width=3, seed=s)`` (tests/test_fit.py):
from the same starts, ``gn`` reaches 1e-15 from restart 0 in 55-66 evaluations
(0.3-0.4 s CPU) on the five seeds where ALS needs several restarts, L-BFGS needs
900-2500 steps (2-3 s) on the same seeds.  L-BFGS is kept for tensors whose Jacobian
does not fit.  scipy rather than ``torch.optim.LBFGS``: same objective and gradient, but
scipy's line search with ``gtol=ftol=0`` keeps making progress down to 1e-10 and it works
on the numpy arrays ALS uses (no autograd graph per evaluation).
"""

from __future__ import annotations

import numpy as np
import tensorly as tl
import torch
from scipy.optimize import least_squares, minimize
from tensorly.cp_tensor import unfolding_dot_khatri_rao
from tensorly.decomposition import parafac

from .validate import Registry

__all__ = ["SOLVERS", "GN_MAX_BYTES", "cp_objective", "cp_jacobian", "run_solver"]

SOLVERS = Registry("CP solver")
"""The CP solvers by name: ``als``, ``als-ls``, ``gn``, ``lbfgs``."""

GN_MAX_BYTES = 64 * 2**20
"""Largest dense Jacobian (float64 bytes) the ``gn`` solver builds."""

_LETTERS = "abcdefghijklmnopqrstuvwx"


def _reconstruct(factors) -> np.ndarray:
    """``[[U]] = sum_k U_1[:, k] ⊗ .. ⊗ U_N[:, k]``, shape ``(M_1, .., M_N)``."""
    with tl.backend_context("numpy"):
        return tl.cp_to_tensor((None, list(factors)))


def _unpack(x: np.ndarray, shape, width: int) -> list:
    """Flat parameter vector -> factors ``(M_k, K)``."""
    out, pos = [], 0
    for m in shape:
        out.append(x[pos:pos + m * width].reshape(m, width))  # (M_k, K)
        pos += m * width
    return out


def cp_objective(tensor: np.ndarray, factors, scale: float = 1.0):
    """``0.5 ||T - [[U]]||^2 / scale`` and its gradient with respect to every factor.

    Returns
    -------
    value : float
    grads : list of ndarray, each shape ``(M_k, K)``
    """
    resid = _reconstruct(factors) - tensor  # (M_1, .., M_N)
    with tl.backend_context("numpy"):
        grads = [unfolding_dot_khatri_rao(resid, (None, list(factors)), k) / scale
                 for k in range(tensor.ndim)]  # (M_k, K) each
    return 0.5 * float(np.vdot(resid, resid)) / scale, grads


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def cp_jacobian(factors) -> np.ndarray:
    """Jacobian of ``vec([[U]])`` (C order) with respect to ``(vec U_1, .., vec U_N)``.

    Returns
    -------
    ndarray, shape ``(prod M_k, K sum M_k)``
        Column block ``k`` holds ``d[[U]] / dU_k[i, r]`` at column ``i K + r``.
    """
    shape = tuple(f.shape[0] for f in factors)
    n = len(shape)
    blocks = []
    for k in range(n):
        ops, subs = [], []
        for j, f in enumerate(factors):
            ops.append(np.eye(shape[k]) if j == k else f)  # (M_j, M_k) or (M_j, K)
            subs.append(_LETTERS[j] + ("y" if j == k else "z"))
        block = np.einsum(",".join(subs) + "->" + _LETTERS[:n] + "yz", *ops)  # (M.., M_k, K)
        blocks.append(block.reshape(-1, block.shape[-2] * block.shape[-1]))
    return np.concatenate(blocks, axis=1)  # (prod M, K sum M)


def _parafac(tensor, factors, n_iter_max, tol, linesearch, backend):
    width = factors[0].shape[1]
    # tensorly's line search reads its error history, which it keeps only when tol > 0
    tol = max(tol, 1e-300) if linesearch else tol
    conv = torch.from_numpy if backend == "pytorch" else np.asarray
    with tl.backend_context(backend):
        (weights, out), errors = parafac(
            conv(tensor), width, n_iter_max=n_iter_max,
            init=(conv(np.ones(width)), [conv(f) for f in factors]),
            tol=tol, return_errors=True, linesearch=linesearch)
    n_iter = len(errors)
    errors = [float(e) for e in errors]
    converged = bool(tol > 0 and n_iter >= 2 and abs(errors[-2] - errors[-1]) < tol)
    return _numpy(weights), [_numpy(f) for f in out], n_iter, converged


@SOLVERS.register("als")
def _als(tensor, factors, n_iter_max, tol, backend="numpy"):
    """CP-ALS (tensorly ``parafac``); stops when its error estimate changes by < tol."""
    return _parafac(tensor, factors, n_iter_max, tol, False, backend)


@SOLVERS.register("als-ls")
def _als_ls(tensor, factors, n_iter_max, tol, backend="numpy"):
    """CP-ALS with tensorly's line search (extrapolation every other sweep)."""
    return _parafac(tensor, factors, n_iter_max, tol, True, backend)


@SOLVERS.register("gn")
def _gn(tensor, factors, n_iter_max, tol, backend="numpy"):
    """Damped Gauss-Newton (trust-region LM) on all factors; ``n_iter_max`` evaluations."""
    from .validate import check_shape_budget

    shape, width = tensor.shape, factors[0].shape[1]
    check_shape_budget((tensor.size, width * sum(shape)), GN_MAX_BYTES, "Gauss-Newton Jacobian")
    norm = float(np.linalg.norm(tensor)) or 1.0
    target = tensor.ravel() / norm  # (prod M,)

    def residual(x):
        return _reconstruct(_unpack(x, shape, width)).ravel() / norm - target  # (prod M,)

    def jac(x):
        return cp_jacobian(_unpack(x, shape, width)) / norm  # (prod M, K sum M)

    x0 = np.concatenate([np.asarray(f, dtype=np.float64).ravel() for f in factors])
    res = least_squares(residual, x0, jac=jac, method="trf", max_nfev=int(n_iter_max),
                        xtol=1e-15, ftol=1e-15, gtol=1e-15)
    out = _unpack(res.x, shape, width)
    return np.ones(width), out, int(res.nfev), bool(res.status > 0)


@SOLVERS.register("lbfgs")
def _lbfgs(tensor, factors, n_iter_max, tol, backend="numpy"):
    """All-at-once L-BFGS on the factors (CP-OPT); ``n_iter_max`` quasi-Newton steps.

    Runs in numpy whatever ``backend``.  Stops when the relative squared error ``2 f``
    falls below ``tol**2`` (relative error below ``tol``), when the step limit is
    reached, or when the line search stalls.
    """
    shape, width = tensor.shape, factors[0].shape[1]
    scale = float(np.vdot(tensor, tensor)) or 1.0

    def fun(x):
        value, grads = cp_objective(tensor, _unpack(x, shape, width), scale)
        return value, np.concatenate([g.ravel() for g in grads])

    x0 = np.concatenate([np.asarray(f, dtype=np.float64).ravel() for f in factors])
    # ftol/gtol 0: stop on the target error or a stalled line search, not on progress
    # measured in absolute terms (which ends far above 1e-8 on exact-rank tensors)
    stop = {"done": False}

    def callback(intermediate_result):
        if 2 * intermediate_result.fun < tol * tol:
            stop["done"] = True
            raise StopIteration

    res = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": int(n_iter_max), "maxfun": 2 * int(n_iter_max) + 20,
                            "ftol": 0.0, "gtol": 0.0, "maxcor": 20})
    out = _unpack(res.x, shape, width)
    return np.ones(width), out, int(res.nit), bool(stop["done"] or 2 * res.fun < tol * tol)


def run_solver(name: str, tensor: np.ndarray, factors, n_iter_max: int, tol: float,
               backend: str = "numpy"):
    """Run solver ``name`` from ``factors``; see the module docstring.

    Returns
    -------
    weights : ndarray, shape ``(K,)``
    factors : list of ndarray, each shape ``(M_k, K)``
    iterations : int
    converged : bool
    """
    return SOLVERS[name](tensor, [np.array(f, dtype=np.float64) for f in factors],
                         int(n_iter_max), float(tol), backend)
