"""Pooling operators: what a node of the pooling tree does with its window of children.

A ConvAC pools by products (``g(a, b) = a * b``); Cohen & Shashua (ICML 2016) replace
the product by an *activation-pooling* operator ``g(a, b) = P(sigma(a), sigma(b))``
(an activation ``sigma`` applied to every conv output, then a pooling ``P`` over the
window) and obtain generalized CP and HT decompositions.  Every operator here reduces a
window of children's conv outputs, laid out ``(nodes / w, w, batch, r)``, to
``(nodes / w, batch, r)``; the forward pass calls it at every level (one place to change
what a node computes).

References
----------
N. Cohen, A. Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .validate import InvalidTypeError, Registry

__all__ = ["PoolingOperator", "POOLING_OPERATORS", "resolve_pooling", "PRODUCT"]


@dataclass(frozen=True)
class PoolingOperator:
    """An associative, commutative pooling of a window, after an optional activation.

    Parameters
    ----------
    name : str
    combine : callable ``(Tensor, Tensor) -> Tensor``
        The binary pooling ``P`` (associative and commutative), elementwise.
    activation : callable ``Tensor -> Tensor``, optional
        ``sigma``, applied to every child before pooling (``None``: the identity).
    combine_ : callable ``(Tensor, Tensor) -> None``, optional
        In-place form of ``combine`` writing into its first argument, used without
        autograd to pool with no allocation (same function, fewer copies).
    reduce : callable ``(Tensor) -> Tensor``, optional
        One-kernel reduction over dim 1 of a window (e.g. ``prod``), used for windows
        wider than 2 when not pooling in place (a CP net pools N children at once).
    """

    name: str
    combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    combine_: Callable[[torch.Tensor, torch.Tensor], object] | None = None
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __deepcopy__(self, memo) -> PoolingOperator:
        return self  # immutable: copies of a network share their operator

    def __call__(self, window: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """Pool a window of children.

        Parameters
        ----------
        window : Tensor, shape ``(nodes, w, batch, r)``
            Conv outputs of the children, window ``j`` holding nodes ``j*w .. j*w+w-1``.
        in_place : bool, default False
            Accumulate into ``window[:, 0]`` (allowed only when nothing needs the
            children afterwards, i.e. without autograd).

        Returns
        -------
        Tensor, shape ``(nodes, batch, r)``
        """
        if self.activation is not None:
            window = self.activation(window)  # a new tensor: in-place is safe below
        w = window.shape[1]
        if in_place and self.combine_ is not None:
            pooled = window[:, 0]  # (nodes, batch, r), a strided view
            for k in range(1, w):
                self.combine_(pooled, window[:, k])
            return pooled
        if w > 2 and self.reduce is not None:
            return self.reduce(window)  # (nodes, batch, r)
        pooled = self.combine(window[:, 0], window[:, 1])  # (nodes, batch, r)
        for k in range(2, w):
            pooled = self.combine(pooled, window[:, k])
        return pooled


def _product_reduce(window: torch.Tensor) -> torch.Tensor:
    return window.prod(dim=1)  # (nodes, batch, r)


PRODUCT = PoolingOperator("product", torch.mul, None, torch.Tensor.mul_, _product_reduce)
"""Product pooling: the ConvAC (``g(a, b) = a * b``)."""

POOLING_OPERATORS = Registry("pooling operator")
POOLING_OPERATORS.register("product", PRODUCT)


def resolve_pooling(pooling) -> PoolingOperator:
    """A registered operator's name, or a :class:`PoolingOperator`, as an operator."""
    if isinstance(pooling, PoolingOperator):
        return pooling
    if isinstance(pooling, str):
        return POOLING_OPERATORS[pooling]
    raise InvalidTypeError(
        f"pooling must be a name ({', '.join(POOLING_OPERATORS)}) or a "
        f"convac.pooling.PoolingOperator, got {pooling!r}"
    )
