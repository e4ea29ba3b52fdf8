"""Pooling operators: what a node of the pooling tree does with its window of children.

A ConvAC pools by products (``g(a, b) = a * b``); Cohen & Shashua (ICML 2016) replace
the product by an *activation-pooling* operator ``g(a, b) = P(sigma(a), sigma(b))``
(an activation ``sigma`` applied to every conv output, then a pooling ``P`` over the
window) and obtain generalized CP and HT decompositions.  Every operator here reduces a
window of children's conv outputs, laid out ``(nodes / w, w, batch, r)``, to
``(nodes / w, batch, r)``; the forward pass calls it at every level (one place to change
what a node computes).

Registered operators (``POOLING_OPERATORS``), after Cohen & Shashua (ICML 2016, Sec. 3):

- ``"product"``: ``g(a, b) = a * b``, linear activation: the ConvAC.
- ``"relu-max"``: ReLU then max pooling, ``g(a, b) = max(a, b, 0)``.
- ``"relu-sum"`` (alias ``"relu-avg"``): ReLU then average pooling, taken as the paper
  takes it, ``g(a, b) = max(a, 0) + max(b, 0)``: the sum of the window, the ``1 / w``
  of an average being absorbed into the next conv's weights (same function class).

:func:`pooling_operator` wraps any user-given associative, commutative elementwise torch
function (checked on random samples).

One definition serves every computation: the registered operators' ``combine`` and
``activation`` take torch tensors (the forward pass) and numpy arrays alike, object
arrays of Python integers included, so the exact integer grid tensors
(:func:`convac.experiments.rectifier_laws.exact_grid_tensor`) pool through the same
functions as the float forward; a user operator whose functions also take numpy arrays
(e.g. written with ``+``, ``*`` or numpy ufuncs) works there too.

The paper adds no biases to the convs; its universality results rest on representation
functions whose template matrix ``F`` is invertible, which convac's grid tensors take as
given (:mod:`convac.tensors.grid`).

References
----------
N. Cohen, A. Shashua, "Convolutional Rectifier Networks as Generalized Tensor
Decompositions", ICML 2016.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from .. import validate
from ..validate import InvalidTypeError, InvalidValueError, Registry

__all__ = [
    "PoolingOperator",
    "POOLING_OPERATORS",
    "resolve_pooling",
    "pooling_operator",
    "PRODUCT",
    "RELU_MAX",
    "RELU_SUM",
]


@dataclass(frozen=True)
class PoolingOperator:
    """An associative, commutative pooling of a window, after an optional activation.

    Parameters
    ----------
    name : str
    combine : callable ``(Tensor, Tensor) -> Tensor``
        The binary pooling ``P`` (associative and commutative), elementwise and
        broadcasting.  The registered operators' also take numpy arrays (object arrays of
        Python integers included), for exact integer computations.
    activation : callable ``Tensor -> Tensor``, optional
        ``sigma``, applied to every child before pooling (``None``: the identity); the
        registered operators' also takes numpy arrays.
    combine_ : callable ``(Tensor, Tensor) -> None``, optional
        In-place form of ``combine`` writing into its first argument, used without
        autograd to pool with no allocation (same function, fewer copies).
    reduce : callable ``(Tensor) -> Tensor``, optional
        One-kernel reduction over dim 1 of a window (e.g. ``prod``), used for windows
        wider than 2, with or without autograd (a CP net pools N children at once).
    bound : callable ``(b, w) -> float``, optional
        A bound on ``|pooled|`` when every child satisfies ``|child| <= b`` and the window
        has ``w`` children (``b ** w`` for products, ``b`` for max, ``w * b`` for sums).
        ``None``: unknown.  With a bound, :mod:`convac.tensors.grid` certifies when a
        float64 grid tensor of integers is exact.
    rational : bool, default False
        Whether ``g`` maps rationals to rationals (products, max, sums do): then a
        network with integer weights on integer features has an integer grid tensor and
        its ranks can be computed exactly.
    """

    name: str
    combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    combine_: Callable[[torch.Tensor, torch.Tensor], object] | None = None
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None
    bound: Callable[[float, int], float] | None = None
    rational: bool = False

    def __reduce__(self):
        # a registered operator pickles as its name (the same object once loaded, and
        # networks saved whole with torch.save load it by name); any other as its fields,
        # whose functions must then be importable
        name = _registered_name(self)
        if name is not None:
            return resolve_pooling, (name,)
        return PoolingOperator, tuple(getattr(self, f.name) for f in fields(self))

    def pool_children(self, children) -> torch.Tensor:
        """Pool one node's children given as separate tensors (a node of a
        :class:`convac.nets.tree.PoolingTree`): the function of :meth:`__call__` on their
        stacked window, without stacking them (never written: safe with or without
        autograd).

        Parameters
        ----------
        children : sequence of Tensor, each of shape ``(batch, r)``, at least two
            Or any arrays ``combine`` and ``activation`` take and broadcast together
            (numpy object arrays of Python integers for the registered operators).

        Returns
        -------
        Tensor, shape ``(batch, r)``
            The children's broadcast shape.
        """
        if self.activation is not None:
            children = [self.activation(c) for c in children]
        pooled = self.combine(children[0], children[1])  # (batch, r), a new tensor
        for child in children[2:]:
            pooled = self.combine(pooled, child)
        return pooled

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
        if w > 2 and self.reduce is not None:
            # one kernel beats w - 1 in-place steps even without autograd (measured, one
            # thread, batch 256, r 16: a CP window of 64 in 22 us against 88 us, 64
            # windows of 4 in 59 against 69 us); at w = 2 in place wins (41 against 75 us)
            return self.reduce(window)  # (nodes, batch, r)
        # unbind, not indexing: the backward of w selects would zero-fill w full-size
        # gradients; unbind's stacks the children's gradients once
        children = window.unbind(1)  # w views, each (nodes, batch, r)
        if in_place and self.combine_ is not None:
            pooled = children[0]  # (nodes, batch, r), a strided view
            for child in children[1:]:
                self.combine_(pooled, child)
            return pooled
        pooled = self.combine(children[0], children[1])  # (nodes, batch, r)
        for child in children[2:]:
            pooled = self.combine(pooled, child)
        return pooled


def _maximum(a, b):
    """``max(a, b)`` elementwise, of torch tensors or of numpy arrays (any dtype)."""
    if isinstance(a, torch.Tensor):
        return torch.maximum(a, b)
    return np.maximum(a, b)


def _relu(x):
    """``max(x, 0)`` elementwise, of a torch tensor or of a numpy array (any dtype)."""
    if isinstance(x, torch.Tensor):
        return torch.relu(x)
    return np.maximum(x, 0)


def _product_reduce(window: torch.Tensor) -> torch.Tensor:
    return window.prod(dim=1)  # (nodes, batch, r)


def _max_(acc: torch.Tensor, other: torch.Tensor) -> None:
    torch.maximum(acc, other, out=acc)  # elementwise: writing into an input is safe


def _max_reduce(window: torch.Tensor) -> torch.Tensor:
    return window.amax(dim=1)  # (nodes, batch, r)


def _sum_reduce(window: torch.Tensor) -> torch.Tensor:
    return window.sum(dim=1)  # (nodes, batch, r)


def _product_bound(b: float, w: int) -> float:
    return b**w


def _max_bound(b: float, w: int) -> float:
    return b


def _sum_bound(b: float, w: int) -> float:
    return w * b


# operator.mul and operator.add call the operands' own product and sum: torch's kernels
# on tensors, numpy's (exact on Python integers) on arrays
PRODUCT = PoolingOperator("product", operator.mul, None, torch.Tensor.mul_, _product_reduce,
                          bound=_product_bound, rational=True)
"""Product pooling: the ConvAC (``g(a, b) = a * b``)."""

RELU_MAX = PoolingOperator("relu-max", _maximum, _relu, _max_, _max_reduce,
                           bound=_max_bound, rational=True)
"""ReLU activation and max pooling, ``g(a, b) = max(a, b, 0)`` (ICML 2016, Sec. 3)."""

RELU_SUM = PoolingOperator("relu-sum", operator.add, _relu, torch.Tensor.add_, _sum_reduce,
                           bound=_sum_bound, rational=True)
"""ReLU activation and average (sum) pooling, ``g(a, b) = max(a, 0) + max(b, 0)``
(ICML 2016, Sec. 3: the average's ``1 / w`` is absorbed into the next conv)."""

POOLING_OPERATORS = Registry("pooling operator")
POOLING_OPERATORS.register("product", PRODUCT)
POOLING_OPERATORS.register("relu-max", RELU_MAX)
POOLING_OPERATORS.register("relu-sum", RELU_SUM)
POOLING_OPERATORS.register("relu-avg", RELU_SUM)  # the paper's average pooling


def _check_binary(name: str, fn, what: str, n_samples: int, seed: int, rtol: float) -> None:
    """Raise unless ``fn`` is elementwise, associative and commutative on random samples."""
    gen = torch.Generator().manual_seed(seed)
    a, b, c = (torch.randn(n_samples, generator=gen, dtype=torch.float64) * 3 for _ in range(3))
    try:
        ab, ba = fn(a, b), fn(b, a)
        left, right = fn(ab, c), fn(a, fn(b, c))
    except Exception as err:  # the user's function, any failure
        raise InvalidValueError(
            f"{what} of pooling operator {name!r} failed on float64 tensors of shape "
            f"({n_samples},): {err}"
        ) from err
    for value in (ab, left):
        if not isinstance(value, torch.Tensor) or value.shape != a.shape:
            raise InvalidValueError(
                f"{what} of pooling operator {name!r} must map two tensors of shape "
                f"({n_samples},) to one of the same shape, got {value!r}"
            )
    for prop, x, y in (("commutative", ab, ba), ("associative", left, right)):
        scale = torch.maximum(x.abs(), y.abs()).clamp_min(1.0)
        worst = float(((x - y).abs() / scale).max())
        if not worst <= rtol:
            raise InvalidValueError(
                f"{what} of pooling operator {name!r} is not {prop} on {n_samples} seeded "
                f"random samples: relative difference {worst:.3g} > rtol={rtol:g} (a "
                "pooling window's result must not depend on the order of its children)"
            )


def pooling_operator(name: str, combine, activation=None, *, bound=None,
                     rational: bool = False, check: bool = True, n_samples: int = 256,
                     seed: int = 0, rtol: float = 1e-9) -> PoolingOperator:
    """A :class:`PoolingOperator` from a user-given binary torch function.

    Parameters
    ----------
    name : str
        Shown in ``repr`` and error messages (not registered).
    combine : callable ``(Tensor, Tensor) -> Tensor``
        Elementwise, associative and commutative (e.g. ``torch.maximum``,
        ``torch.logaddexp``); it is folded over each window.
    activation : callable ``Tensor -> Tensor``, optional
        ``sigma`` applied to every child first (the paper's ``g(a, b) = P(sigma(a),
        sigma(b))``).
    bound, rational
        See :class:`PoolingOperator` (default: unknown, not rational).
    check : bool, default True
        Test commutativity and associativity of ``combine`` on ``n_samples`` seeded
        float64 triples (relative tolerance ``rtol``) and raise if either fails.

    Returns
    -------
    PoolingOperator
        Without an in-place form: networks pool it with fresh tensors.
    """
    if not isinstance(name, str) or not name:
        raise InvalidTypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(combine):
        raise InvalidTypeError(f"combine must be callable (Tensor, Tensor) -> Tensor, "
                               f"got {combine!r}")
    if activation is not None and not callable(activation):
        raise InvalidTypeError(f"activation must be callable or None, got {activation!r}")
    if check:
        n_samples = validate.count(n_samples, "n_samples")
        _check_binary(name, combine, "combine", n_samples, validate.integer(seed, "seed", 0),
                      validate.real(rtol, "rtol", 0.0))
    return PoolingOperator(name, combine, activation, bound=bound,
                           rational=validate.boolean(rational, "rational"))


def _registered_name(op: PoolingOperator) -> str | None:
    """The name ``op`` is registered under (itself, not an equal copy), or ``None``."""
    if op.name in POOLING_OPERATORS and POOLING_OPERATORS[op.name] is op:
        return op.name
    return None


def resolve_pooling(pooling) -> PoolingOperator:
    """A registered operator's name, or a :class:`PoolingOperator`, as an operator."""
    if isinstance(pooling, PoolingOperator):
        return pooling
    if isinstance(pooling, str):
        return POOLING_OPERATORS[pooling]
    raise InvalidTypeError(
        f"pooling must be a name ({', '.join(POOLING_OPERATORS)}) or a "
        f"convac.nets.pooling.PoolingOperator, got {pooling!r}"
    )
