"""The rank methods, declared once, and :func:`matricization_rank`, which looks them up.

=============  ==============================================================  ===========
name           what                                                            certified
=============  ==============================================================  ===========
``dense``      SVD of the dense matricization (the oracle; small tensors)      no
``structured`` SVD of the structured root core (:mod:`convac.rank.structured`)            no
``exact``      rank over two primes of the exact tensor (:mod:`convac.rank.exact`)  yes
``auto``       a float rank where its margin is clear, else ``exact``          when exact
=============  ==============================================================  ===========

The registry sits below every method in the data flow: the methods' modules do not
register themselves, nothing mutates it at import.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from .. import validate
from ..nets.network import ConvAC
from ..tensors.coefficient import DEFAULT_MAX_BYTES
from ..tensors.matricization import AMBIGUITY_FACTOR, RankResult, dense_rank, resolve_partition
from .cuts import min_cut_bound
from .exact import exact_rank
from .structured import structured_rank

__all__ = [
    "RANK_METHODS",
    "RankMethod",
    "DEFAULT_METHOD",
    "matricization_rank",
    "auto_rank",
    "AUTO_DENSE_MAX_ENTRIES",
    "AUTO_FLOAT_MAX_RANK",
]

AUTO_DENSE_MAX_ENTRIES = 4096
"""``auto`` tries the dense method first when ``M^N`` is at most this."""

AUTO_FLOAT_MAX_RANK = 256
"""``auto`` skips floats when the min-cut bound (the largest rank possible) exceeds this:
at ``N = 16, M = 2`` (rank 256) the float ranks were already ambiguous, at ``N = 24,
M = 3`` (4096) the structured rank was wrong with no ambiguity."""


def _exact(tensor_or_net, partition, output, max_bytes, primes):
    kwargs = {"output": output} if isinstance(tensor_or_net, ConvAC) else {}
    return exact_rank(tensor_or_net, partition, max_bytes=max_bytes, primes=primes, **kwargs)


def auto_rank(tensor_or_net, partition="odd-even", rtol: float | None = None,
              output: int = 0, max_bytes: int | None = None, primes=None,
              **kwargs) -> RankResult:
    """A rank decided with certainty: a float rank where its margin is clear, the exact
    rank otherwise.

    * tensors and tiny networks (``M^N <= AUTO_DENSE_MAX_ENTRIES``): dense;
    * networks whose rank may exceed :data:`AUTO_FLOAT_MAX_RANK` (min-cut bound):
      exact directly (floats are known to fail there, and exact is faster);
    * other networks: structured;
    * a float rank whose margin is below :data:`convac.tensors.matricization.AMBIGUITY_FACTOR`
      (``ambiguous``) is replaced by the exact rank.

    A network's exact rank is that of its exact tensor (the weights are exact
    rationals).  A float *tensor* is taken at its stored values, rounding included: a
    coefficient tensor computed in floats usually has a larger exact rank than the
    network's, so pass the network where there is one.

    Parameters
    ----------
    tensor_or_net : ConvAC, Tensor or ndarray
    partition : str, sequence of int or Partition
    rtol : float, optional
        Tolerance of the float methods.
    output : int, default 0
    max_bytes : int, optional
        Memory budget (default 2 GiB).
    primes : sequence of int, optional
        Primes of the exact method (default :data:`convac.rank.exact.DEFAULT_PRIMES`).

    Returns
    -------
    RankResult
        ``method`` is the method that decided, ``reason`` says why.
    """

    if kwargs:
        raise validate.InvalidValueError(
            f"unexpected arguments for the auto method: {sorted(kwargs)}")
    rtol = validate.tolerance(rtol)
    max_bytes = validate.max_bytes(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    is_net = isinstance(tensor_or_net, ConvAC)
    if is_net:
        net = tensor_or_net
        output = validate.output(net, output)
        resolve_partition(partition, net.n_patches)
        bound = min_cut_bound(net, partition)
        if net.n_channels ** net.n_patches <= AUTO_DENSE_MAX_ENTRIES:
            first = dense_rank(net, partition, rtol=rtol, output=output, max_bytes=max_bytes)
        elif bound > AUTO_FLOAT_MAX_RANK:
            res = _exact(net, partition, output, max_bytes, primes)
            return _with_reason(res, f"exact: the rank may reach {bound} (min-cut bound), "
                                f"above {AUTO_FLOAT_MAX_RANK}, where float ranks are "
                                "known to fail")
        else:
            first = structured_rank(net, partition, rtol=rtol, output=output,
                                    max_bytes=max_bytes)
    else:
        first = dense_rank(tensor_or_net, partition, rtol=rtol, max_bytes=max_bytes)
    if not first.ambiguous:
        return _with_reason(first, f"{first.method}: float margin {first.margin:.3g} is "
                            f"clear (>= {AMBIGUITY_FACTOR:g})")
    res = _exact(tensor_or_net, partition, output, max_bytes, primes)
    return _with_reason(res, f"exact: the {first.method} float rank {first.rank} was "
                        f"ambiguous (margin {first.margin:.3g} < {AMBIGUITY_FACTOR:g})")


def _with_reason(res: RankResult, reason: str) -> RankResult:
    return replace(res, reason=reason)


class RankMethod(Protocol):
    """The one signature of every rank method of :data:`RANK_METHODS`.

    ``fn(net_or_tensor, partition, *, output=0, max_bytes=None, **options) -> RankResult``:
    a network (:class:`~convac.nets.network.ConvAC`) or a tensor, a partition (a name of
    :data:`~convac.tensors.matricization.PARTITIONS`, the row modes, or a ``Partition``),
    the network's output, the memory budget (``None``: 2 GiB), and the method's own
    options: ``rtol`` (``dense``, ``structured``, ``auto``; ``exact`` refuses anything but
    ``None``), ``prime``/``primes``/``cache``/``field`` (``exact``), ``primes`` (``auto``).
    """

    def __call__(self, net_or_tensor, partition, *, output: int = 0,
                 max_bytes: int | None = None, **options) -> RankResult: ...


DEFAULT_METHOD = "auto"
"""The rank method wherever none is named: :func:`matricization_rank`, the ``convac rank``
and ``convac table`` commands, the depth-efficiency table and :func:`convac.rank.grid.grid_rank`."""

RANK_METHODS = validate.Registry("rank method")
"""Rank methods by name, each a :class:`RankMethod`."""
RANK_METHODS.register("dense", dense_rank)
RANK_METHODS.register("structured", structured_rank)
RANK_METHODS.register("exact", exact_rank)
RANK_METHODS.register("auto", auto_rank)


def matricization_rank(tensor_or_net, partition="odd-even", method: str = DEFAULT_METHOD,
                       rtol: float | None = None, *, output: int = 0,
                       max_bytes: int | None = None, **options) -> RankResult:
    """Rank of the matricization ``[A]_{I,J}`` of a tensor or of a ConvAC's ``A^y``.

    Parameters
    ----------
    tensor_or_net : Tensor, ndarray or ConvAC
    partition : str or sequence of int, default "odd-even"
    method : str, default "auto"
        One of :data:`RANK_METHODS`: ``dense``, ``structured``, ``exact``, ``auto``
        (:data:`DEFAULT_METHOD`: a float rank where its margin is clear, else exact).
    rtol : float, optional
        Relative singular-value tolerance of numerical methods (``None`` or in
        ``[0, 1)``); the default and the value used are reported in the result.
    output : int, default 0
        A network's output.
    max_bytes : int, optional
        Memory budget (default 2 GiB).
    **options
        The method's own options (see :class:`RankMethod`).

    Returns
    -------
    RankResult
        ``int(result)`` is the rank; ``result.is_certified`` says whether it is proven.
    """
    fn = RANK_METHODS[method]
    return fn(tensor_or_net, partition, rtol=rtol, output=output, max_bytes=max_bytes,
              **options)
