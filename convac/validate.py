"""Validators, one per kind of argument, and the option registry: every public function
checks its input here first, so an error always names the argument, the value it got
and what was expected.

All of them raise one family, :class:`ConvACError`: :class:`InvalidValueError` (a
``ValueError``: a wrong value), :class:`InvalidTypeError` (a ``TypeError``, and a
``ValueError`` too: a value of the wrong kind) and :class:`BudgetError` (a size over the
memory budget, raised before anything is allocated).  Conventions follow tensorly's
``_validate_cp_tensor`` (validate first, return what was derived) and opt_einsum's
``paths.py`` registry (one table, an error listing the valid choices).
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ConvACError",
    "InvalidValueError",
    "InvalidTypeError",
    "BudgetError",
    "gib",
    "short_int",
    "short_repr",
    "option",
    "Registry",
    "integer",
    "positive_int",
    "count",
    "LARGEST_COUNT",
    "LARGEST_DIGITS",
    "power",
    "min_power",
    "real",
    "tolerance",
    "probability",
    "seed",
    "boolean",
    "max_bytes",
    "check_budget",
    "check_shape_budget",
    "network",
    "product_network",
    "output",
    "int_sequence",
]


def _numpy_types(name: str) -> tuple:
    """``(numpy.<name>,)`` if numpy is imported, else ``()``: a value cannot be of a numpy
    type before numpy is imported, and not importing it keeps ``convac --help`` fast."""
    np = sys.modules.get("numpy")
    return (getattr(np, name),) if np is not None else ()


class ConvACError(Exception):
    """Base of every error convac raises for bad input."""


class InvalidValueError(ConvACError, ValueError):
    """An argument has a value outside what is accepted."""


class InvalidTypeError(ConvACError, TypeError, ValueError):
    """An argument is of the wrong kind (also a ValueError, as numpy's AxisError is an
    IndexError and a ValueError, so ``except ValueError`` catches every bad input)."""


LARGEST_MEMORY = 2**50
"""Bytes (1 PiB) beyond which a budget error advises a smaller size, not a larger budget."""


class BudgetError(InvalidValueError):
    """An array would exceed the memory budget ``max_bytes``.

    Attributes
    ----------
    what : str
        The array refused and its shape or size ("CP factors would have shape (12, 9)").
    needed : float
        Bytes it would take (a float: it may be astronomically large).
    budget : int
        The budget in bytes.
    option : str
        What raises the budget where the error is caught (``max_bytes`` in Python; a
        command names its own option, e.g. ``--max-gib``, through :meth:`advice`).
    """

    def __init__(self, what: str, needed: float = math.nan, budget: int = 0,
                 option: str = "max_bytes"):
        self.what, self.needed, self.budget, self.option = what, float(needed), budget, option
        super().__init__(self.advice(option))

    @property
    def needed_gib(self) -> float:
        """Gibibytes the refused array would take."""
        return self.needed / 2**30

    def advice(self, option: str) -> str:
        """The message, telling to raise the budget with ``option`` where that can help
        (not for sizes no machine has: there, to choose a smaller size)."""
        if math.isnan(self.needed):
            if option == "max_bytes" or option.startswith("--"):
                return f"{self.what}; raise {option} if the machine has the memory"
            # a budget that counts (trees, placements): raising it costs time, not memory
            return f"{self.what}; raise {option} to search further (the time grows with it)"
        # in Python, the budget as the argument was given; a command's own option is in GiB
        given = f" (max_bytes={self.budget})" if option == "max_bytes" else ""
        head = (f"the {self.what} ({gib(self.needed)}), above the memory budget of "
                f"{gib(self.budget)}{given}")
        if self.needed > LARGEST_MEMORY:
            return f"{head}; no machine has that much memory: choose a smaller size"
        return (f"{head}; raise {option} to at least {gib(self.needed)} if the machine has "
                "that much memory")

    @property
    def refused(self) -> str:
        """The mark of a cell this error refused, in a table or an experiment:
        ``"refused: needs 64 GiB"``."""
        return f"refused: needs {gib(self.needed)}"

    def record(self) -> dict:
        """What a table, a measurement or an experiment stores for a refused cell:
        ``refused`` (:attr:`refused`), ``what``, ``needed_bytes`` and ``budget_bytes``;
        :meth:`from_record` rebuilds the error (to advise a command's own option)."""
        return {"refused": self.refused, "what": self.what, "needed_bytes": self.needed,
                "budget_bytes": self.budget}

    @classmethod
    def from_record(cls, record: dict, option: str = "max_bytes") -> BudgetError:
        """The error :meth:`record` stored, advising ``option``."""
        needed = record.get("needed_bytes")  # NaN was written as null (strict JSON)
        return cls(record["what"], math.nan if needed is None else needed,
                   record["budget_bytes"], option)

    def __reduce__(self):  # picklable (dask workers raise it) with its fields
        return (type(self), (self.what, self.needed, self.budget, self.option))


def gib(n_bytes: float) -> str:
    """``n_bytes`` in GiB, readable at any size: ``2 GiB``, ``0.0625 GiB``,
    ``1.6e+145 GiB``."""
    value = float(n_bytes) / 2**30
    return f"{value:.3g} GiB" if value < 1e6 else f"{value:.2g} GiB"


def short_int(n: int) -> str:
    """An integer that may have hundreds of digits, short: ``4096``, ``1.34e+154``."""
    n = int(n)
    if n < 10**15:
        return str(n)
    return f"{float(n):.3g}" if n.bit_length() < 1000 else f"~2^{n.bit_length() - 1}"


def integer(value: Any, name: str, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``value`` as a Python int in ``[minimum, maximum]`` (bools and floats refused).

    Raises
    ------
    TypeError
        ``value`` is not an integer (``True``, ``2.0`` and ``"2"`` are not).
    ValueError
        It is out of range.
    """
    if type(value) is not int:  # exact ints skip the ABC check (it is most of the cost)
        if isinstance(value, bool) or not isinstance(
                value, (numbers.Integral, *_numpy_types("integer"))):
            raise InvalidTypeError(
                f"{name} must be an integer, got {value!r} ({type(value).__name__})")
        value = int(value)
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise InvalidValueError(f"{name} must be in {minimum}..{maximum}, got {value}")
    if minimum is not None and value < minimum:
        raise InvalidValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (default 1)."""
    return integer(value, name, minimum=minimum)


LARGEST_COUNT = 2**31 - 1
"""Largest count of iterations, restarts, samples or widths a loop of convac accepts:
beyond, no run ends (and torch and numpy index with int32 on some platforms)."""


def count(value: Any, name: str, minimum: int = 1) -> int:
    """A count of loop iterations (steps, restarts, samples, widths) in
    ``[minimum, LARGEST_COUNT]``, refused before the loop starts when no run could end."""
    value = integer(value, name, minimum=minimum)
    if value > LARGEST_COUNT:
        raise InvalidValueError(
            f"{name}={short_int(value)} is more iterations than any run can finish; expected "
            f"at most 2**31 - 1 = {LARGEST_COUNT}: choose a smaller {name}")
    return value


LARGEST_DIGITS = 10**6
"""Decimal digits of the largest exact integer (a rank, a count) convac computes from a
formula: beyond, the number would take longer to compute and print than any use of it."""


def power(base: int, exponent: int, what: str, advice: str) -> int:
    """``base ** exponent``, refused (naming ``what`` and the ``advice``) when it would
    have more than :data:`LARGEST_DIGITS` decimal digits, before it is computed."""
    digits = exponent * math.log10(base) if base > 1 else 0.0
    if digits > LARGEST_DIGITS:
        raise InvalidValueError(
            f"{what} = {base}^{short_int(exponent)} would have about {digits:.3g} decimal "
            f"digits, more than the {LARGEST_DIGITS:.0e} any result of convac may have; "
            f"{advice}")
    return base**exponent


def min_power(k: int, base: int, exponent: int) -> int:
    """``min(k, base ** exponent)`` without computing a power far larger than ``k``."""
    if base > 1 and exponent * math.log2(base) > k.bit_length():
        return k  # base**exponent >= 2**bit_length(k) > k
    return min(k, base**exponent)


def real(value: Any, name: str, minimum: float | None = None, maximum: float | None = None,
         *, strict_minimum: bool = False, strict_maximum: bool = False) -> float:
    """A finite real number in the given range, as a Python float.

    ``strict_*`` excludes the bound itself.  NaN and infinities are refused.
    """
    if isinstance(value, bool) or not isinstance(
            value, (numbers.Real, *_numpy_types("floating"), *_numpy_types("integer"))):
        raise InvalidTypeError(
            f"{name} must be a real number, got {value!r} ({type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value):
        raise InvalidValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict_minimum else value < minimum):
        op = ">" if strict_minimum else ">="
        raise InvalidValueError(f"{name} must be {op} {minimum}, got {value}")
    if maximum is not None and (value >= maximum if strict_maximum else value > maximum):
        op = "<" if strict_maximum else "<="
        raise InvalidValueError(f"{name} must be {op} {maximum}, got {value}")
    return value


def tolerance(value: Any, name: str = "rtol") -> float | None:
    """A relative tolerance: ``None`` (the method's default) or a float in ``[0, 1)``."""
    if value is None:
        return None
    return real(value, name, 0.0, 1.0, strict_maximum=True)


def probability(value: Any, name: str) -> float:
    """A probability in ``[0, 1]``."""
    return real(value, name, 0.0, 1.0)


def seed(value: Any, name: str = "seed") -> int | None:
    """``None`` (fresh entropy) or an integer seed in ``[0, 2**63)``."""
    if value is None:
        return None
    return integer(value, name, 0, 2**63 - 1)


def boolean(value: Any, name: str) -> bool:
    """``True`` or ``False`` (numpy bools too); ``1``, ``"yes"`` and ``None`` are refused."""
    if not isinstance(value, (bool, *_numpy_types("bool_"))):
        raise InvalidTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def max_bytes(value: Any, name: str = "max_bytes") -> int:
    """A memory budget in bytes: a positive integer (or an integral float such as 2e9)."""
    if (isinstance(value, (float, *_numpy_types("floating"))) and math.isfinite(value)
            and value == int(value)):
        value = int(value)
    return integer(value, name, minimum=1)


def check_shape_budget(shape, budget: int, what: str = "array", itemsize: int = 8) -> None:
    """Raise :class:`BudgetError` if an array of ``shape`` would exceed ``budget`` bytes.

    Python ints throughout, so astronomically large shapes never overflow.
    """
    budget = max_bytes(budget)
    shape = tuple(int(s) for s in shape)
    size = itemsize * math.prod(shape)
    if size > budget:
        shown = "(" + ", ".join(map(short_int, shape)) + ("," if len(shape) == 1 else "") + ")"
        raise BudgetError(f"{what} would have shape {shown}",
                          float(min(size, 2**1000)), budget)


def check_budget(side: int, order: int, budget: int, what: str = "tensor") -> None:
    """Raise :class:`BudgetError` if a dense float64 tensor with ``side**order`` entries
    would exceed ``budget`` bytes."""
    budget = max_bytes(budget)
    side, order = int(side), int(order)
    # compare logarithms first: side**order may have millions of digits
    if order * math.log2(max(side, 1)) > math.log2(budget) + 1 or 8 * side**order > budget:
        # exact while side**order is a float; beyond, capped at 2^1000 (no float overflow)
        entries = (float(side**order) if order * math.log2(max(side, 1)) < 1000
                   else math.exp(min(order * math.log(max(side, 1)), 700.0)))
        raise BudgetError(f"dense {what} would hold {side}^{order} = {entries:.3g} "
                          "entries of float64", 8 * entries, budget)


NETWORK_TYPES: list = []
"""The classes :func:`network` accepts: :class:`convac.ConvAC` registers itself (validate
sits below the networks in the data flow and does not import them)."""


def network_type(cls):
    """Class decorator: ``cls`` is a network :func:`network` accepts (with subclasses)."""
    NETWORK_TYPES.append(cls)
    return cls


def network(net: Any):
    """``net`` if it is a :class:`convac.ConvAC`, else a TypeError naming what it got."""
    if not isinstance(net, tuple(NETWORK_TYPES)):
        raise InvalidTypeError(f"expected a convac.ConvAC network, got {type(net).__name__}")
    return net


def product_network(net: Any, what: str):
    """``net`` if it is a ConvAC with product pooling: coefficient tensors, structured and
    exact ranks and min-cut bounds are defined for those only (a generalized network's
    grid tensor is :func:`convac.grid_tensor`)."""
    net = network(net)
    name = getattr(getattr(net, "pooling", None), "name", "product")
    if name != "product":
        raise InvalidValueError(
            f"{what} is defined for product pooling (a ConvAC), this network pools with "
            f"{name!r}; use convac.grid_tensor and convac.rank.grid.grid_rank "
            "for generalized networks"
        )
    return net


def output(net, value: Any, name: str = "output") -> int:
    """An output index of ``net``, in ``0 .. n_outputs - 1``."""
    return integer(value, name, 0, net.n_outputs - 1)


class Registry:
    """Named options declared in one place (rank methods, representations, partitions).

    Registering a name twice is an error; looking up an unknown one lists the choices.

    Parameters
    ----------
    what : str
        What the options are, for error messages (``"rank method"``).
    """

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, Any] = {}

    def register(self, name: str, item: Any = None) -> Any:
        """Add ``item`` under ``name``; usable as a decorator (``@registry.register("x")``)."""
        if not isinstance(name, str) or not name:
            raise InvalidTypeError(f"a {self.what} name must be a non-empty string, got {name!r}")

        def add(obj):
            if name in self._items:
                raise InvalidValueError(f"{self.what} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add if item is None else add(item)

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str) or name not in self._items:
            valid = ", ".join(repr(k) for k in self._items)
            raise InvalidValueError(f"unknown {self.what} {name!r}; expected one of: {valid}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)

    def items(self):
        return self._items.items()

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name, default)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._items)})"


def option(registry, name: str, what: str) -> Any:
    """Look ``name`` up in a dict or :class:`Registry`; unknown names list the choices."""
    if isinstance(registry, Registry):
        return registry[name]
    if not isinstance(name, str) or name not in registry:
        valid = ", ".join(repr(k) for k in registry)
        raise InvalidValueError(f"unknown {what} {name!r}; expected one of: {valid}")
    return registry[name]



def short_repr(value) -> str:
    """``repr(value)``, cut to 60 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def int_sequence(value: Any, name: str, minimum: int | None = 1, what: str = "integer") -> list:
    """A non-empty sequence of integers (each ``>= minimum``; ``what`` names one in the
    error) as a list of Python ints."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidTypeError(f"{name} must be a sequence of integers, got "
                               f"{type(value).__name__} {short_repr(value)}")
    out = [integer(v, f"{name}[{i}]", minimum) for i, v in enumerate(value)]
    if not out:
        raise InvalidValueError(f"{name} must list at least one {what}, got none")
    return out
