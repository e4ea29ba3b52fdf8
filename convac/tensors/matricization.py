"""Partitions, matricizations and numerical matricization ranks.

``[A]_{I,J}`` has rows indexed by the modes in ``I`` (ascending, first mode most
significant) and columns by the rest: ``A.permute(I + J).reshape(M^|I|, M^|J|)``.
Its rank is a lower bound on the CP-rank of ``A``, hence on the width of any shallow
ConvAC realising ``A`` (COLT 2016, Sec. 4).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import arrays, validate
from ..nets.network import ConvAC
from .coefficient import DEFAULT_MAX_BYTES, coefficient_tensor

__all__ = [
    "Partition",
    "PARTITIONS",
    "sample_partitions",
    "resolve_partition",
    "matricize",
    "RankResult",
    "numerical_rank",
    "default_rtol",
    "singular_values",
    "dense_rank",
    "AMBIGUITY_FACTOR",
]


@dataclass(frozen=True)
class Partition:
    """A partition of the modes ``0 .. n_modes-1`` into row modes and column modes."""

    rows: tuple
    cols: tuple

    @property
    def n_modes(self) -> int:
        return len(self.rows) + len(self.cols)


def _odd_even(n: int) -> tuple:
    return tuple(range(0, n, 2))


def _left_right(n: int) -> tuple:
    return tuple(range(n // 2))


PARTITIONS = validate.Registry("partition")
PARTITIONS.register("odd-even", _odd_even)
PARTITIONS.register("left-right", _left_right)
"""Named partitions: row modes as a function of the number of modes.

``odd-even`` takes modes 1, 3, 5, .. counted from 1 (0, 2, 4, .. from 0);
``left-right`` the first half.
"""


def resolve_partition(partition, n_modes: int) -> Partition:
    """Validate a partition and return its row and column modes.

    Parameters
    ----------
    partition : str, sequence of int or Partition
        ``"odd-even"``, ``"left-right"``, or the 0-based row modes ``I``.
    n_modes : int
        Order ``N`` of the tensor.

    Returns
    -------
    Partition
        ``rows`` ascending, ``cols`` the ascending complement.
    """
    if type(partition) is str and type(n_modes) is int:
        return _resolve_named(partition, n_modes)
    return _resolve(partition, n_modes)


@functools.lru_cache(maxsize=256)
def _resolve_named(name: str, n_modes: int) -> Partition:
    """A named partition of ``n_modes`` modes, resolved once (a method resolves its
    partition in several places, and each resolution validates and allocates)."""
    return _resolve(name, n_modes)


def _resolve(partition, n_modes) -> Partition:
    n_modes = validate.positive_int(n_modes, "n_modes", 2)
    validate.check_shape_budget((n_modes,), DEFAULT_MAX_BYTES,
                                f"partition of n_modes={validate.short_int(n_modes)}")
    given = partition if isinstance(partition, Partition) else None
    if given is not None:
        if partition.n_modes != n_modes:
            raise validate.InvalidValueError(
                f"partition covers {partition.n_modes} modes, expected n_modes={n_modes}"
            )
        partition = partition.rows
    if isinstance(partition, str):
        rows = validate.option(PARTITIONS, partition, "partition")(n_modes)
    else:
        if not isinstance(partition, (Sequence, np.ndarray, torch.Tensor)):
            raise validate.InvalidTypeError(
                f"partition must be 'odd-even', 'left-right' or a sequence of row modes, "
                f"got {partition!r}"
            )
        if isinstance(partition, (np.ndarray, torch.Tensor)):
            if partition.ndim != 1:
                raise validate.InvalidValueError(
                    f"partition must be a 1-D sequence of row modes, got an array of shape "
                    f"{tuple(partition.shape)}; pass the row modes, e.g. [0, 2]")
            partition = partition.tolist()
        rows = []
        for i, mode in enumerate(partition):
            if isinstance(mode, np.integer):
                mode = int(mode)
            if isinstance(mode, bool) or not isinstance(mode, int):
                raise validate.InvalidTypeError(f"partition[{i}] must be an int mode, got {mode!r}")
            if not 0 <= mode < n_modes:
                raise validate.InvalidValueError(
                    f"partition[{i}] = {mode} is not a mode in 0..{n_modes - 1}")
            rows.append(mode)
        if len(set(rows)) != len(rows):
            dup = sorted({m for m in rows if rows.count(m) > 1})
            raise validate.InvalidValueError(f"partition repeats mode(s) {dup}: {list(partition)}")
        rows = tuple(sorted(rows))
    if not rows:
        raise validate.InvalidValueError(
            f"partition is empty; expected between 1 and {n_modes - 1} row modes")
    if len(rows) == n_modes:
        raise validate.InvalidValueError(
            f"partition covers every mode 0..{n_modes - 1}; expected a proper subset as rows"
        )
    row_set = set(rows)
    result = Partition(rows, tuple(m for m in range(n_modes) if m not in row_set))
    if given is not None and tuple(sorted(given.cols)) != result.cols:
        raise validate.InvalidValueError(
            f"partition cols {tuple(given.cols)} are not the complement {result.cols} of its "
            f"rows {rows} in 0..{n_modes - 1}"
        )
    return result


def sample_partitions(n_modes: int, n_samples: int = 8, seed: int = 0) -> tuple:
    """Odd-even, left-right and up to ``n_samples`` seeded balanced partitions.

    A partition and its complement have the same singular values, so each is listed
    once, normalised to the side holding mode 0.  Balanced partitions put
    ``n_modes // 2`` modes on one side; when there are at most ``n_samples`` of them
    they are all taken.

    Returns
    -------
    tuple of Partition
    """
    n_modes = validate.integer(n_modes, "n_modes", minimum=2)
    n_samples = validate.count(n_samples, "n_samples", minimum=0)
    seen, out = set(), []

    def add(rows) -> None:
        part = resolve_partition(tuple(int(r) for r in rows), n_modes)
        if 0 not in part.rows:  # the complement: the same singular values
            part = Partition(part.cols, part.rows)
        if part.rows not in seen:
            seen.add(part.rows)
            out.append(part)

    add(resolve_partition("odd-even", n_modes).rows)
    add(resolve_partition("left-right", n_modes).rows)
    half = n_modes // 2
    # balanced partitions up to complement; fewer than n_samples: take them all
    n_balanced = math.comb(n_modes, half) // (2 if 2 * half == n_modes else 1)
    rng = np.random.default_rng(seed)
    wanted = min(n_samples, n_balanced)  # more than there are: all of them
    target = len(out) + wanted
    tries = 0
    while len(out) < target and tries < 50 * (wanted + 1):
        add(rng.choice(n_modes, size=half, replace=False))
        tries += 1
    return tuple(out)


def matricize(tensor, partition):
    """Matricization ``[A]_{I,J}``.

    Parameters
    ----------
    tensor : Tensor or ndarray, shape ``(M_1, .., M_N)``
    partition : str, sequence of int or Partition
        See :func:`resolve_partition`.

    Returns
    -------
    Tensor or ndarray (same kind as ``tensor``), shape ``(prod M_I, prod M_J)``
    """
    if not isinstance(tensor, (torch.Tensor, np.ndarray)):
        tensor = arrays.float_array(tensor, "tensor", "(M_1, .., M_N)")
    if tensor.ndim < 2:
        raise validate.InvalidValueError(
            f"matricize needs a tensor of order >= 2, got shape {tuple(tensor.shape)}")
    part = resolve_partition(partition, tensor.ndim)
    shape = tuple(tensor.shape)
    n_rows = math.prod(shape[m] for m in part.rows)
    perm = part.rows + part.cols
    if isinstance(tensor, torch.Tensor):
        return tensor.permute(*perm).reshape(n_rows, -1)  # (M^|I|, M^|J|)
    return np.transpose(np.asarray(tensor), perm).reshape(n_rows, -1)  # (M^|I|, M^|J|)


def default_rtol(shape) -> float:
    """``max(shape) * eps(float64)``, numpy's ``matrix_rank`` convention."""
    return max(shape) * float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class RankResult:
    """A rank and what it rests on.

    Attributes
    ----------
    rank : int
    method : str
        ``"dense"``, ``"structured"`` or ``"exact"``.
    rtol : float or None
        Relative tolerance: singular values ``> rtol * sigma_max`` count.  ``None``
        for exact ranks, which need no tolerance.
    singular_values : ndarray or None
        All singular values, descending, where the method computed them.
    margin : float
        How clear the decision is: ``min(sigma_rank / threshold, sigma_rank /
        sigma_{rank+1})``, the distance of the last counted singular value from the
        threshold and the gap to the first discarded one (``inf`` when exact).
    ambiguous : bool
        True when ``margin`` is below :data:`AMBIGUITY_FACTOR`: the last counted value
        is close to the noise floor or no clear gap separates counted from discarded
        values, so another reasonable tolerance could give another rank.
    certified : str
        What the number proves, in words.
    ranks_mod : tuple of (int, int)
        Exact methods: ``(prime, rank over GF(prime))`` for every prime run.
    reason : str
        ``method="auto"``: why this method decided (the margin, or why floats were not
        trusted).
    """

    rank: int
    method: str
    rtol: float | None = None
    singular_values: np.ndarray | None = None
    margin: float = math.inf
    ambiguous: bool = False
    certified: str = ""
    ranks_mod: tuple = ()
    reason: str = ""

    @property
    def is_certified(self) -> bool:
        """True when ``rank`` is proven (exact arithmetic), not a numerical decision."""
        return self.method == "exact"

    def __int__(self) -> int:
        return self.rank

    def __index__(self) -> int:
        return self.rank


AMBIGUITY_FACTOR = 1e3
"""A numerical rank is flagged ambiguous when its margin (see :class:`RankResult`) is
below this factor: the singular values do not fall off a cliff well above the threshold."""


def numerical_rank(
    sv, rtol: float | None = None, shape=None, method: str = "dense",
    ambiguity: float = AMBIGUITY_FACTOR,
) -> RankResult:
    """Numerical rank from singular values, with the margin of the decision.

    Parameters
    ----------
    sv : array_like, shape ``(k,)``
        Singular values (any order, non-negative).
    rtol : float, optional
        Relative tolerance; default :func:`default_rtol` of ``shape``.
    shape : tuple, optional
        Matrix shape, for the default tolerance.
    ambiguity : float
        Flag the result as ambiguous when the margin is below this factor.
    """
    rtol = validate.tolerance(rtol)
    ambiguity = validate.real(ambiguity, "ambiguity", 1.0)
    sv = arrays.float_array(sv, "sv", "(k,)").reshape(-1)
    if shape is not None:
        shape = tuple(validate.int_sequence(shape, "shape", minimum=0))
    if not np.all(np.isfinite(sv)) or np.any(sv < 0):
        bad = np.flatnonzero(~np.isfinite(sv) | (sv < 0))[0]
        raise validate.InvalidValueError(
            f"singular values must be finite and >= 0, got sv[{bad}] = {sv[bad]}")
    sv = np.sort(sv)[::-1]
    if rtol is None:
        rtol = default_rtol(shape if shape is not None else (len(sv),))
    if sv.size == 0 or sv[0] == 0:
        return RankResult(0, method, rtol, sv, math.inf, False,
                          "numerical rank of a zero matrix")
    threshold = rtol * sv[0]
    rank = int(np.count_nonzero(sv > threshold))
    tail = sv[rank] if rank < sv.size else 0.0
    gap = sv[rank - 1] / tail if tail > 0 else math.inf
    above = sv[rank - 1] / threshold if threshold > 0 else math.inf  # rtol = 0: no cut
    margin = float(min(above, gap))
    return RankResult(
        rank, method, float(rtol), sv, margin, margin < ambiguity,
        f"numerical rank: singular values > {rtol:.3g} * sigma_max",
    )


def _svdvals(mat: torch.Tensor) -> np.ndarray:
    """Singular values of a matricization; a non-finite entry is an error naming where it
    is (LAPACK's own is an unexplained ``LinAlgError``)."""
    # any inf or NaN makes the sum non-finite: one reduction in the common case, the
    # entries are searched only when it is not (or when finite entries overflowed it)
    bad = None if math.isfinite(float(mat.sum())) else ~torch.isfinite(mat)
    if bad is not None and bool(bad.any()):
        i, j = (int(k) for k in bad.nonzero()[0])
        raise validate.InvalidValueError(
            f"tensor must have finite entries, got {float(mat[i, j])} at row {i}, column "
            f"{j} of its matricization ({int(bad.sum())} non-finite in all); remove or "
            "replace NaN and infinite values before taking a rank")
    return torch.linalg.svdvals(mat).numpy()


def singular_values(tensor, partition) -> np.ndarray:
    """Singular values of ``[A]_{I,J}``, descending, float64.

    Returns
    -------
    ndarray, shape ``(min(M^|I|, M^|J|),)``
    """
    mat = matricize(torch.as_tensor(tensor, dtype=torch.float64), partition)
    return _svdvals(mat)


def dense_rank(net_or_tensor, partition="odd-even", rtol=None, output: int = 0,
               max_bytes: int | None = None) -> RankResult:
    """Numerical rank from the SVD of the dense matricization (the oracle of the others).

    Parameters
    ----------
    net_or_tensor : ConvAC, Tensor or ndarray ``(M,) * N``
    partition : str, sequence of int or Partition
    rtol : float, optional
        Default :func:`default_rtol` of the matrix shape.
    output : int, default 0
        A network's output (a tensor has one).
    max_bytes : int, optional
        Budget of the dense float64 tensor (default 2 GiB), checked before it is built.
    """
    rtol = validate.tolerance(rtol)
    max_bytes = validate.max_bytes(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    if isinstance(net_or_tensor, ConvAC):
        tensor = coefficient_tensor(net_or_tensor, validate.output(net_or_tensor, output),
                                    max_bytes=max_bytes)
    else:
        tensor = torch.as_tensor(arrays.float_array(net_or_tensor, "tensor",
                                                      "(M,) * N, or a ConvAC"))
        validate.check_shape_budget(tuple(tensor.shape), max_bytes, "dense tensor")
    mat = matricize(tensor, partition)
    return numerical_rank(_svdvals(mat), rtol, tuple(mat.shape), "dense")
