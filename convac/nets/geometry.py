"""Pooling schedules and pooling geometries (patch orders).

A ConvAC is fixed by a pooling schedule: window sizes ``w_1 .. w_L`` whose product is
the number of patches N, ranks ``r_0 .. r_{L-1}`` and a number of outputs ``Y``
(``r_L = Y``).  The pooling geometry is a permutation of the patches applied before
level 0: position ``p`` of the pooling tree holds patch ``order[p]``.

References
----------
N. Cohen, O. Sharir, A. Shashua, "On the Expressive Power of Deep Learning: A Tensor
Analysis", COLT 2016.  N. Cohen, A. Shashua, "Inductive Bias of Deep Convolutional
Networks through Pooling Geometry", ICLR 2017.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import validate

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PoolingSchedule",
    "GEOMETRIES",
    "patch_order",
    "mirror_order",
    "quadtree_order",
    "truncated_windows",
    "ht_windows",
]


DEFAULT_MAX_BYTES = 2 * 1024**3
"""Default memory budget of one array convac allocates (2 GiB): dense tensors, patch
orders, a network's parameters."""

_positive_int = validate.positive_int


@dataclass(frozen=True)
class PoolingSchedule:
    """Validated pooling schedule of a ConvAC.

    Parameters
    ----------
    n_patches : int
        Number of patches ``N`` (leaves of the pooling tree).
    n_channels : int
        Number of representation channels ``M`` (values per mode of the tensor).
    windows : tuple of int
        Window sizes ``w_1 .. w_L``, each >= 2, with ``prod(windows) == n_patches``.
    ranks : int or tuple of int
        ``r_0 .. r_{L-1}``; an int is used for every level.
    n_outputs : int
        Number of outputs ``Y`` (``r_L``).

    Attributes
    ----------
    n_levels : int
        ``L = len(windows)``.
    nodes : tuple of int
        ``nodes[l]`` is the number of conv nodes at level ``l`` (``nodes[0] = N``,
        ``nodes[L] = 1``).
    widths : tuple of int
        ``r_0 .. r_L`` with ``r_L = n_outputs``.
    """

    n_patches: int
    n_channels: int
    windows: tuple
    ranks: tuple
    n_outputs: int = 1
    nodes: tuple = field(init=False)

    def __post_init__(self):
        n = _positive_int(self.n_patches, "n_patches", 2)
        _positive_int(self.n_channels, "n_channels")
        _positive_int(self.n_outputs, "n_outputs")
        if isinstance(self.windows, (int, np.integer)) or not isinstance(self.windows, Sequence):
            raise validate.InvalidTypeError(
                f"windows must be a sequence of window sizes, got {self.windows!r}")
        windows = tuple(
            _positive_int(w, f"windows[{i}]", 2) for i, w in enumerate(self.windows)
        )
        if not windows:
            raise validate.InvalidValueError("windows must hold at least one window size, got ()")
        p = math.prod(windows)
        if p != n:
            raise validate.InvalidValueError(
                f"windows {windows} multiply to {p}, expected n_patches={n}")
        ranks = self.ranks
        if isinstance(ranks, (int, np.integer)) and not isinstance(ranks, bool):
            ranks = (ranks,) * len(windows)
        if not isinstance(ranks, Sequence) or len(ranks) != len(windows):
            raise validate.InvalidValueError(
                f"ranks must be an int or a sequence of {len(windows)} ints (one per level "
                f"r_0..r_{len(windows) - 1}), got {self.ranks!r}"
            )
        ranks = tuple(_positive_int(r, f"ranks[{i}]") for i, r in enumerate(ranks))
        nodes = [n]
        for w in windows:
            nodes.append(nodes[-1] // w)
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "ranks", ranks)
        object.__setattr__(self, "nodes", tuple(nodes))

    @property
    def n_levels(self) -> int:
        return len(self.windows)

    def parameter_count(self, shared: bool = False) -> int:
        """Parameters of a ConvAC with this schedule (closed form, Python ints).

        ``N*M*r_0 + sum_{l=1..L-1} nodes_l * r_{l-1} * r_l + r_{L-1} * Y`` unshared;
        shared weights drop the node counts.
        """
        shared = validate.boolean(shared, "shared")
        total = (1 if shared else self.n_patches) * self.n_channels * self.ranks[0]
        for level in range(1, self.n_levels):
            nodes = 1 if shared else self.nodes[level]
            total += nodes * self.ranks[level - 1] * self.ranks[level]
        return total + self.ranks[-1] * self.n_outputs

    def check_parameter_budget(self, shared: bool = False, itemsize: int = 8,
                               max_bytes: int = DEFAULT_MAX_BYTES) -> int:
        """Refuse (:class:`convac.validate.BudgetError`) a network whose parameters would
        take more than ``max_bytes``, before anything is allocated; return the count.

        ``ConvAC`` calls it before allocating its weights, so ``HTNet(2**29, 2, 2)`` is
        an immediate error instead of gigabytes of weights.
        """
        count = self.parameter_count(shared)
        itemsize = validate.positive_int(itemsize, "itemsize")
        sizes = ", ".join(f"{k}={validate.short_int(v)}" for k, v in (
            ("n_patches", self.n_patches), ("n_channels", self.n_channels),
            ("n_outputs", self.n_outputs)))
        ranks = ", ".join(map(validate.short_int, self.ranks))
        validate.check_shape_budget(
            (count,), max_bytes, f"parameters of the network ({sizes}, ranks=({ranks}))",
            itemsize)
        return count

    @property
    def widths(self) -> tuple:
        return self.ranks + (self.n_outputs,)

    @property
    def max_width(self) -> int:
        """The widest channel count anywhere: ``M``, a rank or ``Y``."""
        return max((self.n_channels,) + self.widths)

    @property
    def n_nodes(self) -> int:
        """Conv nodes of the tree, leaves included (``sum(nodes)``)."""
        return sum(self.nodes)

    def leaves(self, level: int, node: int) -> range:
        """Tree positions (0-based) below conv node ``node`` of level ``level``."""
        span = self.n_patches // self.nodes[level]
        return range(node * span, (node + 1) * span)


def mirror_order(n_patches: int) -> np.ndarray:
    """Patch order pooling patch ``i`` with its reflection ``N-1-i``.

    Returns ``[0, N-1, 1, N-2, ...]``: with windows of 2 at level 1, every pair is a
    patch and its mirror image (the "mirror" geometry of Cohen & Shashua, ICLR 2017,
    in one dimension).
    """
    n = _order_size(n_patches)
    if n % 2:
        raise validate.InvalidValueError(
            f"mirror geometry needs an even number of patches, got {n}")
    order = np.empty(n, dtype=np.int64)
    order[0::2] = np.arange(n // 2)
    order[1::2] = np.arange(n - 1, n // 2 - 1, -1)
    return order


def quadtree_order(height: int, width: int) -> np.ndarray:
    """Z-order (Morton order) of a ``height x width`` patch grid in raster numbering.

    With this order, windows of 4 at every level are 2x2 pooling windows of the grid.

    Returns
    -------
    order : ndarray of int, shape ``(height * width,)``
        ``order[p]`` is the raster index ``row * width + col`` of the p-th patch.
    """
    h = _positive_int(height, "height")
    w = _positive_int(width, "width")
    if h != w or h & (h - 1):
        raise validate.InvalidValueError(
            f"quad-tree order needs a square grid with a power-of-two side, got {h}x{w}"
        )
    validate.check_shape_budget((h * w, 3), DEFAULT_MAX_BYTES, "quad-tree order")
    rows, cols = np.divmod(np.arange(h * w), w)
    code = np.zeros(h * w, dtype=np.int64)
    for bit in range(max(h.bit_length(), 1)):
        code |= ((cols >> bit) & 1) << (2 * bit)
        code |= ((rows >> bit) & 1) << (2 * bit + 1)
    return np.argsort(code, kind="stable")


def _order_size(n_patches) -> int:
    """``n_patches`` validated, and a patch order of that length within the budget."""
    n = _positive_int(n_patches, "n_patches", 2)
    validate.check_shape_budget((n,), DEFAULT_MAX_BYTES, f"patch order of {n} patches")
    return n


def _contiguous(n_patches: int) -> np.ndarray:
    return np.arange(_order_size(n_patches), dtype=np.int64)


GEOMETRIES = validate.Registry("geometry")
"""Named pooling geometries: ``name -> (n_patches -> patch order)``."""
GEOMETRIES.register("contiguous", _contiguous)
GEOMETRIES.register("mirror", mirror_order)


def patch_order(geometry, n_patches: int) -> np.ndarray:
    """Resolve a pooling geometry to a patch permutation.

    Parameters
    ----------
    geometry : str or sequence of int
        ``"contiguous"``, ``"mirror"`` or an explicit permutation of ``range(n_patches)``.
    n_patches : int

    Returns
    -------
    order : ndarray of int, shape ``(n_patches,)``
    """
    if isinstance(geometry, str):
        return validate.option(GEOMETRIES, geometry, "geometry")(n_patches)
    n_patches = _order_size(n_patches)
    if hasattr(geometry, "__len__") and len(geometry) != n_patches:
        raise validate.InvalidValueError(
            f"a custom geometry must be a permutation of range({n_patches}), got "
            f"{len(geometry)} entries")
    try:
        order = np.asarray(geometry)
    except (TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise validate.InvalidTypeError(
            f"a custom geometry must be a permutation of range({n_patches}), got "
            f"{type(geometry).__name__} ({exc})") from None
    if not np.issubdtype(order.dtype, np.integer):
        raise validate.InvalidTypeError(
            f"a custom geometry must be a permutation of range({n_patches}) (integers), got "
            f"dtype {order.dtype}")
    if order.ndim != 1 or order.shape[0] != n_patches:
        raise validate.InvalidValueError(
            f"a custom geometry must be a permutation of range({n_patches}), got {geometry!r}"
        )
    if not np.array_equal(np.sort(order), np.arange(n_patches)):
        raise validate.InvalidValueError(
            f"a custom geometry must be a permutation of range({n_patches}), got {order.tolist()}"
        )
    return order.astype(np.int64)


def ht_windows(n_patches: int, window: int = 2) -> tuple:
    """Windows ``(w, .., w)`` of a full HT tree over ``n_patches = w**L`` patches."""
    n = _positive_int(n_patches, "n_patches", 2)
    w = _positive_int(window, "window", 2)
    levels = round(math.log(n, w))
    if w**levels != n:
        raise validate.InvalidValueError(f"n_patches={n} is not a power of window={w}")
    return (w,) * levels


def truncated_windows(n_patches: int, depth: int) -> tuple:
    """Truncated-depth schedule ``(2, .., 2, N / 2**(depth-1))`` (COLT 2016, Thm 3).

    ``depth`` counts conv levels after the leaves: 1 is CP, ``log2 N`` is full HT.
    """
    n = _positive_int(n_patches, "n_patches", 2)
    d = _positive_int(depth, "depth")
    if d > n.bit_length() - 1:  # before 2**(d-1), which may not fit in any memory
        raise validate.InvalidValueError(
            f"depth={validate.short_int(d)} needs n_patches >= 2**depth; n_patches={n} "
            f"allows depth 1..{max(n.bit_length() - 1, 1)}: choose a smaller depth")
    top = n // 2 ** (d - 1)
    if top < 2 or top * 2 ** (d - 1) != n:
        raise validate.InvalidValueError(
            f"depth={d} needs n_patches divisible by 2**{d - 1} with a top window >= 2, "
            f"got n_patches={n}"
        )
    return (2,) * (d - 1) + (top,)
