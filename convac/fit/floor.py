"""The Eckart-Young floor: an error no CP of a given width can beat.

For a CP ``B`` of width ``K`` every matricization ``[B]_{I,J}`` has rank ``<= K``, so by
Eckart-Young ``||A - B||_F >= sqrt(sum_{i>K} sigma_i([A]_{I,J})^2)`` for every partition
``(I, J)``; the floor is the largest of these over the partitions considered.  A fit
error reported below it is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import validate
from ..nets.network import ConvAC
from ..rank.structured import structured_singular_values
from ..tensors.coefficient import coefficient_tensor
from ..tensors.matricization import Partition, resolve_partition, sample_partitions, singular_values

__all__ = [
    "FloorResult",
    "DENSE_FLOOR_MAX_BYTES",
    "default_partitions",
    "eckart_young_floor",
    "eckart_young_floors",
    "partition_spectra",
]

DENSE_FLOOR_MAX_BYTES = 64 * 1024**2
"""Largest dense coefficient tensor (float64 bytes) the floor builds for a network;
bigger networks need :func:`convac.rank.structured.structured_singular_values`."""


@dataclass(frozen=True)
class FloorResult:
    """Eckart-Young floor of a tensor for one CP width.

    Attributes
    ----------
    value : float
        Relative floor ``max_P sqrt(sum_{i>K} sigma_i([A]_P)^2) / ||A||_F``.
    absolute : float
        The same without the division by ``||A||_F``.
    partition : Partition
        The partition that gave the maximum.
    width : int
        ``K``.
    norm : float
        ``||A||_F``.
    partitions : tuple of Partition
        Every partition considered.
    method : str
        ``"dense"`` (SVD of the dense matricization) or ``"structured"`` (singular
        values from the network's weights, :mod:`convac.rank.structured`).
    """

    value: float
    absolute: float
    partition: Partition
    width: int
    norm: float
    partitions: tuple
    method: str


default_partitions = sample_partitions  # the one partition sampler (convac.matricize)


def partition_spectra(tensor_or_net, partitions=None, n_samples: int = 8, seed: int = 0,
                      output: int = 0, max_bytes: int = DENSE_FLOOR_MAX_BYTES):
    """Singular values of ``[A]_P`` for each partition, and ``||A||_F``.

    Parameters
    ----------
    tensor_or_net : ndarray, Tensor of shape ``(M_1, .., M_N)``, or ConvAC
    partitions : sequence, optional
        Partitions (names, row-mode sequences or :class:`Partition`); default
        :func:`default_partitions`.
    n_samples, seed : int
        For the default partitions.
    output : int
        Network output ``y`` (networks only).
    max_bytes : int
        A network's dense coefficient tensor is built when it fits in this many bytes;
        above it the structured singular values of :mod:`convac.rank.structured` are used.

    Returns
    -------
    partitions : tuple of Partition
    spectra : list of ndarray, each shape ``(min(M^|I|, M^|J|),)``, descending
    norm : float
        ``||A||_F``.
    method : str
        ``"dense"`` or ``"structured"``.
    """
    tensor, net, method = None, None, "dense"
    if isinstance(tensor_or_net, ConvAC):
        net = tensor_or_net
        n_modes = net.n_patches
        if net.n_channels ** net.n_patches * 8 <= max_bytes:
            tensor = coefficient_tensor(net, output, max_bytes=max_bytes)
        else:
            method = "structured"
    else:
        if isinstance(tensor_or_net, torch.Tensor):
            tensor = tensor_or_net.detach().to("cpu", torch.float64)
        else:
            tensor = torch.as_tensor(np.asarray(tensor_or_net, dtype=np.float64))
        if tensor.ndim < 2:
            raise validate.InvalidValueError(
                f"tensor must have order >= 2, got shape {tuple(tensor.shape)}")
        if not bool(torch.isfinite(tensor).all()):
            raise validate.InvalidValueError(
                "tensor must have finite entries, got non-finite values")
        n_modes = tensor.ndim
    if partitions is None:
        parts = default_partitions(n_modes, n_samples, seed)
    else:
        parts = tuple(resolve_partition(p, n_modes) for p in partitions)
        if not parts:
            raise validate.InvalidValueError(
                "partitions must name at least one partition, got none")
    spectra = []
    for part in parts:
        if method == "dense":
            spectra.append(singular_values(tensor, part))  # (min(M^|I|, M^|J|),)
        else:
            sv = structured_singular_values(net, part.rows, output=output)
            spectra.append(np.sort(np.asarray(sv, dtype=np.float64).reshape(-1))[::-1])
    if method == "dense":
        norm = float(torch.linalg.vector_norm(tensor))
    else:
        norm = _scaled_norm(spectra[0], _scale(spectra))
    return parts, spectra, norm, method


def _scale(spectra) -> float:
    """Largest singular value over the spectra (1 if all are zero), to square safely."""
    top = max((float(sv[0]) for sv in spectra if sv.size), default=0.0)
    return top if top > 0 else 1.0


def _scaled_norm(sv: np.ndarray, scale: float) -> float:
    """``sqrt(sum(sv ** 2))`` without overflow or underflow in the squares."""
    return scale * float(np.sqrt(np.sum((sv / scale) ** 2)))


def _floor_from_spectra(parts, spectra, norm, method, width) -> FloorResult:
    scale = _scale(spectra)
    tails = [_scaled_norm(sv[width:], scale) for sv in spectra]
    best = int(np.argmax(tails))
    absolute = tails[best]
    value = absolute / norm if norm > 0 else 0.0
    return FloorResult(value, absolute, parts[best], int(width), norm, tuple(parts), method)


def _check_width(width) -> int:
    return validate.positive_int(width, "width")


def eckart_young_floor(tensor_or_net, width: int, partitions=None, n_samples: int = 8,
                       seed: int = 0, output: int = 0,
                       max_bytes: int = DENSE_FLOOR_MAX_BYTES) -> FloorResult:
    """Relative error below which no CP of width ``K`` can fit ``A``.

    Parameters
    ----------
    tensor_or_net : ndarray, Tensor of shape ``(M_1, .., M_N)``, or ConvAC
        A network stands for its coefficient tensor ``A^y`` (dense when it fits in
        ``max_bytes``, else structured singular values from :mod:`convac.rank.structured`).
    width : int
        CP width ``K >= 1``.
    partitions : sequence, optional
        Default: odd-even, left-right and ``n_samples`` seeded balanced partitions.
    n_samples : int, default 8
    seed : int, default 0
    output : int, default 0
    max_bytes : int, default :data:`DENSE_FLOOR_MAX_BYTES`

    Returns
    -------
    FloorResult
        ``value = max_P sqrt(sum_{i>K} sigma_i([A]_P)^2) / ||A||_F``.

    Notes
    -----
    Any CP ``B`` of width ``K`` has ``rank [B]_P <= K``, hence (Eckart-Young)
    ``||A - B||_F >= ||[A]_P - [B]_P||_F >= sqrt(sum_{i>K} sigma_i([A]_P)^2)``.
    """
    width = _check_width(width)
    parts, spectra, norm, method = partition_spectra(tensor_or_net, partitions, n_samples,
                                                     seed, output, max_bytes)
    return _floor_from_spectra(parts, spectra, norm, method, width)


def eckart_young_floors(tensor_or_net, widths, partitions=None, n_samples: int = 8,
                        seed: int = 0, output: int = 0,
                        max_bytes: int = DENSE_FLOOR_MAX_BYTES) -> list:
    """:func:`eckart_young_floor` for several widths, with one SVD per partition.

    Returns
    -------
    list of FloorResult, one per width
    """
    widths = [_check_width(w) for w in validate.int_sequence(widths, "widths", what="width")]
    parts, spectra, norm, method = partition_spectra(tensor_or_net, partitions, n_samples,
                                                     seed, output, max_bytes)
    return [_floor_from_spectra(parts, spectra, norm, method, w) for w in widths]
