"""Matricization ranks of grid tensors of generalized ConvACs, and the shallow widths they imply.

A grid tensor (:mod:`convac.tensors.grid`) certified integer has its rank computed exactly
over the rationals (the ``exact`` rank method with ``field="Q"``, python-flint
``fmpz_mat``); otherwise from the SVD (``dense``).  The width bounds
follow Cohen & Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016, Sec. 5.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import torch

from .. import validate
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.grid import EXACT_LIMIT, GridTensor, _is_integer
from ..tensors.matricization import RankResult, resolve_partition
from .methods import DEFAULT_METHOD, matricization_rank

__all__ = ["grid_rank", "shallow_rank_per_unit", "shallow_width_lower_bound"]


def _have_flint() -> bool:
    return importlib.util.find_spec("flint") is not None


def grid_rank(grid, partition="odd-even", method: str = DEFAULT_METHOD,
              rtol: float | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> RankResult:
    """Matricization rank of a grid tensor through the rank methods of
    :data:`convac.rank.methods.RANK_METHODS`, exact where the entries are exact integers.

    Parameters
    ----------
    grid : GridTensor, or Tensor / ndarray of shape ``(T,) * N``
    partition : str, sequence of int or Partition, default "odd-even"
    method : {"auto", "exact", "dense"}
        ``exact``: the ``exact`` method over the rationals (``field="Q"``: python-flint
        ``fmpz_mat.rank``, fraction-free elimination, no tolerance); refused unless the
        grid is a certified-exact :class:`GridTensor` or an integer-valued array.
        ``dense``: numerical rank from the SVD, tolerance and margin reported.
        ``auto``: ``exact`` where allowed and python-flint is installed, else ``dense``.
    rtol : float, optional
        Relative tolerance of the dense method.
    max_bytes : int, default 2 GiB

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
        return matricization_rank(values, partition, method="dense", rtol=rtol,
                                  max_bytes=max_bytes)
    if rtol is not None:
        raise validate.InvalidValueError(f"exact ranks take no tolerance, got rtol={rtol!r}")
    res = matricization_rank(values, partition, method="exact", field="Q",
                             max_bytes=max_bytes)
    return replace(res, certified=f"{res.certified}, of {why}")


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
