"""CP fitting of a dense tensor by alternating least squares (CP-ALS), with restarts.

A thin wrapper over :func:`tensorly.decomposition.parafac`: it validates the input,
runs seeded restarts under :func:`tensorly.backend_context` (the global backend is never
changed), measures every restart's relative error from its own reconstruction and keeps
the best.  The result loads into a :class:`~convac.network.CPNet`.

References
----------
T. G. Kolda, B. W. Bader, "Tensor Decompositions and Applications", SIAM Review 51(3),
2009 (CP-ALS, Sec. 3.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorly as tl
import torch
from tensorly.decomposition import parafac

from .geometry import resolve_option
from .network import ConvAC, CPNet

__all__ = ["CPFit", "fit_cp", "load_cp_factors", "BACKENDS"]

BACKENDS = {"numpy": "numpy", "pytorch": "pytorch"}
"""tensorly backends :func:`fit_cp` runs under, by name."""


@dataclass(frozen=True)
class CPFit:
    """Best CP-ALS fit of a tensor over seeded restarts.

    Attributes
    ----------
    relative_error : float
        ``||A - B||_F / ||A||_F`` of the best restart ``B``, computed from the dense
        reconstruction of ``B`` (not from ALS's running estimate).
    weights : ndarray, shape ``(K,)``
        CP weights ``lambda_k``.
    factors : tuple of ndarray, each shape ``(M_i, K)``
        ``A ~ sum_k lambda_k factors[0][:, k] ⊗ .. ⊗ factors[N-1][:, k]``.
    width : int
        ``K``.
    iterations : int
        ALS sweeps run by the best restart.
    converged : bool
        Whether the best restart stopped because its ALS error changed by less than
        ``tol`` between sweeps (rather than reaching ``n_iter_max``).
    seed : int
        Seed of the restarts (one ``numpy.random.RandomState(seed)`` drawn in turn).
    restart : int
        Index of the best restart.
    restart_errors : tuple of float
        Relative error of every restart, in order.
    tol : float
        Convergence tolerance on the change of ALS's relative error between sweeps.
    n_iter_max : int
        Sweep limit per restart.
    backend : str
        tensorly backend used.
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

    @property
    def shape(self) -> tuple:
        """Shape ``(M_1, .., M_N)`` of the fitted tensor."""
        return tuple(f.shape[0] for f in self.factors)

    def to_tensor(self) -> np.ndarray:
        """Dense reconstruction, float64, shape ``(M_1, .., M_N)``."""
        with tl.backend_context("numpy"):
            return tl.cp_to_tensor((self.weights, list(self.factors)))

    def to_cpnet(self, dtype: torch.dtype = torch.float64, device=None) -> CPNet:
        """A contiguous, unshared one-output :class:`CPNet` whose coefficient tensor is
        the reconstruction (needs every mode of the same size ``M``)."""
        shape = self.shape
        if len(set(shape)) != 1:
            raise ValueError(f"a CPNet needs equal mode sizes, got tensor shape {shape}")
        net = CPNet(len(shape), shape[0], self.width, dtype=dtype, device=device, seed=0)
        return load_cp_factors(net, self)


def _as_float64_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().to("cpu", torch.float64).numpy()
    return np.array(tensor, dtype=np.float64)


def _validate(tensor, width, n_restarts, tol, n_iter_max) -> np.ndarray:
    """Check the arguments of :func:`fit_cp`; return the tensor as float64 numpy."""
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    if (isinstance(n_restarts, bool) or not isinstance(n_restarts, (int, np.integer))
            or n_restarts < 1):
        raise ValueError(f"n_restarts must be an integer >= 1, got {n_restarts!r}")
    if (isinstance(n_iter_max, bool) or not isinstance(n_iter_max, (int, np.integer))
            or n_iter_max < 1):
        raise ValueError(f"n_iter_max must be an integer >= 1, got {n_iter_max!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite float >= 0, got {tol!r}")
    arr = _as_float64_numpy(tensor)
    if arr.ndim < 2:
        raise ValueError(f"tensor must have order >= 2, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"tensor must not be empty, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"tensor must have finite entries, got {arr[index]} at index {index} "
            f"({int(bad.sum())} non-finite in all)"
        )
    return arr


def fit_cp(
    tensor,
    width: int,
    n_restarts: int = 3,
    seed: int = 0,
    backend: str = "numpy",
    tol: float = 1e-10,
    n_iter_max: int = 500,
    init=None,
) -> CPFit:
    """Fit a width-``K`` CP decomposition by ALS, keeping the best of seeded restarts.

    Parameters
    ----------
    tensor : ndarray or Tensor, shape ``(M_1, .., M_N)``, ``N >= 2``
        Finite entries; converted to float64.
    width : int
        CP width ``K >= 1``.
    n_restarts : int, default 3
        Number of ALS runs; each starts from uniform random factors.
    seed : int, default 0
        The restarts draw their starting factors in turn from one
        ``numpy.random.RandomState(seed)``, so restart 0 is exactly
        ``parafac(tensor, K, init="random", random_state=seed, ...)``.
    backend : {"numpy", "pytorch"}
        tensorly backend, set only for the duration of the call.
    tol : float, default 1e-10
        ALS stops when its relative error changes by less than ``tol`` between sweeps.
    n_iter_max : int, default 500
        Sweep limit per restart.
    init : (weights, factors), optional
        Starting point of restart 0 instead of a random one (warm start), factors of
        shape ``(M_i, K)``; the other restarts stay random (and draw from the seeded
        generator as restarts 0, 1, .. would without it).

    Returns
    -------
    CPFit
        ``relative_error`` is measured from the best restart's reconstruction.

    Raises
    ------
    ValueError
        ``width < 1``, a tensor of order < 2, non-finite entries, an unknown backend.
    """
    arr = _validate(tensor, width, n_restarts, tol, n_iter_max)
    name = resolve_option(BACKENDS, backend, "tensorly backend")
    rng = np.random.RandomState(seed)
    best = None
    errors = []
    with tl.backend_context(name):
        data = torch.from_numpy(arr) if name == "pytorch" else arr  # (M_1, .., M_N)
        norm = float(tl.norm(data, 2))
        for restart in range(int(n_restarts)):
            start = "random" if (init is None or restart > 0) else init
            cp, als_errors = parafac(data, int(width), n_iter_max=int(n_iter_max), init=start,
                                     tol=tol, random_state=rng, return_errors=True)
            resid = float(tl.norm(data - tl.cp_to_tensor(cp), 2))
            error = resid / norm if norm > 0 else resid
            errors.append(error)
            if best is None or error < best[0]:
                best = (error, cp, als_errors, restart)
    error, (weights, factors), als_errors, restart = best
    n_iter = len(als_errors)
    converged = bool(tol > 0 and n_iter >= 2 and abs(als_errors[-2] - als_errors[-1]) < tol)
    return CPFit(
        relative_error=error,
        weights=_as_float64_numpy(weights),
        factors=tuple(_as_float64_numpy(f) for f in factors),
        width=int(width), iterations=n_iter, converged=converged, seed=int(seed),
        restart=restart, restart_errors=tuple(errors), tol=float(tol),
        n_iter_max=int(n_iter_max), backend=name,
    )


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
        raise ValueError(f"expected a CP network with windows (n_patches,), got {got}")
    if net.shared:
        raise ValueError("expected an unshared CP network (one factor per patch), got shared=True")
    expected = (net.n_channels,) * net.n_patches
    if fit.shape != expected or fit.width != net.ranks[0]:
        raise ValueError(
            f"fit of shape {fit.shape} and width {fit.width} does not match the network's "
            f"shape {expected} and width {net.ranks[0]}"
        )
    if not 0 <= output < net.n_outputs:
        raise ValueError(f"output must be in 0..{net.n_outputs - 1}, got {output}")
    w0 = net.weights[0]
    factors = np.stack(fit.factors)  # (N, M, K), patch order
    leaves = torch.as_tensor(factors, dtype=torch.float64).transpose(1, 2)  # (N, K, M)
    leaves = leaves.index_select(0, net.order.cpu())  # (N, K, M), tree order
    w0.copy_(leaves.to(w0.dtype))
    top = net.weights[-1]
    top[output].copy_(torch.as_tensor(fit.weights, dtype=top.dtype))  # (K,)
    return net
