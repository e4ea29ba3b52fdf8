"""CP solvers: one run of one method from one starting point.

Each solver takes a float64 tensor ``T`` of shape ``(M_1, .., M_N)`` and starting factors
(``N`` arrays of shape ``(M_k, K)``) and returns ``(weights, factors, iterations,
converged)``; :func:`run_solver` runs one with its escapes from stalls, and
:func:`convac.fit.cp.fit_cp` runs that over seeded restarts and measures every result's
error from its own reconstruction.

- ``als``: alternating least squares (Kolda & Bader 2009, Sec. 3.4) in tensorly's ops
  (any tensorly backend), with the exact relative error after every sweep.
- ``als-ls``: the same with Bro's line search (extrapolation along the last sweep's
  step, as in tensorly's ``parafac``; R. Bro, "Multi-way analysis in the food industry",
  PhD thesis, 1998).
- ``gn``: all-at-once damped Gauss-Newton (Levenberg-Marquardt) on the residual
  ``([[U]] - T) / ||T||``, Jacobian ``d[[U]] / dU_k[i, r] = e_i (mode k) ⊗
  (⊗_{j != k} U_j[:, r])``; ``J^T J`` is assembled from the factors' Gram matrices
  (:func:`cp_gramian`, never forming ``J``) and ``J^T r`` is the MTTKRP, so a step costs
  one gradient plus a Cholesky of side ``K sum M_k``.  Quadratic convergence near an exact
  fit (Tomasi & Bro, "A comparison of algorithms for fitting the PARAFAC model", CSDA 50,
  2006, found damped Gauss-Newton the most reliable CP algorithm).
- ``lbfgs``: all-at-once quasi-Newton: L-BFGS (scipy's ``L-BFGS-B``) on every factor at
  once for ``f(U) = ||T - [[U]]||^2 / (2 ||T||^2)`` with the analytic gradient
  ``df/dU_k = -[T - [[U]]]_(k) (U_N ⊙ .. ⊙ U_{k+1} ⊙ U_{k-1} ⊙ .. ⊙ U_1) / ||T||^2``
  (the MTTKRP; Acar, Dunlavy & Kolda, "A scalable optimization approach for fitting
  canonical tensor decompositions", J. Chemometrics 25, 2011: CP-OPT), preconditioned by
  the block diagonal of ``J^T J`` (the ALS normal matrices).

Stalls.  On CP teachers whose component norms spread over decades (products of Gaussian
norms: ``CPNet(6, 4, width=16)``, ``CPNet(10, 2, width=16)``), every solver stalls at
1e-4..1e-3 with two fitted components sharing one teacher component and the smallest
teacher components missing.  :func:`run_solver` detects the stall (relative decrease
below :data:`STALL` per iteration) and replaces a redundant component by the residual's
best rank-one approximation (:func:`replace_component`), up to :data:`KICKS` times per
start: a solver's own escape, never another solver's result.  scipy's L-BFGS rather than
``torch.optim.LBFGS``: it works on the numpy arrays the other solvers use, with an analytic
gradient (no autograd graph per evaluation).  What each solver was measured to reach, and
at what cost: ``docs/cp-solvers.md``.
"""

from __future__ import annotations

import numpy as np
import tensorly as tl
import torch
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import minimize

from ..validate import InvalidValueError, Registry, check_shape_budget

__all__ = ["SOLVERS", "GN_MAX_BYTES", "STALL", "KICKS", "cp_objective", "cp_jacobian",
           "cp_gramian", "balance", "rank_one", "redundancy_order", "replace_component",
           "run_solver"]

SOLVERS = Registry("CP solver")
"""The CP solvers by name: ``als``, ``als-ls``, ``gn``, ``lbfgs``."""

GN_MAX_BYTES = 64 * 2**20
"""Largest ``J^T J`` (float64 bytes, side ``K sum M_k``) the ``gn`` solver builds."""

_LETTERS = "abcdefghijklmnopqrstuvwx"


def _khatri_rao(mats):
    """Column-wise Kronecker product ``(M_1, K), .., (M_j, K) -> (M_1 .. M_j, K)``, the
    first factor varying slowest (the column order of a C-order unfolding).  numpy
    arrays or torch tensors; tensorly's ``khatri_rao`` did the same at 4x the cost
    (its backend dispatch, per call: half of a CP-ALS sweep on a 3^8 tensor)."""
    out = mats[0]
    for m in mats[1:]:
        out = (out[:, None, :] * m[None, :, :]).reshape(-1, m.shape[1])  # (rows * M, K)
    return out


def _mttkrp(tensor, factors, k: int):
    """``T_(k) (⊙_{j != k} U_j)``, shape ``(M_k, K)``: the mode-``k`` unfolding (C order,
    a transient copy) times the Khatri-Rao product of the other factors.  numpy arrays
    or torch tensors."""
    others = [f for j, f in enumerate(factors) if j != k]  # at least one: order >= 2
    unfolded = tensor.moveaxis(k, 0) if hasattr(tensor, "moveaxis") else np.moveaxis(tensor, k, 0)
    unfolded = unfolded.reshape(tensor.shape[k], -1)  # (M_k, prod of the others)
    return unfolded @ _khatri_rao(others)  # (M_k, K)


def _reconstruct(factors):
    """``[[U]] = sum_k U_1[:, k] ⊗ .. ⊗ U_N[:, k]``, shape ``(M_1, .., M_N)``, ``N >= 2``
    (numpy arrays or torch tensors)."""
    shape = tuple(f.shape[0] for f in factors)
    return (factors[0] @ _khatri_rao(factors[1:]).T).reshape(shape)


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
    grads = [_mttkrp(resid, factors, k) / scale for k in range(tensor.ndim)]  # (M_k, K) each
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


STALL = 1e-6
"""A run stalls when ``STALL_WINDOW`` iterations lower its relative error by less than
``STALL`` per iteration, relative to the error itself: a local minimum or a swamp, never
the linear convergence to an exact fit (whose relative decrease per iteration stays
constant until rounding)."""

STALL_WINDOW = 10

KICKS = {"als": 8, "als-ls": 8, "lbfgs": 8, "gn": 8}
"""Component replacements (:func:`replace_component`) per start after a stalled run."""

KICK_GAIN = STALL_WINDOW * STALL
"""A kick pays when the run after it ends below ``(1 - KICK_GAIN)`` times the error it
started from (the stall rule's own threshold over one window); else kicking stops."""

SAME_STALL = 1e-6
"""Stall points whose relative errors agree to this relative tolerance are taken as one
(another start that ends in the same local minimum): a kick that failed from one is not
tried from the other."""

FLOOR_RTOL = 1e-6
"""A stalled run within this relative tolerance of the Eckart-Young floor is done: no
CP of its width can be better by more."""


def _stalled(errors) -> bool:
    """Whether the last ``STALL_WINDOW`` entries of ``errors`` fell by less than ``STALL``
    per step relative to the last."""
    if len(errors) <= STALL_WINDOW:
        return False
    return errors[-STALL_WINDOW - 1] - errors[-1] < STALL_WINDOW * STALL * errors[-1]


def _als_sweeps(tensor, factors, n_iter_max, tol, linesearch, backend):
    """CP-ALS in tensorly's ``backend``: every sweep solves mode ``k``'s least squares
    ``U_k V_k = T_(k) (⊙_{j != k} U_j)``, ``V_k = *_{j != k} U_j^T U_j`` (Kolda & Bader
    2009, Sec. 3.4), then measures the exact relative error from the reconstruction
    (tensorly's running estimate loses everything below ``sqrt(eps)``).  With
    ``linesearch``, each sweep after the second also tries ``U_prev + s (U - U_prev)``,
    ``s = it**(1/e)`` with ``e`` raised by one on every rejection (Bro 1998, as in
    tensorly's ``parafac``), kept when it lowers the error.  Stops below ``tol`` or on a
    stall (:func:`_stalled`)."""
    conv = torch.from_numpy if backend == "pytorch" else np.asarray
    width, n = factors[0].shape[1], tensor.ndim
    with tl.backend_context(backend):
        arr = conv(tensor)
        norm = float(tl.norm(arr)) or 1.0
        fs = [conv(np.array(f)) for f in factors]

        def error(fs):
            return float(tl.norm(arr - _reconstruct(fs))) / norm

        errors, ls_exp, n_iter = [error(fs)], 3.0, 0
        eye = conv(np.eye(width))
        for n_iter in range(1, n_iter_max + 1):  # noqa: B007 (n_iter is reported)
            old = list(fs)
            for k in range(n):
                gram = _mode_gram(fs, k)  # (K, K), from the factors updated so far
                mttkrp = _mttkrp(arr, fs, k)  # (M_k, K)
                # a ridge of rounding size keeps swamped (near-singular) V_k solvable
                ridge = 1e-15 * float(tl.trace(gram)) / width + 1e-300
                fs[k] = tl.transpose(tl.solve(gram + ridge * eye, tl.transpose(mttkrp)))
            err = error(fs)
            if linesearch and n_iter > 1:
                step = n_iter ** (1.0 / ls_exp)
                trial = [p + step * (f - p) for p, f in zip(old, fs, strict=True)]
                trial_err = error(trial)
                if trial_err < err:
                    fs, err = trial, trial_err
                else:
                    ls_exp += 1.0
            errors.append(err)
            if err <= tol or _stalled(errors):
                break
        converged = bool(errors[-1] <= tol or _stalled(errors))
        return np.ones(width), [_numpy(f) for f in fs], int(n_iter), converged


@SOLVERS.register("als")
def _als(tensor, factors, n_iter_max, tol, backend="numpy"):
    """CP-ALS (:func:`_als_sweeps`); stops below ``tol`` or on a stall."""
    return _als_sweeps(tensor, factors, n_iter_max, tol, False, backend)


@SOLVERS.register("als-ls")
def _als_ls(tensor, factors, n_iter_max, tol, backend="numpy"):
    """CP-ALS with Bro's line search (:func:`_als_sweeps`)."""
    return _als_sweeps(tensor, factors, n_iter_max, tol, True, backend)


def cp_gramian(factors) -> np.ndarray:
    """``J^T J`` of :func:`cp_jacobian` from the factors' Gram matrices, without ``J``.

    Block ``(k, l)``: ``delta_ii' Gamma_k[r, r']`` for ``k = l`` and
    ``U_l[i', r] U_k[i, r'] Gamma_kl[r, r']`` otherwise, ``Gamma`` the Hadamard product of
    ``U_j^T U_j`` over the other modes (Phan, Tichavsky & Cichocki, "Low complexity damped
    Gauss-Newton algorithms for CANDECOMP/PARAFAC", SIAM J. Matrix Anal. Appl. 34, 2013).

    Returns
    -------
    ndarray, shape ``(K sum M_k, K sum M_k)``
    """
    width = factors[0].shape[1]
    grams = [f.T @ f for f in factors]  # (K, K) each
    sizes = [f.shape[0] * width for f in factors]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((offs[-1], offs[-1]))
    n = len(factors)
    for k in range(n):
        for m in range(k, n):
            gamma = np.ones((width, width))
            for j in range(n):
                if j not in (k, m):
                    gamma = gamma * grams[j]  # (K, K)
            if k == m:
                block = np.kron(np.eye(factors[k].shape[0]), gamma)  # (M_k K, M_k K)
            else:
                block = np.einsum("is,jr,rs->irjs", factors[k], factors[m], gamma)
                block = block.reshape(sizes[k], sizes[m])  # (M_k K, M_l K)
            out[offs[k]:offs[k + 1], offs[m]:offs[m + 1]] = block
            out[offs[m]:offs[m + 1], offs[k]:offs[k + 1]] = block.T
    return out


@SOLVERS.register("gn")
def _gn(tensor, factors, n_iter_max, tol, backend="numpy"):
    """Levenberg-Marquardt on all factors with the structured ``J^T J``; ``n_iter_max``
    steps (accepted or not).  Stops at a relative error below 1e-14, on a stall
    (:func:`_stalled`, the error of every step, accepted or not), at a relative step
    below 1e-14, or at a damping above 1e20 (no descent left)."""

    shape, width = tensor.shape, factors[0].shape[1]
    side = width * sum(shape)
    check_shape_budget((side, side), GN_MAX_BYTES, "Gauss-Newton J^T J")
    scale = float(np.vdot(tensor, tensor)) or 1.0
    x = np.concatenate([np.asarray(f, dtype=np.float64).ravel() for f in factors])

    def evaluate(x):
        fs = _unpack(x, shape, width)
        value, grads = cp_objective(tensor, fs, scale)
        return value, np.concatenate([g.ravel() for g in grads]), fs

    value, grad, fs = evaluate(x)
    gram = cp_gramian(fs) / scale
    mu, nu = 1e-3 * float(np.max(np.diag(gram))), 2.0
    converged, n_iter, errors = False, 0, []
    for n_iter in range(1, int(n_iter_max) + 1):  # noqa: B007 (n_iter is reported)
        errors.append(float(np.sqrt(2 * value)))  # relative error, every step
        # not stopped at ``tol``: near an exact fit one or two more steps reach rounding
        if 2 * value < 1e-28 or _stalled(errors):
            converged = True
            break
        try:
            chol = np.linalg.cholesky(gram + mu * np.eye(gram.shape[0]))
            step = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        except np.linalg.LinAlgError:
            mu, nu = mu * nu, nu * 2
            continue
        if np.linalg.norm(step) <= 1e-14 * (np.linalg.norm(x) + 1e-14):
            converged = True
            break
        new_value, new_grad, new_fs = evaluate(x + step)
        predicted = 0.5 * float(step @ (mu * step - grad))
        rho = (value - new_value) / predicted if predicted > 0 else -1.0
        if rho > 0:
            x, value, grad = x + step, new_value, new_grad
            gram = cp_gramian(new_fs) / scale
            mu, nu = mu * max(1 / 3, 1 - (2 * rho - 1) ** 3), 2.0
        else:
            mu, nu = mu * nu, nu * 2
        if mu > 1e20:
            break
    return np.ones(width), _unpack(x, shape, width), int(n_iter), bool(converged)


LBFGS_REFRESH = 100
"""L-BFGS steps between two refreshes of its preconditioner (:func:`_lbfgs`)."""


def _mode_gram(factors, k: int):
    """``V_k = *_{j != k} U_j^T U_j``, shape ``(K, K)``: the diagonal block of ``J^T J``
    for mode ``k`` (``I_{M_k} ⊗ V_k``), the normal matrix of ALS (numpy arrays or torch
    tensors; order >= 2)."""
    gram = None
    for j, f in enumerate(factors):
        if j != k:
            gram = f.T @ f if gram is None else gram * (f.T @ f)  # (K, K)
    return gram


@SOLVERS.register("lbfgs")
def _lbfgs(tensor, factors, n_iter_max, tol, backend="numpy"):
    """All-at-once L-BFGS on the factors (CP-OPT); ``n_iter_max`` quasi-Newton steps.

    Preconditioned by the block diagonal of ``J^T J``: every ``LBFGS_REFRESH`` steps the
    variables become ``Y_k = U_k L_k`` with ``V_k = L_k L_k^T`` (:func:`_mode_gram`,
    Cholesky), so that the Gauss-Newton curvature of each factor alone is the identity;
    without it the components' norms, spread over decades on CP teachers, make the
    problem too ill-conditioned to pass 1e-3 in thousands of steps.  Runs in numpy
    whatever ``backend``.  Stops when the relative error falls below ``tol``, on a stall
    (:func:`_stalled`), at the step limit, or when the line search fails.
    """
    shape, width = tensor.shape, factors[0].shape[1]
    scale = float(np.vdot(tensor, tensor)) or 1.0
    fs = [np.asarray(f, dtype=np.float64) for f in factors]
    stop, errors, used = {"done": False}, [], 0

    def callback(intermediate_result):
        errors.append(float(np.sqrt(2 * max(intermediate_result.fun, 0.0))))
        if errors[-1] < tol or _stalled(errors):
            stop["done"] = True
            raise StopIteration

    while used < n_iter_max and not stop["done"]:
        chols = []
        for gram in (_mode_gram(fs, k) for k in range(len(fs))):
            ridge = 1e-12 * float(np.trace(gram)) / width + 1e-300
            chols.append(cholesky(gram + ridge * np.eye(width), lower=True))  # (K, K)

        def to_factors(y, chols=chols):  # U_k = Y_k L_k^{-1}
            return [solve_triangular(c, yk.T, lower=True, trans="T").T
                    for c, yk in zip(chols, _unpack(y, shape, width), strict=True)]

        def fun(y, chols=chols, to_factors=to_factors):
            value, grads = cp_objective(tensor, to_factors(y), scale)
            return value, np.concatenate(  # dF/dY_k = dF/dU_k L_k^{-T}
                [solve_triangular(c, g.T, lower=True).T.ravel()
                 for c, g in zip(chols, grads, strict=True)])

        y0 = np.concatenate([(f @ c).ravel() for f, c in zip(fs, chols, strict=True)])
        steps = min(LBFGS_REFRESH, n_iter_max - used)
        # ftol/gtol 0: stop on the target error, a stall or a failed line search, not on
        # progress measured in absolute terms (which ends far above 1e-8 here)
        res = minimize(fun, y0, jac=True, method="L-BFGS-B", callback=callback,
                       options={"maxiter": steps, "maxfun": 2 * steps + 20,
                                "ftol": 0.0, "gtol": 0.0, "maxcor": 20})
        fs, used = to_factors(res.x), used + int(res.nit)
        if res.nit < steps and not stop["done"]:  # the line search failed
            break
    return np.ones(width), fs, used, bool(used < n_iter_max or stop["done"])


def balance(factors, drop_zero: bool = False) -> list:
    """The same CP with every component's columns rescaled to one common norm
    ``(prod_k ||U_k[:, r]||)^(1/N)`` (signs kept).

    L-BFGS's gradient is badly scaled on unbalanced components (ALS is invariant to it),
    and the Haeffele-Vidal penalty is stated on balanced factors.

    Parameters
    ----------
    factors : sequence of ndarray, shapes ``(M_k, K)``
    drop_zero : bool, default False
        A component with a zero column is zero: ``True`` zeroes its other columns too
        (the certificate's ``Theta`` and penalty), ``False`` leaves them as they are (a
        solver can still move it off zero).

    Returns
    -------
    list of ndarray, shapes ``(M_k, K)``
    """
    norms = np.stack([np.linalg.norm(f, axis=0) for f in factors])  # (N, K)
    alive = (norms > 0).all(axis=0)  # (K,)
    safe = np.where(norms > 0, norms, 1.0)
    common = np.exp(np.mean(np.log(safe), axis=0))  # (K,)
    if drop_zero:
        common = np.where(alive, common, 0.0)
    return [f * (common / s) for f, s in zip(factors, safe, strict=True)]


def rank_one(tensor: np.ndarray, n_iter: int = 50):
    """Best rank-one approximation ``sigma u_1 ⊗ .. ⊗ u_N`` by higher-order power
    iteration from the leading left singular vectors of the unfoldings (De Lathauwer, De
    Moor & Vandewalle, SIAM J. Matrix Anal. Appl. 21, 2000).

    ``n_iter`` sweeps, always: no early stop, since the kicks of
    :func:`replace_component` depend on the last digits (stopping once a sweep moved no
    entry by more than 1e-14 lost a tiny teacher component that 50 sweeps find,
    tests/test_fit.py::test_kicks_find_two_tiny_teacher_components).  Each step is one
    matrix-vector product of an unfolding with the Kronecker product of the other
    vectors (:func:`_mttkrp`).

    Returns
    -------
    sigma : float
    vectors : list of ndarray, each shape ``(M_k,)``, unit norm
    """
    arr = np.asarray(tensor, dtype=np.float64)
    n = arr.ndim
    if n < 2:
        raise InvalidValueError(f"rank_one needs a tensor of order >= 2, got shape {arr.shape}")
    vecs = [np.linalg.svd(np.moveaxis(arr, k, 0).reshape(arr.shape[k], -1),
                          full_matrices=False)[0][:, 0] for k in range(n)]  # (M_k,) each

    def contract(k):  # T_(k) (⊗_{j != k} u_j)
        return _mttkrp(arr, [v[:, None] for v in vecs], k)[:, 0]  # (M_k,)

    for _ in range(n_iter):
        for k in range(n):
            v = contract(k)
            vecs[k] = v / (np.linalg.norm(v) or 1.0)
    sigma = float(contract(0) @ vecs[0])
    return sigma, vecs


def _components(factors):
    """Norms ``prod_k ||U_k[:, r]||`` (shape ``(K,)``), unit columns (``(M_k, K)`` each) and
    the signed congruences ``prod_k <u_k^r, u_k^s>`` (shape ``(K, K)``, zero diagonal)."""
    col = [np.linalg.norm(f, axis=0) for f in factors]  # (K,) each
    norms = np.prod(col, axis=0)  # (K,)
    units = [f / np.where(c > 0, c, 1.0) for f, c in zip(factors, col, strict=True)]
    congruence = np.prod([u.T @ u for u in units], axis=0)  # (K, K)
    np.fill_diagonal(congruence, 0.0)
    return norms, units, congruence


def redundancy_order(factors) -> np.ndarray:
    """Components from the most redundant to the least: first the smaller member of every
    pair of congruence ``|prod_k cos(U_k[:, r], U_k[:, s])|`` above 1/2 (most congruent
    pair first), then the others by increasing norm ``prod_k ||U_k[:, r]||``.

    Returns
    -------
    ndarray of int, shape ``(K,)``
    """
    norms, _, congruence = _components(factors)
    congruence = np.abs(congruence)
    order = []
    for flat in np.argsort(-congruence, axis=None):
        r, s = np.unravel_index(flat, congruence.shape)
        if congruence[r, s] <= 0.5:
            break
        smaller = int(r if norms[r] <= norms[s] else s)
        if smaller not in order:
            order.append(smaller)
    order += [int(r) for r in np.argsort(norms) if int(r) not in order]
    return np.asarray(order)


def _set_component(factors, r: int, coeff: float, vecs) -> None:
    """``factors[k][:, r] = |coeff|^(1/N) vecs[k]``, the sign of ``coeff`` on mode 0."""
    scale, sign = abs(coeff) ** (1.0 / len(factors)), float(np.sign(coeff)) or 1.0
    for k, f in enumerate(factors):
        f[:, r] = scale * vecs[k] * (sign if k == 0 else 1.0)


def replace_component(tensor: np.ndarray, factors) -> list:
    """Escape a stalled fit: replace a redundant component by the best rank-one
    approximation of the residual ``T - [[U]]``.

    At the local minima met on CP teachers whose component norms spread over decades
    (tests/test_fit.py), two fitted components share one teacher component (congruence
    near 1, often with large cancelling norms) and the smallest teacher components are
    missing from the fit; the residual is then close to the largest missing one.  The
    component replaced is the first of :func:`redundancy_order`; where it has a partner of
    congruence above 1/2, the partner first absorbs its projection (the pair merged into
    one component).

    Returns
    -------
    list of ndarray, each shape ``(M_k, K)``
    """
    factors = [np.array(f, dtype=np.float64) for f in factors]
    norms, units, congruence = _components(factors)
    r = int(redundancy_order(factors)[0])
    sigma, vecs = rank_one(tensor - _reconstruct(factors))
    partner = int(np.argmax(np.abs(congruence[r])))
    if abs(congruence[r, partner]) > 0.5:
        _set_component(factors, partner, norms[partner] + norms[r] * congruence[r, partner],
                       [u[:, partner] for u in units])
    _set_component(factors, r, sigma, vecs)
    return factors


def run_solver(name: str, tensor: np.ndarray, factors, n_iter_max: int, tol: float,
               backend: str = "numpy", floor=None, futile: list | None = None):
    """Run solver ``name`` from ``factors`` (balanced, :func:`balance`) for at most
    ``n_iter_max`` iterations in all; see the module docstring.

    Each time the run stalls above ``tol`` (:data:`STALL`), up to ``KICKS[name]`` times,
    a redundant component is replaced by the residual's rank-one direction
    (:func:`replace_component`) and the solver goes on from there with the iterations
    left; the best iterate (by exact relative error) is returned.  No kick is spent
    where it cannot help: at the Eckart-Young floor (no width-``K`` CP does better,
    :data:`FLOOR_RTOL`), after a kick that did not lower the error by
    :data:`KICK_GAIN`, or at a stall point where such a kick failed before (within
    :data:`SAME_STALL`, in ``futile``).

    Parameters
    ----------
    floor : callable, optional
        ``floor() -> float``: the relative Eckart-Young floor of ``tensor`` at this
        width, called (once, by the caller's caching) only when a run stalls.
    futile : list of float, optional
        Relative errors of stall points whose kick failed: read and appended to, so the
        restarts of one fit share it.

    Returns
    -------
    weights : ndarray, shape ``(K,)``
    factors : list of ndarray, each shape ``(M_k, K)``
    iterations : int
        In all, over the kicks.
    converged : bool
    """
    fs = balance([np.array(f, dtype=np.float64) for f in factors])
    norm = float(np.linalg.norm(tensor)) or 1.0
    futile = [] if futile is None else futile
    used, best, stall = 0, None, None
    for kick in range(KICKS[name] + 1):
        if kick:  # from where the last run stalled: each kick starts from a new point
            fs = balance(replace_component(tensor, fs))
        weights, fs, n_iter, converged = SOLVERS[name](
            tensor, fs, int(n_iter_max) - used, float(tol), backend)
        used += n_iter
        fs = [f * weights if k == 0 else f for k, f in enumerate(fs)]  # weights into U_1
        error = float(np.linalg.norm(tensor - _reconstruct(fs))) / norm
        if stall is not None and error > stall * (1 - KICK_GAIN):
            futile.append(stall)  # the kick from there did not pay: none again
            stall = None
        if best is None or error < best[0]:
            best = (error, fs, converged)
        if best[0] <= tol or used >= n_iter_max or not converged or (kick and stall is None):
            break
        stall = error
        if _kick_futile(stall, futile, floor):
            break
    return np.ones(fs[0].shape[1]), best[1], used, bool(best[2])


def _kick_futile(error: float, futile: list, floor) -> bool:
    """Whether a kick from a run stalled at relative ``error`` cannot help: a kick from
    the same stall point failed (the kick is a function of the point), or the error is
    at the Eckart-Young floor."""
    if any(abs(error - f) <= SAME_STALL * f for f in futile):
        return True
    return floor is not None and error <= floor() * (1 + FLOOR_RTOL)
