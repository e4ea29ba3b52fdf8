"""Patch extraction and representation layers ``rep[i, d] = f_d(x_i)``.

``nn.Sequential(Patches(...), Representation(...), HTNet(...))`` maps images
``(batch, channels, H, W)`` to network outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import arrays, validate
from .geometry import DEFAULT_MAX_BYTES, quadtree_order

__all__ = [
    "Patches",
    "OneHot",
    "Identity",
    "Linear",
    "ReLU",
    "Gaussian",
    "REPRESENTATIONS",
    "Representation",
]

PATCH_ORDERS = ("quadtree", "raster")


class Patches(nn.Module):
    """Non-overlapping (or strided) patches of images, flattened.

    Parameters
    ----------
    patch_size : int
        Side of a square patch.
    stride : int, optional
        Defaults to ``patch_size`` (non-overlapping).
    order : {"quadtree", "raster"}
        ``"quadtree"`` lists patches in Z order, so that windows of 4 are 2x2 pooling
        windows (the patch grid must be square with a power-of-two side);
        ``"raster"`` lists them row by row.

    Shapes
    ------
    ``(batch, C, H, W) -> (batch, N, C * patch_size**2)``
    """

    def __init__(self, patch_size: int, stride: int | None = None, order: str = "quadtree"):
        super().__init__()
        patch_size = validate.positive_int(patch_size, "patch_size")
        stride = patch_size if stride is None else validate.positive_int(stride, "stride")
        validate.option({o: o for o in PATCH_ORDERS}, order, "patch order")
        self.patch_size, self.stride, self.order = patch_size, stride, order

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Patch grid ``(rows, cols)`` for an image of ``height x width``."""
        rows = (height - self.patch_size) // self.stride + 1
        cols = (width - self.patch_size) // self.stride + 1
        if rows < 1 or cols < 1:
            raise validate.InvalidValueError(
                f"image {height}x{width} is smaller than patch_size={self.patch_size}"
            )
        return rows, cols

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        arrays.real_tensor(images, "images")
        if images.ndim != 4:
            raise validate.InvalidValueError(
                f"images must have shape (batch, channels, H, W), got {tuple(images.shape)}"
            )
        rows, cols = self.grid(images.shape[2], images.shape[3])
        patches = F.unfold(images, self.patch_size, stride=self.stride)  # (B, C*p*p, rows*cols)
        patches = patches.transpose(1, 2)  # (B, N, C*p*p), raster order
        if self.order == "quadtree":
            if rows != cols or rows & (rows - 1):
                raise validate.InvalidValueError(
                    f"images of {images.shape[2]}x{images.shape[3]} pixels give a {rows}x"
                    f"{cols} grid of {self.patch_size}x{self.patch_size} patches (stride "
                    f"{self.stride}); quad-tree order needs a square grid with a "
                    "power-of-two side: crop or pad the images (e.g. 16x16 with patch_size "
                    "4), or use order='raster'")
            idx = torch.as_tensor(quadtree_order(rows, cols), device=images.device)
            patches = patches.index_select(1, idx)  # (B, N, C*p*p), Z order
        return patches

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, stride={self.stride}, order={self.order!r}"


class OneHot(nn.Module):
    """Indices ``(batch, N)`` in ``0..M-1`` to one-hot features ``(batch, N, M)``.

    Parameters
    ----------
    n_channels : int
        ``M >= 1`` (never inferred from the data).
    """

    def __init__(self, n_channels: int):
        super().__init__()
        self.n_channels = validate.positive_int(n_channels, "n_channels")

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        if (not isinstance(indices, torch.Tensor) or indices.dtype.is_floating_point
                or indices.dtype.is_complex or indices.dtype == torch.bool
                or indices.device.type == "meta" or indices.ndim != 2):
            got = (f"{indices.dtype} {tuple(indices.shape)} on {indices.device}"
                   if isinstance(indices, torch.Tensor) else type(indices).__name__)
            raise validate.InvalidTypeError(
                f"one-hot input must be integer indices of shape (batch, n_patches), got {got}"
            )
        if indices.numel():
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= self.n_channels:
                bad = low if low < 0 else high
                raise validate.InvalidValueError(
                    f"one-hot indices must be in 0..{self.n_channels - 1} "
                    f"(n_channels={self.n_channels}), got {bad}")
        dtype = torch.get_default_dtype()
        validate.check_shape_budget((*indices.shape, self.n_channels), DEFAULT_MAX_BYTES,
                                    "one-hot features", dtype.itemsize)
        return F.one_hot(indices.long(), self.n_channels).to(dtype)


def _patches(patches: torch.Tensor, patch_dim: int | None = None) -> torch.Tensor:
    """Validated patches ``(batch, N, D)``: real floating, with data, ``D = patch_dim``."""
    arrays.real_tensor(patches, "patches", 3)
    if patch_dim is not None and patches.shape[-1] != patch_dim:
        raise validate.InvalidValueError(
            f"patches must have shape (batch, n_patches, patch_dim={patch_dim}), got "
            f"{tuple(patches.shape)}")
    return patches


class Identity(nn.Module):
    """``f_d(x) = x_d``: the patch itself (or given one-hot features) as representation."""

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return _patches(patches)


def _weight_sizes(patch_dim, n_channels) -> tuple[int, int]:
    """``(D, M)`` validated, refused before allocating when the ``(M, D + 1)`` weights of a
    learned representation would exceed :data:`~convac.nets.geometry.DEFAULT_MAX_BYTES`."""
    d = validate.positive_int(patch_dim, "patch_dim")
    m = validate.positive_int(n_channels, "n_channels")
    validate.check_shape_budget((m, d + 1), DEFAULT_MAX_BYTES, f"weights of the representation "
                                f"(patch_dim={validate.short_int(d)}, n_channels="
                                f"{validate.short_int(m)})")
    return d, m


class Linear(nn.Module):
    """``f_d(x) = <w_d, x> + b_d``: a learned linear map per patch, ``(B, N, D) -> (B, N, M)``."""

    def __init__(self, patch_dim: int, n_channels: int, bias: bool = True):
        super().__init__()
        patch_dim, n_channels = _weight_sizes(patch_dim, n_channels)
        self.linear = nn.Linear(patch_dim, n_channels, bias=validate.boolean(bias, "bias"))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.linear(_patches(patches, self.linear.in_features))  # (B, N, M)


class ReLU(Linear):
    """``f_d(x) = max(0, <w_d, x> + b_d)``."""

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return torch.relu(super().forward(patches))  # (B, N, M)


class Gaussian(nn.Module):
    """``f_d(x) = exp(-||x - mu_d||^2 / (2 sigma_d^2))``, the similarity layer of COLT 2016.

    Parameters
    ----------
    patch_dim, n_channels : int
        ``D`` and ``M``.
    sigma : float, default 1.0
        Initial width of every channel, ``> 0`` (stored as ``log_sigma``).
    """

    def __init__(self, patch_dim: int, n_channels: int, sigma: float = 1.0):
        super().__init__()
        patch_dim, n_channels = _weight_sizes(patch_dim, n_channels)
        sigma = validate.real(sigma, "sigma", 0.0, strict_minimum=True)
        self.means = nn.Parameter(torch.randn(n_channels, patch_dim))
        self.log_sigma = nn.Parameter(torch.full((n_channels,), sigma).log())

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        patches = _patches(patches, self.means.shape[1])
        sq = (patches.unsqueeze(-2) - self.means).pow(2).sum(-1)  # (B, N, M)
        return torch.exp(-sq / (2 * torch.exp(2 * self.log_sigma)))  # (B, N, M)


REPRESENTATIONS = validate.Registry("representation")
for _name, _cls in (("one-hot", OneHot), ("identity", Identity), ("linear", Linear),
                    ("relu", ReLU), ("gaussian", Gaussian)):
    REPRESENTATIONS.register(_name, _cls)


def Representation(kind: str, *args, **kwargs) -> nn.Module:  # noqa: N802 (a factory)
    """Build a representation layer by name (see :data:`REPRESENTATIONS`)."""
    return REPRESENTATIONS[kind](*args, **kwargs)
