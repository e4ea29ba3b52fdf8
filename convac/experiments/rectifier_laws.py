"""Cohen & Shashua (ICML 2016) as distributions: the odd-even rank of random deep
generalized networks over many seeds, under four weight laws and with shared and
unshared weights, and the universality of shallow ReLU+average against ReLU+max beside
the analytic floors.

**Ranks.**  A deep network (HT, windows of 2, ``M = 2``, every width ``r = 4``; product,
ReLU+max or ReLU+sum pooling) is drawn per seed; its grid tensor over ``M`` templates is
computed in exact integer arithmetic (Python integers, :func:`exact_grid_tensor`) and its
odd-even matricization rank exactly over Q (python-flint ``fmpz_mat``): no tolerance
anywhere, at every N.  Four laws, a 2 x 2 design that separates the two choices the
integer law makes:

* ``int/I``: weights uniform on the integers ``-100..100``, templates ``F = I`` (the
  law of ``convac rectifier``);
* ``int/F``: the same weights, a random invertible integer template matrix
  (entries uniform on ``-100..100``);
* ``gauss/I``: Gaussian weights ``N(0, 1)``, ``F = I``;
* ``gauss/F``: Gaussian weights and a Gaussian template matrix (invertible).

Gaussian numbers are rounded to multiples of ``2^-20`` (:data:`GAUSS_SCALE`), so that
every grid tensor is an exact rational; rescaling a network's weights by a positive
constant rescales its grid tensor and keeps its rank (each operator is positively
homogeneous), so the integers ``round(2^20 g)`` are used directly.

**Universality.**  Shallow networks (one global pooling, width ``Z``) of each operator,
with shared or unshared weights, fitted (:func:`convac.fit.shallow.fit_shallow`) to
random Gaussian grid tensors (``N = 4``, ``M = 2``).  A shallow ReLU+average network
realizes exactly the additive tensors ``sum_i phi_i(t_i)`` (unshared weights: a space
of dimension ``k = N (M - 1) + 1``) or ``sum_i phi(t_i)`` (shared: ``k = M``), so no
width fits better than the projection onto that space: the floor
``sqrt(1 - k / M^N)`` in expectation over the target, and its exact value per target
(:func:`reachable_floor`), printed beside the measured plateaus.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ..fit.shallow import fit_shallow
from ..nets.network import ConvAC, HTNet
from ..nets.pooling import PoolingOperator
from ..nets.tree import fold
from ..rank.exact import integer_weights_
from ..validate import InvalidValueError, integer
from .rectifier_laws_summary import (
    CLAIMS,
    GAUSS_SCALE,
    M,
    R,
    analytic_floor,
    format_summary,
    reachable_dimension,
    summarize,
)
from .rectifier_settings import LAWS, OPERATORS, explain
from .runner import Experiment, evaluate

__all__ = ["LAWS", "OPERATORS", "GAUSS_SCALE", "experiment", "compute", "deep_network",
           "templates", "exact_grid_tensor", "odd_even_rank", "reachable_basis",
           "reachable_dimension", "explain",
           "reachable_floor", "analytic_floor", "summarize", "format_summary", "CLAIMS",
           "quick_records"]

RANK_SEEDS = {4: 200, 8: 200, 16: 20}
FIT_WIDTHS = (1, 2, 4, 8, 16, 64)

# -- networks and templates -----------------------------------------------------------
def _gauss_int(gen: torch.Generator, shape) -> torch.Tensor:
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    return torch.round(g * GAUSS_SCALE)


def templates(law: str, seed: int) -> np.ndarray:
    """The template matrix ``F`` (``M x M`` Python integers, invertible) of ``law``."""
    if law not in LAWS:
        raise InvalidValueError(f"law must be one of {LAWS}, got {law!r}")
    if law.endswith("/I"):
        return np.eye(M, dtype=np.int64).astype(object)
    import flint

    gen = torch.Generator().manual_seed(10_007 * integer(seed, "seed", 0) + 1)
    while True:
        if law.startswith("int"):
            f = torch.randint(-100, 101, (M, M), generator=gen, dtype=torch.int64)
        else:
            f = _gauss_int(gen, (M, M)).to(torch.int64)
        f = f.numpy().astype(object)
        if flint.fmpz_mat(f.tolist()).rank() == M:  # exactly invertible
            return f


def deep_network(law: str, pooling: str, n: int, shared: bool, seed: int) -> HTNet:
    """The seeded deep network of ``law`` (integer-valued float64 weights)."""
    net = HTNet(n, M, R, dtype=torch.float64, pooling=pooling, shared=shared)
    if law.startswith("int"):
        return integer_weights_(net, -100, 100, seed=seed)
    gen = torch.Generator().manual_seed(integer(seed, "seed", 0))
    with torch.no_grad():
        for w in net.weights:
            w.copy_(_gauss_int(gen, w.shape))
    return net


# -- exact grid tensor and rank -------------------------------------------------------
def _as_int(w: torch.Tensor, what: str) -> np.ndarray:
    """Integer-valued weights as an object array of Python ints (same shape)."""
    w = w.detach().cpu()
    if not bool((w == torch.round(w)).all()):
        raise InvalidValueError(
            f"exact_grid_tensor needs integer-valued weights, {what} is not: round them "
            "(e.g. convac.integer_weights_) or use convac.tensors.grid.grid_tensor")
    return np.vectorize(int, otypes=[object])(w.numpy())


def _pool_exact(pooling: PoolingOperator, kids: list) -> np.ndarray:
    """The node's pooling of every combination of its children's rows, in Python
    integers: ``kids[k]`` ``(P_k, r)`` -> ``(prod P_k, r)``, first child slowest.

    The operator's own ``activation`` and ``combine`` (one definition for the float
    forward and this exact path), on the children broadcast against each other."""
    k, r = len(kids), kids[0].shape[1]
    shapes = [(1,) * i + (kid.shape[0],) + (1,) * (k - 1 - i) + (r,)
              for i, kid in enumerate(kids)]
    full = tuple(kid.shape[0] for kid in kids) + (r,)
    try:
        pooled = pooling.pool_children([kid.reshape(shape)
                                        for kid, shape in zip(kids, shapes, strict=True)])
        pooled = np.broadcast_to(np.asarray(pooled, dtype=object), full).reshape(-1, r)
    except Exception as err:  # the user's functions, any failure
        raise InvalidValueError(
            f"pooling operator {pooling.name!r} failed on numpy object arrays of Python "
            f"integers ({err}); exact_grid_tensor needs combine and activation functions "
            "that take numpy arrays (e.g. written with +, * or numpy ufuncs), or use "
            "convac.tensors.grid.grid_tensor") from err
    if not all(isinstance(v, (int, np.integer)) for v in pooled.flat):
        bad = next(v for v in pooled.flat if not isinstance(v, (int, np.integer)))
        raise InvalidValueError(
            f"pooling operator {pooling.name!r} maps integers to {bad!r} "
            f"({type(bad).__name__}), not an integer: exact_grid_tensor needs a pooling "
            "exact on integers (use convac.tensors.grid.grid_tensor for this operator)")
    return pooled


def exact_grid_tensor(net: ConvAC, features) -> np.ndarray:
    """The grid tensor ``G[t_1..t_N] = h_0(F[t_1], .., F[t_N])`` in Python integers.

    The same fold over the pooling tree as every other computation
    (:func:`convac.nets.tree.fold`) and the same pooling operator as the forward pass
    (its ``activation`` and ``combine``, :mod:`convac.nets.pooling`), in exact integer
    arithmetic: a node holds its conv outputs at every combination of its leaves'
    templates.

    Parameters
    ----------
    net : ConvAC with integer-valued weights; any pooling operator whose functions take
        numpy object arrays and map integers to integers (the registered ones do), any
        schedule or tree, any patch order
    features : array of int, shape ``(T, M)``, the template matrix ``F``

    Returns
    -------
    ndarray of object (Python int), shape ``(T,) * N``
        Mode ``i`` is patch ``i``, as :func:`convac.tensors.grid.grid_tensor`.

    Raises
    ------
    convac.validate.InvalidValueError
        Weights not integer-valued, or an operator that fails on object arrays or maps
        integers to non-integers.
    """
    f = np.asarray(features, dtype=object)
    weights = [_as_int(w, f"node weight {k}") for k, w in enumerate(net.node_weights())]

    def node(tn, kids: list) -> np.ndarray:  # (T^leaves, rank_out), first leaf slowest
        return _pool_exact(net.pooling, kids).dot(weights[tn.key].T)

    root = fold(net.schedule, lambda tn: f.dot(weights[tn.key].T), node)  # (T^N, Y)
    t = f.shape[0]
    tree = root[:, 0].reshape((t,) * net.schedule.n_patches)  # modes in tree order
    return np.transpose(tree, np.argsort(net.order.cpu().numpy()))  # mode i: patch i


def odd_even_rank(grid: np.ndarray) -> int:
    """Exact rank over Q of the odd-even matricization (rows: modes 0, 2, 4, ..)."""
    import flint

    n = grid.ndim
    perm = list(range(0, n, 2)) + list(range(1, n, 2))
    t = grid.shape[0]
    mat = np.transpose(grid, perm).reshape(t ** ((n + 1) // 2), -1)
    return int(flint.fmpz_mat(mat.tolist()).rank())


# -- universality ---------------------------------------------------------------------
def _classes(n: int, m: int, operator: str, shared: bool) -> np.ndarray | None:
    """Per grid point, the class of points on which every shallow network of
    ``operator`` agrees (``None``: no such constraint, the class of each point is its own)."""
    grid = np.array(list(itertools.product(range(m), repeat=n)))  # (m^n, n)
    if not shared:
        return None
    if operator == "relu-max":  # max over patches: only the set of templates present
        key = (grid[:, :, None] == np.arange(m)).any(1)
    else:  # a symmetric function: the count of each template
        key = (grid[:, :, None] == np.arange(m)).sum(1)
    return np.unique(key, axis=0, return_inverse=True)[1].reshape(-1)


def reachable_basis(n: int, m: int, shared: bool, operator: str = "relu-sum") -> np.ndarray:
    """Columns spanning the grid tensors of shallow networks of ``operator``, ``(m^n, k)``.

    ReLU+sum: the additive tensors, spanned by the indicators ``[t_i = c]`` (unshared,
    ``k = n (m - 1) + 1``) or by the counts ``#{i : t_i = c}`` (shared, ``k = m``).
    Product and ReLU+max, unshared: every tensor (universal, ``k = m^n``).  Shared weights
    make every shallow network symmetric in its patches: product reaches every function
    of the counts (``k = C(n + m - 1, m - 1)``), ReLU+max every function of the set of
    templates present (``k = 2^m - 1`` for ``n >= m``).
    """
    grid = np.array(list(itertools.product(range(m), repeat=n)))  # (m^n, n)
    if operator in ("relu-sum", "relu-avg"):
        if shared:
            return np.stack([(grid == c).sum(1) for c in range(m)], 1).astype(float)
        cols = [(grid[:, i] == c).astype(float) for i in range(n) for c in range(m)]
        return np.stack(cols, 1)
    classes = _classes(n, m, operator, shared)
    if classes is None:
        return np.eye(m ** n)
    return (classes[:, None] == np.arange(classes.max() + 1)).astype(float)


def reachable_floor(target, shared: bool, operator: str = "relu-sum") -> float:
    """Relative distance from ``target`` ``(M,) * N`` to the reachable space."""
    g = np.asarray(target, dtype=float)
    basis = reachable_basis(g.ndim, g.shape[0], shared, operator)
    y = g.reshape(-1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.linalg.norm(basis @ coef - y) / np.linalg.norm(y))


def _fit(config: dict) -> dict:
    gen = torch.Generator().manual_seed(config["seed"])
    target = torch.randn((M,) * config["N"], generator=gen, dtype=torch.float64)
    errors = []
    for width in config["widths"]:
        errors.append(fit_shallow(target, width, config["operator"], shared=config["shared"],
                                  steps=config["steps"], n_restarts=2,
                                  seed=config["seed"]).rel_error)
    op, sh = config["operator"], config["shared"]
    return {"errors": errors, "floor": reachable_floor(target.numpy(), sh, op),
            "analytic_floor": analytic_floor(config["N"], M, sh, op)}


def _rank(config: dict) -> dict:
    net = deep_network(config["law"], config["operator"], config["N"], config["shared"],
                       config["seed"])
    grid = exact_grid_tensor(net, templates(config["law"], config["seed"]))
    flat = grid.reshape(-1)
    return {"rank": odd_even_rank(grid), "max": M ** (config["N"] // 2),
            "constant": bool(all(v == flat[0] for v in flat))}


def compute(config: dict) -> dict:
    """One deep network's exact rank, or one target's shallow fit curve."""
    return _rank(config) if config["what"] == "rank" else _fit(config)


# -- grid -----------------------------------------------------------------------------
def experiment(rank_seeds=None, fit_seeds: int = 8, fit_widths=FIT_WIDTHS,
               fit_steps: int = 1000, laws=LAWS, operators=OPERATORS) -> Experiment:
    """Ranks: laws x operators x shared/unshared x N x seeds; fits: operators x
    shared/unshared x target seeds."""
    rank_seeds = {int(k): int(v) for k, v in (rank_seeds or RANK_SEEDS).items()}
    grid = [{"what": "rank", "law": law, "operator": op, "shared": sh, "N": n, "seed": s}
            for n, count in sorted(rank_seeds.items()) for law in laws for op in operators
            for sh in (False, True) for s in range(count)]
    # seed-major, so that a partial run holds every operator and sharing
    grid += [{"what": "fit", "operator": op, "shared": sh, "N": 4, "seed": s,
              "widths": list(fit_widths), "steps": fit_steps}
             for s in range(fit_seeds) for op in operators for sh in (False, True)]

    def key(c: dict) -> str:
        if c["what"] == "rank":
            return f"rank|{c['law']}|{c['operator']}|sh{int(c['shared'])}|N{c['N']}|s{c['seed']}"
        return (f"fit|{c['operator']}|sh{int(c['shared'])}|N{c['N']}|s{c['seed']}"
                f"|w{'.'.join(map(str, c['widths']))}|t{c['steps']}")

    return Experiment("rectifier-distributions", len(grid), lambda i: dict(grid[i]), key,
                      compute, batch_size=10,
                      options={"rank_seeds": {str(k): v for k, v in rank_seeds.items()},
                               "fit_seeds": fit_seeds, "fit_widths": list(fit_widths),
                               "fit_steps": fit_steps, "laws": list(laws),
                               "operators": list(operators)})


def quick_records() -> list:
    """The quick size (tests, asv): N = 4 and 8, 10 seeds, one fit seed, few widths."""
    return evaluate(experiment(rank_seeds={4: 10, 8: 10}, fit_seeds=1, fit_widths=(1, 8),
                               fit_steps=300))
