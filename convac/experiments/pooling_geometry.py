"""Cohen & Shashua (ICLR 2017), "Inductive Bias of Deep Convolutional Networks through
Pooling Geometry": contiguous (square) pooling suits a closedness task, mirror pooling a
symmetry task, because each geometry supports high separation rank on different
partitions of the image.

A small stand-in at ``8 x 8`` with tasks of its own (the paper's experiment at its own
scale, with the authors' blob generator, is :mod:`.pooling_full`).  Tasks:
binary ``8 x 8`` images, one pixel per patch, one-hot representation (``M = 2``):

* ``symmetry``: positive = an image symmetric about its vertical axis (random pixels on
  the left half, mirrored); negative = the same with 1-3 pixels of one half flipped.
* ``closedness``: positive = the outline of a random axis-aligned rectangle (a closed
  curve) plus one isolated random pixel; negative = the same outline with a one-pixel gap
  (an open curve) plus two isolated pixels (so both classes have equally many pixels).

Networks: a deep ConvAC with windows ``(4, 4, 4)`` over the 64 pixels, widths ``r``, one
output, two outputs, trained by :func:`train_classifier` (Adam on the cross-entropy of
``log h_y``, positive weights); accuracy on a separate seeded test set.  Geometries, as patch
permutations (:class:`convac.ConvAC` ``geometry=``):

* ``square``: quad-tree order (:func:`convac.quadtree_order`): 2x2 windows, contiguous;
* ``mirror``: every level-1 window joins a pixel of the top-left quadrant with its three
  reflections about the two axes; the quadrant's pixels are then pooled 2x2 (the paper's
  mirror pooling, in which a region is pooled with its mirror images).

Beside accuracy, what each geometry supports on the partitions ``left|right`` (what
symmetry needs: its indicator has rank ``2^32`` there), ``top|bottom``, ``interleaved``
(odd vs even columns) and ``mirrored-checkerboard`` (a checkerboard in the distances to
the edges: fine-grained and local like the correlations a closed curve needs, but a union
of mirror windows, so mirror pooling cannot separate it): the
min-cut bound (a proven upper bound) of the trained ``8 x 8`` architecture, and the exact
rank (integer weights, GF(2^31 - 1), a certified lower bound) with the min-cut of the same
geometry on ``4 x 4`` images, where exact ranks fit in memory.
"""

from __future__ import annotations

import numpy as np
import torch

from ..nets.geometry import ht_windows, quadtree_order
from ..nets.network import ConvAC
from ..rank.bounds import min_cut_bound
from ..rank.exact import integer_weights_
from ..rank.methods import matricization_rank
from ..validate import InvalidValueError, integer
from .pooling_geometry_summary import (
    GEOMETRIES,
    PAPER,
    SIDE,
    TASKS,
    format_summary,
    named_partitions,
    summarize,
)
from .runner import Experiment, evaluate

__all__ = ["experiment", "compute", "make_task", "geometry_order", "partition_ranks",
           "summarize", "format_summary", "PAPER", "SIDE", "quick_table"]


def geometry_order(name: str, side: int = SIDE) -> np.ndarray:
    """Patch permutation (raster indices, tree order) of geometry ``square`` or ``mirror``."""

    side = integer(side, "side", minimum=2)
    if name == "square":
        return np.asarray(quadtree_order(side, side))
    if name == "mirror":
        half = side // 2
        quadrant = np.asarray(quadtree_order(half, half))  # raster in the quadrant
        order = []
        for q in quadrant:
            i, j = divmod(int(q), half)
            for a, b in ((i, j), (i, side - 1 - j), (side - 1 - i, j),
                         (side - 1 - i, side - 1 - j)):
                order.append(a * side + b)
        return np.asarray(order)

    raise InvalidValueError(f"geometry must be one of {GEOMETRIES}, got {name!r}")


def _symmetry(rng, n: int, side: int):
    x = np.zeros((n, side, side), dtype=np.int64)
    half = rng.integers(0, 2, size=(n, side, side // 2))
    x[:, :, : side // 2] = half
    x[:, :, side // 2:] = half[:, :, ::-1]
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    for s in np.flatnonzero(y < 0):
        k = rng.integers(1, 4)
        cells = rng.choice(side * (side // 2), size=k, replace=False)
        left = rng.integers(0, 2)  # which half gets the flips
        for c in cells:
            i, j = divmod(int(c), side // 2)
            j = j if left else side - 1 - j
            x[s, i, j] ^= 1
    return x, y


def _rectangle(rng, side: int):
    while True:
        r1, r2 = sorted(rng.choice(side, size=2, replace=False))
        c1, c2 = sorted(rng.choice(side, size=2, replace=False))
        if r2 - r1 >= 2 and c2 - c1 >= 2:
            break
    img = np.zeros((side, side), dtype=np.int64)
    img[r1, c1:c2 + 1] = img[r2, c1:c2 + 1] = 1
    img[r1:r2 + 1, c1] = img[r1:r2 + 1, c2] = 1
    return img, (r1, r2, c1, c2)


def _isolated(rng, img, k: int) -> None:
    """Turn on ``k`` pixels with no lit 8-neighbour."""
    side = img.shape[0]
    for _ in range(k):
        for _ in range(200):
            i, j = rng.integers(0, side, size=2)
            if not img[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].any():
                img[i, j] = 1
                break


def _closedness(rng, n: int, side: int):
    x = np.zeros((n, side, side), dtype=np.int64)
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    for s in range(n):
        img, (r1, r2, c1, c2) = _rectangle(rng, side)
        if y[s] > 0:
            _isolated(rng, img, 1)
        else:
            edge = [(r1, c) for c in range(c1 + 1, c2)] + [(r2, c) for c in range(c1 + 1, c2)]
            edge += [(r, c1) for r in range(r1 + 1, r2)] + [(r, c2) for r in range(r1 + 1, r2)]
            i, j = edge[rng.integers(len(edge))]
            img[i, j] = 0  # a gap: the curve is open
            _isolated(rng, img, 2)
        x[s] = img
    return x, y


def make_task(task: str, n: int, seed: int, side: int = SIDE):
    """``(images (n, side, side) int, labels (n,) +-1)``, balanced, seeded."""
    rng = np.random.default_rng(integer(seed, "seed"))
    fn = {"symmetry": _symmetry, "closedness": _closedness}.get(task)
    if fn is None:

        raise InvalidValueError(f"task must be one of {TASKS}, got {task!r}")
    return fn(rng, integer(n, "n", minimum=2), side)


def _one_hot(images):
    flat = torch.as_tensor(images.reshape(images.shape[0], -1))  # (S, N)
    return torch.nn.functional.one_hot(flat, 2).to(torch.float64)  # (S, N, 2)


def _net(geometry: str, ranks, seed: int, side: int = SIDE, n_outputs: int = 1):

    order = geometry_order(geometry, side)
    n = side * side
    return ConvAC(n, 2, ht_windows(n, 4), list(ranks), n_outputs=n_outputs,
                         geometry=order.tolist(), seed=seed, dtype=torch.float64)


def train_classifier(net, features, labels, steps: int, lr: float, seed: int,
                     batch_size: int = 128):
    """Adam on the cross-entropy of the log-space outputs ``log h_y`` (two classes).

    Weights start uniform in ``[0.5, 1.5]`` and are kept positive (projected after each
    step), so ``h_y > 0`` and ``log h_y`` is a logit, computed by
    :meth:`convac.ConvAC.forward_log` without over- or underflow over 64 patches (the
    log-space training of ConvAC classifiers; :func:`convac.train_student`, a regression
    towards ``+-1``, stays at ``h = 0`` on these tasks: measured, relative error 1.0).

    Parameters
    ----------
    net : ConvAC with ``n_outputs = 2`` (trained in place)
    features : Tensor ``(S, N, M)``; labels : Tensor ``(S,)`` of 0/1
    """
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for w in net.weights:
            w.copy_(torch.rand(w.shape, generator=gen, dtype=w.dtype) + 0.5)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.randint(0, features.shape[0], (batch_size,), generator=gen)  # (B,)
        log_h, _ = net.forward_log(features[idx])  # (B, 2)
        loss = torch.nn.functional.cross_entropy(log_h, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for w in net.weights:
                w.clamp_(min=1e-8)
    return float(loss.detach())


def accuracy(net, features, labels) -> float:
    """Share of samples whose larger output is the label."""
    with torch.no_grad():
        log_h, _ = net.forward_log(features)  # (S, 2)
        return float((log_h.argmax(1) == labels).double().mean())


EXACT_SIDE = 4
"""Side of the images whose exact ranks are computed (``4 x 4``: cores of side ``<= 2^8``);
larger images get the min-cut bound only (their exact cores would not fit in memory)."""


def partition_ranks(geometry: str, ranks, seed: int = 0, side: int = SIDE) -> dict:
    """``{partition: (exact rank or None, min-cut bound)}`` of a random integer network.

    The exact rank (GF(2^31 - 1), a certified lower bound) is computed for
    ``side <= EXACT_SIDE``; the min-cut bound (a proven upper bound) always.
    """


    net = integer_weights_(_net(geometry, ranks, seed, side), seed=seed)
    out = {}
    for name, rows in named_partitions(side).items():
        exact = None
        if side <= EXACT_SIDE:
            exact = int(matricization_rank(net, rows, method="exact"))
        out[name] = (exact, int(min_cut_bound(net, rows)))
    return out


def compute(config: dict) -> dict:
    """Train one network on one task; held-out accuracy and the geometry's ranks."""
    side, seed = config["side"], config["seed"]
    x, y = make_task(config["task"], config["n_train"], seed, side)
    xt, yt = make_task(config["task"], config["n_test"], seed + 10_000, side)
    labels, test_labels = torch.as_tensor(y > 0).long(), torch.as_tensor(yt > 0).long()
    net = _net(config["geometry"], config["ranks"], seed, side, n_outputs=2)
    loss = train_classifier(net, _one_hot(x), labels, config["steps"], config["lr"], seed)
    bounds = partition_ranks(config["geometry"], config["ranks"], seed, side)
    small = partition_ranks(config["geometry"], config["ranks"][:2], seed, EXACT_SIDE)
    return {"accuracy": accuracy(net, _one_hot(xt), test_labels),
            "train_accuracy": accuracy(net, _one_hot(x), labels), "final_loss": loss,
            "bounds": {k: v[1] for k, v in bounds.items()},
            "exact_4x4": {k: v[0] for k, v in small.items()},
            "bound_4x4": {k: v[1] for k, v in small.items()}}


def experiment(seeds: int = 3, ranks=(4, 4, 4), n_train: int = 2000, n_test: int = 1000,
               steps: int = 800, lr: float = 0.03, side: int = SIDE) -> Experiment:
    """Tasks x geometries x ``seeds`` trained networks."""
    seeds = integer(seeds, "seeds", minimum=1)
    grid = [(t, g, s) for t in TASKS for g in GEOMETRIES for s in range(seeds)]

    def config(i: int) -> dict:
        t, g, s = grid[i]
        return {"task": t, "geometry": g, "seed": s, "ranks": list(ranks), "side": side,
                "n_train": n_train, "n_test": n_test, "steps": steps, "lr": lr}

    def key(c: dict) -> str:
        return (f"{c['task']}|{c['geometry']}|s{c['seed']}|r{'.'.join(map(str, c['ranks']))}"
                f"|n{c['n_train']}|t{c['steps']}|lr{c['lr']}")

    return Experiment("pooling-geometry", len(grid), config, key, compute, batch_size=1,
                      options={"ranks": list(ranks), "n_train": n_train, "steps": steps})


def quick_table(seed: int = 0) -> list:
    """The quick size (tests, asv): one seed, small training, in-process."""

    return summarize(evaluate(experiment(seeds=1, n_train=600, n_test=400, steps=200)))
