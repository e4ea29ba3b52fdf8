"""CP fitting of a dense tensor: several solvers behind one :func:`fit_cp`, with restarts.

Every restart starts from one set of factors (restart 0 from the leading singular vectors
of each unfolding, ``init="svd"``, the others uniform random from one seeded generator),
runs a solver of :mod:`convac.fit.solvers` (``als``, ``als-ls``, ``gn``, ``lbfgs``) and has
its relative error measured from its own dense reconstruction; the best is kept.
``method="best"`` runs the solvers one after the other, each over every start with the
same iteration limit, stopping at the first fit whose error reaches ``target`` (the
solvers after the one that succeeds never run), and reports which solver won.  The
global tensorly backend is never changed.  The result loads into a :class:`~convac.network.CPNet`.

References
----------
T. G. Kolda, B. W. Bader, "Tensor Decompositions and Applications", SIAM Review 51(3),
2009 (CP-ALS, Sec. 3.4).  E. Acar, D. M. Dunlavy, T. G. Kolda, "A scalable optimization
approach for fitting canonical tensor decompositions", J. Chemometrics 25(2), 2011.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import tensorly as tl
import torch
from tensorly.decomposition._cp import initialize_cp

from .. import validate
from ..nets.network import ConvAC, CPNet
from .floor import eckart_young_floor
from .solvers import GN_MAX_BYTES, run_solver

__all__ = ["CPFit", "FitRun", "fit_cp", "load_cp_factors", "BACKENDS", "METHODS",
           "FIT_MAX_BYTES"]

BACKENDS = {"numpy": "numpy", "pytorch": "pytorch"}
"""tensorly backends the ALS solvers run under, by name."""

METHODS = ("als", "als-ls", "gn", "lbfgs", "best")
"""Values of ``fit_cp(method=...)``: a solver of :data:`convac.fit.solvers.SOLVERS`, or
``"best"`` (the solvers of :data:`BEST_ORDER` in turn from every start)."""

BEST_ORDER = ("gn", "als", "als-ls", "lbfgs")
"""Order in which ``method="best"`` tries the solvers (each over every start): cheapest per
success first (measured: ``docs/cp-solvers.md``).  ``gn`` is skipped where its ``J^T J``
exceeds :data:`convac.fit.solvers.GN_MAX_BYTES`."""


FIT_MAX_BYTES = 2**30
"""Default memory budget of :func:`fit_cp`: its largest array (a Khatri-Rao product
``(prod_{j != k} M_j, K)``) must fit."""


@dataclass(frozen=True)
class FitRun:
    """One solver run from one start: ``restart``, ``method``, relative ``error``,
    ``iterations``, ``converged``, ``seconds`` (wall) and ``cpu_seconds``."""

    restart: int
    method: str
    error: float
    iterations: int
    converged: bool
    seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class CPFit:
    """Best CP fit of a tensor over seeded restarts (and solvers).

    Attributes
    ----------
    relative_error : float
        ``||A - B||_F / ||A||_F`` of the best run ``B``, computed from the dense
        reconstruction of ``B`` (not from a solver's running estimate).
    weights : ndarray, shape ``(K,)``
        CP weights ``lambda_k``.
    factors : tuple of ndarray, each shape ``(M_i, K)``
        ``A ~ sum_k lambda_k factors[0][:, k] ⊗ .. ⊗ factors[N-1][:, k]``.
    width : int
        ``K``.
    iterations : int
        Iterations (ALS sweeps or L-BFGS steps) of the best run.
    converged : bool
        Whether the best run met its stopping rule before ``n_iter_max``.
    seed : int
        Seed of the random restarts (one ``numpy.random.RandomState(seed)`` drawn in turn).
    restart : int
        Restart of the best run.
    restart_errors : tuple of float
        Best relative error of every restart, in order.
    tol : float
        Stopping tolerance: the ALS and L-BFGS runs stop once their relative error is
        below ``min(tol, target)`` (``tol`` where ``target`` is 0) or on a stall
        (:data:`convac.fit.solvers.STALL`, then a kick).
    n_iter_max : int
        Iteration limit per run.
    backend : str
        tensorly backend of the ALS solvers.
    method : str
        Solver of the best run (with ``method="best"``: the one that won).
    requested : str
        The ``method`` asked for.
    runs : tuple of FitRun
        Every run, in the order run.
    target : float
        Relative error at which the restarts stopped early (0: never).
    """

    relative_error: float
    weights: np.ndarray
    factors: tuple
    width: int
    iterations: int
    converged: bool
    seed: int
    restart: int
    restart_errors: tuple
    tol: float
    n_iter_max: int
    backend: str
    method: str = "als"
    requested: str = "als"
    runs: tuple = ()
    target: float = 0.0

    @property
    def shape(self) -> tuple:
        """Shape ``(M_1, .., M_N)`` of the fitted tensor."""
        return tuple(f.shape[0] for f in self.factors)

    def solver_errors(self) -> dict:
        """Best relative error of each solver that ran, ``{method: error}``."""
        out: dict = {}
        for run in self.runs:
            out[run.method] = min(out.get(run.method, np.inf), run.error)
        return out

    def to_tensor(self) -> np.ndarray:
        """Dense reconstruction, float64, shape ``(M_1, .., M_N)``."""
        with tl.backend_context("numpy"):
            return tl.cp_to_tensor((self.weights, list(self.factors)))

    def to_cpnet(self, dtype: torch.dtype = torch.float64, device=None) -> CPNet:
        """A contiguous, unshared one-output :class:`CPNet` whose coefficient tensor is
        the reconstruction (needs every mode of the same size ``M``)."""
        shape = self.shape
        if len(set(shape)) != 1:
            raise validate.InvalidValueError(
                f"a CPNet needs equal mode sizes, got tensor shape {shape}")
        net = CPNet(len(shape), shape[0], self.width, dtype=dtype, device=device, seed=0)
        return load_cp_factors(net, self)


def _as_float64_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().to("cpu", torch.float64).numpy()
    return np.array(tensor, dtype=np.float64)


def as_tensor(tensor, name: str = "tensor") -> np.ndarray:
    """``tensor`` as float64 numpy after checking it: order >= 2, not empty, finite."""
    arr = _as_float64_numpy(tensor)
    if arr.ndim < 2:
        raise validate.InvalidValueError(f"{name} must have order >= 2, got shape {arr.shape}")
    if arr.size == 0:
        raise validate.InvalidValueError(f"{name} must not be empty, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise validate.InvalidValueError(
            f"{name} must have finite entries, got {arr[index]} at index {index} "
            f"({int(bad.sum())} non-finite in all)"
        )
    return arr


def check_width_budget(shape, width: int, budget: int) -> None:
    """Refuse widths whose factors or Khatri-Rao products would exceed ``budget`` bytes
    (before anything is allocated)."""
    shape = tuple(int(m) for m in shape)
    if 0 in shape:
        raise validate.InvalidValueError(f"tensor must not be empty, got shape {shape}; a CP "
                                         "fit needs at least one entry in every mode")
    validate.check_shape_budget((sum(shape), width), budget, "CP factors")
    largest = max(int(np.prod(shape, dtype=object)) // m for m in shape)
    validate.check_shape_budget((largest, width), budget, "Khatri-Rao product")


def _starts(arr: np.ndarray, width: int, n_restarts: int, seed: int, init):
    """Starting factors of every restart, lazily (restart 0 from ``init``)."""
    rng = np.random.RandomState(seed)
    for restart in range(n_restarts):
        if isinstance(init, str) and (restart == 0 or init == "random"):
            with tl.backend_context("numpy"), warnings.catch_warnings():
                # K > M_k: tensorly pads the singular vectors with random columns, and says so
                warnings.simplefilter("ignore", UserWarning)
                cp = initialize_cp(arr, width, init=init, random_state=rng)
            yield [np.asarray(f) for f in cp.factors]  # weights are ones
        elif restart == 0:
            weights, factors = init
            scaled = [np.asarray(f, dtype=np.float64) for f in factors]
            scaled[0] = scaled[0] * np.asarray(weights, dtype=np.float64)  # (M_1, K)
            yield scaled
        else:
            with tl.backend_context("numpy"):
                cp = initialize_cp(arr, width, init="random", random_state=rng)
            yield [np.asarray(f) for f in cp.factors]


def _check_init(init, shape, width):
    if init is None:
        return "svd"
    if isinstance(init, str):
        return validate.option({"svd": "svd", "random": "random"}, init, "CP init")
    try:
        weights, factors = init
    except (TypeError, ValueError):
        raise validate.InvalidTypeError(
            f"init must be 'svd', 'random' or (weights, factors), got {type(init).__name__}"
        ) from None
    want = [(m, width) for m in shape]
    got = [tuple(np.shape(f)) for f in factors]
    if got != want or np.shape(weights) != (width,):
        raise validate.InvalidValueError(
            f"init factors must have shapes {want} and weights ({width},), got {got} and "
            f"{np.shape(weights)}")
    return init


def fit_cp(
    tensor,
    width: int,
    n_restarts: int = 3,
    seed: int = 0,
    backend: str = "numpy",
    tol: float = 1e-10,
    n_iter_max: int = 500,
    init="svd",
    method: str = "als",
    target: float = 1e-12,
    max_bytes: int = FIT_MAX_BYTES,
) -> CPFit:
    """Fit a width-``K`` CP decomposition, keeping the best of seeded restarts.

    Parameters
    ----------
    tensor : ndarray or Tensor, shape ``(M_1, .., M_N)``, ``N >= 2``
        Finite entries; converted to float64.
    width : int
        CP width ``K >= 1``.
    n_restarts : int, default 3
        Number of starts.
    seed : int, default 0
        Random starts draw their factors in turn from one ``numpy.random.RandomState(seed)``,
        so with ``init="random"`` and ``method="als"`` restart 0 is exactly
        ``parafac(tensor, K, init="random", random_state=seed, ...)``.
    backend : {"numpy", "pytorch"}
        tensorly backend of the ALS solvers, set only for the duration of the call.
    tol : float, default 1e-10
        ALS, ALS-LS and L-BFGS: a run stops once its exact relative error is below
        ``min(tol, target)`` (``tol`` where ``target`` is 0); it also stops when it stalls
        (:data:`convac.fit.solvers.STALL`), and then replaces a redundant component by the
        residual's rank-one direction and goes on, up to :data:`convac.fit.solvers.KICKS`
        times (:func:`convac.fit.solvers.run_solver`).
    n_iter_max : int, default 500
        Iteration limit per start (ALS sweeps, L-BFGS steps, Gauss-Newton steps), kicks
        included.
    init : {"svd", "random"} or (weights, factors), default "svd"
        Start of restart 0: leading left singular vectors of each unfolding (tensorly's
        ``init="svd"``, padded with seeded random columns where ``K > M_k``), uniform
        random, or given factors of shape ``(M_k, K)`` (warm start).  Later restarts are
        random.
    method : {"als", "als-ls", "gn", "lbfgs", "best"}, default "als"
        The solver (:mod:`convac.fit.solvers`); ``"best"`` runs them in the order of
        :data:`BEST_ORDER`, each over every start, stopping at ``target``.
    target : float, default 1e-12
        Stop the restarts (and, with ``"best"``, the remaining solvers) once a fit's
        relative error is at most ``target``: further runs could only improve rounding.
        0 runs every start.
    max_bytes : int, default :data:`FIT_MAX_BYTES`
        Refuse (``BudgetError``) before allocating if the factors or a Khatri-Rao product
        would exceed it.

    Returns
    -------
    CPFit
        ``relative_error`` is measured from the best run's reconstruction; ``method`` names
        the solver that produced it and ``runs`` lists every run with its time.

    Raises
    ------
    ValueError
        ``width < 1``, a tensor of order < 2, non-finite entries, an unknown backend,
        method or init; ``BudgetError`` for a width beyond the memory budget.
    """
    width = validate.positive_int(width, "width")
    n_restarts = validate.count(n_restarts, "n_restarts")
    n_iter_max = validate.count(n_iter_max, "n_iter_max")
    tol = validate.real(tol, "tol", 0.0)
    target = validate.real(target, "target", 0.0)
    seed = validate.seed(seed)
    name = validate.option(BACKENDS, backend, "tensorly backend")
    method = validate.option({m: m for m in METHODS}, method, "CP method")
    methods = BEST_ORDER if method == "best" else (method,)
    if isinstance(tensor, (np.ndarray, torch.Tensor)) and tensor.ndim >= 1:
        check_width_budget(tensor.shape, width, max_bytes)
    arr = as_tensor(tensor)
    if method == "best" and 8 * (width * sum(arr.shape)) ** 2 > GN_MAX_BYTES:
        methods = tuple(m for m in methods if m != "gn")
    init = _check_init(init, arr.shape, width)
    norm = float(np.linalg.norm(arr))
    # a run may stop once below the target as well: going on could only improve rounding
    reach = min(tol, target) if target > 0 else tol
    starts, cached = _starts(arr, width, n_restarts, seed, init), []
    floor, futile = functools.cache(lambda: _kick_floor(arr, width)), []
    best, runs, restart_best = None, [], [np.inf] * n_restarts
    # solver by solver, each over every start: the solvers tried after the one that
    # reaches ``target`` never run, so "best" costs little more than its winner
    for solver in methods:
        for restart in range(n_restarts):
            if restart == len(cached):
                cached.append(next(starts))  # the same starts for every solver
            wall, cpu = time.perf_counter(), time.process_time()
            weights, factors, n_iter, converged = run_solver(
                solver, arr, cached[restart], n_iter_max, reach, name, floor, futile)
            with tl.backend_context("numpy"):
                resid = float(np.linalg.norm(arr - tl.cp_to_tensor((weights, factors))))
            error = resid / norm if norm > 0 else resid
            runs.append(FitRun(restart, solver, error, n_iter, converged,
                               time.perf_counter() - wall, time.process_time() - cpu))
            restart_best[restart] = min(restart_best[restart], error)
            if best is None or error < best[0]:
                best = (error, weights, factors, n_iter, converged, restart, solver)
            if error <= target:
                break
        if best[0] <= target:
            break
    restart_errors = restart_best[:len(cached)]
    error, weights, factors, n_iter, converged, restart, solver = best
    return CPFit(
        relative_error=error, weights=_as_float64_numpy(weights),
        factors=tuple(_as_float64_numpy(f) for f in factors), width=width,
        iterations=n_iter, converged=converged, seed=seed, restart=restart,
        restart_errors=tuple(restart_errors), tol=tol, n_iter_max=n_iter_max, backend=name,
        method=solver, requested=method, runs=tuple(runs), target=target,
    )


KICK_FLOOR_PARTITIONS = ("odd-even", "left-right")
"""Partitions of the floor that ends the kicks (:func:`convac.fit.solvers.run_solver`): two
SVDs, computed once per fit and only when a run stalls above its tolerance."""


def _kick_floor(arr: np.ndarray, width: int) -> float:
    """The relative Eckart-Young floor of ``arr`` at ``width`` over
    :data:`KICK_FLOOR_PARTITIONS` (a lower bound on every width-``width`` CP's error)."""
    return eckart_young_floor(arr, width, partitions=KICK_FLOOR_PARTITIONS).value


@torch.no_grad()
def load_cp_factors(net: ConvAC, fit: CPFit, output: int = 0) -> ConvAC:
    """Write a CP fit into a shallow network's weights, in place.

    Leaf node ``p`` reads patch ``net.order[p]``, so it takes ``factors[order[p]].T``;
    the CP weights go to output ``output`` (other outputs are left as they are).

    Parameters
    ----------
    net : ConvAC
        Unshared, schedule ``(N,)`` (e.g. :class:`CPNet`), ``N`` patches, ``M`` channels,
        width ``K``, matching the fit.
    fit : CPFit
    output : int, default 0

    Returns
    -------
    ConvAC
        ``net``, whose :func:`~convac.tensors.coefficient_tensor` for ``output`` now equals
        ``fit.to_tensor()``.
    """
    if not isinstance(net, ConvAC) or net.schedule.n_levels != 1:
        got = getattr(net, "windows", type(net).__name__)
        raise validate.InvalidValueError(
            f"expected a CP network with windows (n_patches,), got {got}")
    if net.shared:
        raise validate.InvalidValueError(
            "expected an unshared CP network (one factor per patch), got shared=True")
    expected = (net.n_channels,) * net.n_patches
    if fit.shape != expected or fit.width != net.ranks[0]:
        raise validate.InvalidValueError(
            f"fit of shape {fit.shape} and width {fit.width} does not match the network's "
            f"shape {expected} and width {net.ranks[0]}"
        )
    output = validate.output(net, output)
    w0 = net.weights[0]
    factors = np.stack(fit.factors)  # (N, M, K), patch order
    leaves = torch.as_tensor(factors, dtype=torch.float64).transpose(1, 2)  # (N, K, M)
    leaves = leaves.index_select(0, net.order.cpu())  # (N, K, M), tree order
    w0.copy_(leaves.to(w0.dtype))
    top = net.weights[-1]
    top[output].copy_(torch.as_tensor(fit.weights, dtype=top.dtype))  # (K,)
    return net
