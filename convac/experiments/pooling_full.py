"""Cohen & Shashua (ICLR 2017), Sec. 7, at the paper's own scale: square vs mirror pooling
on the ``32 x 32`` blob images (:mod:`.blobs`), closedness and symmetry tasks.

Networks (after the authors' Caffe prototxts, ``exp/blob/{cac,crn}/net.prototmp`` of
HUJI-Deep/inductive-pooling): the pixel ``b`` is represented by ``(1 - b, b)`` (``M = 2``),
then five levels of (1x1 convolution of ``r`` channels, shared over the image; 2x2
pooling), then a 1x1 convolution to the two class scores; ``N = 1024`` pixels.

* ``cac``: the convolutional arithmetic circuit in log space (the authors' MEX layers):
  each convolution is ``log sum_i exp(x_i + b_ji)`` (positive weights ``exp(b)``,
  ``b ~ U(-1, 1)``), each pooling a sum of logs (a product); Adam (lr 0.003, betas 0.9 /
  0.9, eps 1e-16), no weight decay.
* ``relu-avg`` / ``relu-max``: convolution with bias, ReLU, average / max pooling; Xavier
  weights, zero biases, Adam (lr 0.001, betas 0.9 / 0.999, eps 1e-16), weight decay
  1e-4 on the weights, biases at twice the learning rate without decay.

All: batch 64, 15,000 iterations, learning rate divided by 10 after 80% of them.
Shallow baselines: one 1x1 convolution of ``K`` channels and one global pooling.

Geometries, as the order of the pixels in the pooling tree (windows of 4 consecutive
tree positions at every level, :func:`tree_order`):

* ``square``: 2x2 contiguous windows at every level (quad-tree order);
* ``mirror``: the authors' ``QUAD2`` permutation before every pooling: a window joins
  position ``(a, b)`` of the current map with ``(a, s-1-b)``, ``(s-1-a, b)`` and
  ``(s-1-a, s-1-b)``, at every level.

Each training is one configuration of the experiment ``pooling-geometry-full`` (one task
on dask.distributed, resumable, on the GPU where one is visible).  Beside the
accuracies, the ranks each geometry supports on five partitions: the min-cut bound (a
proven upper bound on the rank of the arithmetic circuit's coefficient tensor) at
``32 x 32`` for each width, and exact ranks (GF(p), a certified lower bound) with the
min-cut at ``4 x 4``.
"""

from __future__ import annotations

import functools
import itertools
import time

import numpy as np
import torch
from tqdm import tqdm

from ..nets.network import ConvAC
from ..rank.cuts import min_cut_bound
from ..rank.exact import integer_weights_
from ..rank.methods import matricization_rank
from ..validate import InvalidValueError, integer
from .blobs import BLOB, load_blobs, task_split
from .pooling_full_summary import (
    DEEP_WIDTHS,
    GEOMETRIES,
    KINDS,
    LEVELS,
    PAPER,
    SHALLOW_WIDTHS,
    SIDE,
    cells,
    default_grid_size,
    partitions,
    summarize_records,
    throughput,
)
from .runner import Experiment, evaluate
from .store import code_label, record_code

__all__ = ["experiment", "compute", "tree_order", "BlobNet", "train", "summarize",
           "format_summary", "throughput", "partitions", "partition_ranks", "PAPER",
           "KINDS", "GEOMETRIES", "DEEP_WIDTHS", "SHALLOW_WIDTHS",
           "default_grid_size", "quick_records", "distinct_subtrees",
           "training_label", "TRAINING_CODE"]

BATCH = 64

TRAINING_CODE = "distinct-subtrees"
"""Stored with every training (``result["training"]``; ``result["code"]["training"]`` in
records stored before the store kept each row's code): the forward over each batch's
distinct subtrees.  Trainings stored without it were computed pixel by pixel, before it
(the same function and optimisation, up to float rounding)."""

OPTIMIZERS = {
    "cac": {"lr": 0.003, "betas": (0.9, 0.9), "eps": 1e-16, "weight_decay": 0.0},
    "relu": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-16, "weight_decay": 1e-4},
}
"""Adam settings of the authors' ``train_plan.json`` files."""

# -- geometry ------------------------------------------------------------------------
def _children(geometry: str, a: int, b: int, s: int) -> list:
    """Positions, in the map of side ``2 s`` below, of the window under ``(a, b)``."""
    if geometry == "square":
        return [(2 * a, 2 * b), (2 * a, 2 * b + 1), (2 * a + 1, 2 * b), (2 * a + 1, 2 * b + 1)]
    if geometry == "mirror":  # QUAD2: a position and its reflections about both axes
        t = 2 * s - 1
        return [(a, b), (a, t - b), (t - a, b), (t - a, t - b)]
    raise InvalidValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")


@functools.lru_cache(maxsize=16)
def _tree_order(geometry: str, side: int) -> tuple:
    nodes = [(0, 0)]
    s = 1
    while s < side:
        nodes = [c for a, b in nodes for c in _children(geometry, a, b, s)]
        s *= 2
    return tuple(a * side + b for a, b in nodes)


def tree_order(geometry: str, side: int = SIDE) -> np.ndarray:
    """Raster indices of the pixels in pooling-tree order (windows of 4 consecutive).

    Parameters
    ----------
    geometry : ``"square"`` or ``"mirror"``
    side : int, a power of two >= 2
    """
    side = integer(side, "side", minimum=2)
    if side & (side - 1):
        raise InvalidValueError(f"side must be a power of two, got {side}")
    return np.asarray(_tree_order(geometry, side))


# -- networks ------------------------------------------------------------------------
class BlobNet(torch.nn.Module):
    """A deep (``windows = (4,) * L``) or shallow (``(N,)``) network over binary images
    whose pixels are given in tree order.

    Parameters
    ----------
    kind : ``"cac"``, ``"relu-avg"`` or ``"relu-max"``
    width : int
        Channels of every hidden convolution.
    windows : sequence of int
        Pooling windows (consecutive tree positions), product ``N``.
    seed : int
        Initialisation seed (a private generator).
    """

    def __init__(self, kind: str, width: int, windows, seed: int = 0):
        super().__init__()
        if kind not in KINDS:
            raise InvalidValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.windows = kind, tuple(int(w) for w in windows)
        width = integer(width, "width", minimum=1)
        gen = torch.Generator().manual_seed(int(seed))
        fan_in = [2] + [width] * len(self.windows)
        fan_out = [width] * len(self.windows) + [2]
        self.weight = torch.nn.ParameterList()
        self.bias = torch.nn.ParameterList()
        for fi, fo in zip(fan_in, fan_out, strict=True):
            if kind == "cac":  # log-space weights b ~ U(-1, 1)
                w = torch.rand(fo, fi, generator=gen) * 2 - 1
            else:  # Caffe's Xavier: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))
                w = (torch.rand(fo, fi, generator=gen) * 2 - 1) * (3.0 / fi) ** 0.5
                self.bias.append(torch.nn.Parameter(torch.zeros(fo)))
            self.weight.append(torch.nn.Parameter(w))

    def _conv(self, h: torch.Tensor, level: int, last: bool) -> torch.Tensor:
        w = self.weight[level]
        if self.kind == "cac":  # log sum_i exp(h_i + w_ji), shifted by the max
            m = h.amax(-1, keepdim=True).detach()
            return m + torch.log(torch.exp(h - m) @ torch.exp(w).T)
        out = h @ w.T + self.bias[level]
        return out if last else torch.relu(out)

    def _pool(self, h: torch.Tensor, w: int) -> torch.Tensor:
        b, n, r = h.shape
        h = h.view(b, n // w, w, r)
        if self.kind == "cac":
            return h.sum(2)  # a product, in log space
        return h.mean(2) if self.kind == "relu-avg" else h.amax(2)

    def _global(self, pixels: torch.Tensor) -> torch.Tensor:
        """One global pooling of a one-hot image: a function of its pixel counts."""
        w0 = self.weight[0].T  # (2, r)
        n1 = pixels.sum(1, keepdim=True).to(w0.dtype)  # (B, 1)
        n0 = pixels.shape[1] - n1
        if self.kind == "cac":
            return n0 * w0[0] + n1 * w0[1]  # (B, r): the log of the product
        v0, v1 = torch.relu(w0[0] + self.bias[0]), torch.relu(w0[1] + self.bias[0])
        if self.kind == "relu-avg":
            return (n0 * v0 + n1 * v1) / pixels.shape[1]
        return torch.maximum(torch.where(n0 > 0, v0, 0.0), torch.where(n1 > 0, v1, 0.0))

    def _leaves(self) -> torch.Tensor:
        """``(2, r)``: the level-0 output of a pixel of value 0 and of value 1."""
        h = self.weight[0].T  # (2, r): the conv of a one-hot pixel picks a row
        return h if self.kind == "cac" else torch.relu(h + self.bias[0])

    def forward(self, pixels: torch.Tensor, counts: bool = True,
                distinct: bool = True) -> torch.Tensor:
        """Class scores ``(B, 2)`` (logits) of pixels ``(B, N)`` in ``{0, 1}``, tree order.

        A shallow network (one global pooling) is computed from the pixel counts unless
        ``counts=False``; a deep one over the distinct subtrees of the batch
        (:func:`distinct_subtrees`: each distinct multiset of children is pooled and
        convolved once) unless ``distinct=False``.  ``counts=False, distinct=False`` is the
        pixel-by-pixel forward, the oracle of the tests.
        """
        if pixels.dtype.is_floating_point or pixels.dtype == torch.bool or pixels.ndim != 2:
            raise InvalidValueError(
                f"pixels must be an integer tensor (B, N) of 0s and 1s, got "
                f"{pixels.dtype} of shape {tuple(pixels.shape)}; pass the images flattened "
                "in tree order (tree_order) as int64")
        if counts and len(self.windows) == 1:
            return self._conv(self._global(pixels)[:, None, :], 1, last=True)[:, 0, :]
        if distinct and len(self.windows) > 1:
            return self.forward_subtrees(*distinct_subtrees(pixels, self.windows))
        last = len(self.windows) - 1
        h = self._leaves()[pixels]  # (B, N, r)
        for level, w in enumerate(self.windows):
            h = self._pool(h, w)
            h = self._conv(h, level + 1, last=level == last)
        return h[:, 0, :]

    def forward_subtrees(self, children: list, root: torch.Tensor) -> torch.Tensor:
        """Class scores ``(B, 2)`` of a batch given as its distinct subtrees
        (:func:`distinct_subtrees`): one pooling and convolution per distinct node."""
        last = len(self.windows) - 1
        h = self._leaves()[None]  # (1, 2, r): one row per distinct node
        for level, (w, ch) in enumerate(zip(self.windows, children, strict=True)):
            h = self._pool(h[:, ch.reshape(-1)], w)  # (1, U_l, r)
            h = self._conv(h, level + 1, last=level == last)
        return h[0, root]  # (B, 2)


MULTISET_TABLE = 2 ** 16
"""Largest key space of a level whose windows are looked up among all multisets of
children (:func:`_multisets`) instead of sorted and made unique per batch."""


@functools.lru_cache(maxsize=32)
def _multisets(n_ids: int, w: int) -> tuple:
    """Every multiset of ``w`` children among ``n_ids`` ids, and its index by key.

    Returns ``(rows, powers, lookup)``: ``rows (K, w)`` the sorted multisets, ``powers
    (n_ids,)`` the digit of each id, and ``lookup`` the row of a window's key
    ``sum(powers[children])`` (a window's count of each id, in base ``w + 1``: one key
    per multiset, in any order of the window).
    """
    rows = list(itertools.combinations_with_replacement(range(n_ids), w))
    powers = (w + 1) ** np.arange(n_ids)  # (n_ids,)
    lookup = np.full((w + 1) ** n_ids, -1)
    lookup[powers[np.asarray(rows)].sum(1)] = np.arange(len(rows))
    return torch.as_tensor(rows), torch.as_tensor(powers), torch.as_tensor(lookup)


def distinct_subtrees(pixels: torch.Tensor, windows) -> tuple[list, torch.Tensor]:
    """The distinct nodes of a batch's pooling trees, level by level.

    A node's output is a function of the multiset of its children's outputs (sum, mean
    and max pooling are symmetric in the window), so two nodes whose children are the
    same distinct nodes, in any order, are equal: each level keeps one row per multiset
    of children.  Where all multisets are few (levels 1 and 2 of the deep networks: 5
    and 70) every one is a row; above, those of the batch (on the blob images a batch of
    64 has about 480-560, 160-255 and 64 at levels 3 to 5, against 1,024, 256 and 64
    nodes).

    Parameters
    ----------
    pixels : integer tensor ``(B, N)`` of 0s and 1s (tree order)
    windows : sequence of int, product ``N``

    Returns
    -------
    children : list of int64 tensors ``(U_l, w_l)``
        Per level, the children of each distinct node (sorted): indices into the previous
        level's distinct nodes (level 0: the pixel values 0 and 1).
    root : int64 tensor ``(B,)``
        Each image's root among the last level's distinct nodes.

    Raises
    ------
    InvalidValueError
        If a pixel is not 0 or 1.
    """
    _check_bits(pixels)
    children, ids, _ = _levels(pixels, 2, windows)
    return children, ids[:, 0]


def _check_bits(pixels: torch.Tensor) -> None:
    if pixels.numel():
        low, high = (int(v) for v in torch.aminmax(pixels))
        if low < 0 or high > 1:
            raise InvalidValueError(f"pixels must be 0 or 1, got values in [{low}, {high}]; "
                                    "binarize the images first")


def _levels(ids: torch.Tensor, n_ids: int, windows, static: bool = False) -> tuple:
    """``(children, ids, n_ids)`` after pooling ``ids (B, n)`` (among ``n_ids`` distinct
    nodes) through ``windows``: see :func:`distinct_subtrees`.  With ``static`` only the
    levels whose rows are every multiset (independent of the batch), stopping before the
    first level that depends on it."""
    b, dev, children = ids.shape[0], ids.device, []
    for w in windows:
        windows_l = ids.reshape(-1, w)  # (B * n_l, w)
        if (w + 1) ** n_ids <= MULTISET_TABLE:
            rows, powers, lookup = (t.to(dev) for t in _multisets(n_ids, w))
            if n_ids == 2:  # the same key, sum(powers[c]) with powers = (1, w + 1)
                key = w + w * windows_l.sum(1)  # (B * n_l,)
            else:
                key = powers[windows_l].sum(1)  # (B * n_l,)
            inverse = lookup[key]  # (B * n_l,)
        elif static:
            break
        else:
            rows = windows_l.sort(1).values  # (B * n_l, w): each window's multiset
            if n_ids ** w < 2 ** 62:  # one int64 key per window: its digits in base n_ids
                key = rows[:, 0]
                for j in range(1, w):
                    key = key * n_ids + rows[:, j]
                key, inverse = torch.unique(key, return_inverse=True)  # (U,), (B * n_l,)
                power = n_ids ** torch.arange(w - 1, -1, -1, device=dev)  # (w,)
                rows = key[:, None] // power % n_ids  # (U, w): the digits back
            else:
                rows, inverse = torch.unique(rows, dim=0, return_inverse=True)  # (U, w)
        children.append(rows)
        ids, n_ids = inverse.view(b, -1), len(rows)  # (B, n_l)
    return children, ids, n_ids


def _optimizer(net: BlobNet, steps: int):
    if net.kind == "cac":
        opt = torch.optim.Adam(net.parameters(), **OPTIMIZERS["cac"])
    else:
        o = OPTIMIZERS["relu"]
        opt = torch.optim.Adam(
            [{"params": list(net.weight), "weight_decay": o["weight_decay"]},
             {"params": list(net.bias), "lr": 2 * o["lr"], "weight_decay": 0.0}],
            lr=o["lr"], betas=o["betas"], eps=o["eps"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.8 * steps)], gamma=0.1)
    return opt, sched


def train(net: BlobNet, pixels: torch.Tensor, labels: torch.Tensor, steps: int, seed: int,
          batch: int = BATCH, progress: bool = False) -> float:
    """Adam on the cross-entropy, ``steps`` batches of shuffled epochs; the mean loss of
    the last 100 steps."""
    steps = integer(steps, "steps", minimum=1)
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    opt, sched = _optimizer(net, steps)
    order, pos = torch.randperm(len(labels), generator=gen), 0
    it = range(steps)
    if progress:
        it = tqdm(it, unit="step", desc="train", mininterval=5)
    tail = torch.zeros(min(steps, 100), dtype=torch.float64, device=pixels.device)  # a ring
    deep = len(net.windows) > 1
    if deep:  # the levels that do not depend on the batch, once for every image
        _check_bits(pixels)
        static, ids, n_ids = _levels(pixels, 2, net.windows, static=True)  # ids (n, n_s)
    for step in it:
        if pos + batch > len(order):
            order, pos = torch.randperm(len(labels), generator=gen), 0
        idx = order[pos:pos + batch].to(pixels.device)
        pos += batch
        if deep:
            above, top, _ = _levels(ids.index_select(0, idx), n_ids,
                                    net.windows[len(static):])
            out = net.forward_subtrees(static + above, top[:, 0])
        else:
            out = net(pixels.index_select(0, idx))
        loss = torch.nn.functional.cross_entropy(out, labels.index_select(0, idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        tail[step % len(tail)] = loss.detach()  # no host sync per step
    return float(tail.mean())


def accuracy(net: BlobNet, pixels: torch.Tensor, labels: torch.Tensor,
             chunk: int = 2000) -> float:
    """Share of images whose larger class score is their label."""
    hits = 0
    with torch.no_grad():
        for i in range(0, len(labels), chunk):
            hits += int((net(pixels[i:i + chunk]).argmax(1) == labels[i:i + chunk]).sum())
    return hits / len(labels)


# -- data ----------------------------------------------------------------------------
def _split(data: dict, part: str, task: str, order: np.ndarray, device):
    idx, labels = task_split(data[f"{part}_{task}"])
    flat = data[f"{part}_images"].reshape(len(data[f"{part}_images"]), -1)[idx][:, order]
    # row-major: a batch is whole rows (the fancy indexing above leaves columns contiguous,
    # and gathering 64 rows of that took 1.2 ms of a 4 ms step)
    return (torch.as_tensor(np.ascontiguousarray(flat, dtype=np.int64), device=device),
            torch.as_tensor(labels, device=device))


def _windows(depth: str, n: int) -> tuple:
    return (4,) * LEVELS if depth == "deep" else (n,)


def compute(config: dict) -> dict:
    """Train one network on one task; its train and test accuracy."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_blobs(config["data_seed"], config["n_train"], config["n_test"])
    geometry = config["geometry"] if config["depth"] == "deep" else "square"
    order = tree_order(geometry, SIDE)
    x, y = _split(data, "train", config["task"], order, device)
    xt, yt = _split(data, "test", config["task"], order, device)
    net = BlobNet(config["kind"], config["width"], _windows(config["depth"], SIDE * SIDE),
                  seed=config["seed"]).to(device)
    start, cpu = time.perf_counter(), time.process_time()
    # exp of very negative log-space values gives subnormal floats, which the CPU handles
    # ~20x slower (measured: a shallow width-64 step 45 ms against 2.6 ms): flush them
    torch.set_flush_denormal(True)
    try:
        loss = train(net, x, y, config["steps"], config["seed"])
    finally:
        torch.set_flush_denormal(False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"train_accuracy": accuracy(net, x, y), "test_accuracy": accuracy(net, xt, yt),
            "final_loss": loss, "train_seconds": wall, "train_cpu_seconds": cpu,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "n_train": len(y), "n_test": len(yt),
            "training": TRAINING_CODE}


def experiment(seeds: int = 3, steps: int = 15_000, deep_widths=DEEP_WIDTHS,
               shallow_widths=SHALLOW_WIDTHS, kinds=KINDS, n_train: int = BLOB["n_train"],
               n_test: int = BLOB["n_test"], data_seed: int = 0) -> Experiment:
    """The grid: every cell of seed 0 (in the order of :func:`cells`), then of seed 1,
    then 2."""
    seeds = integer(seeds, "seeds", minimum=1)
    grid = [(s, c) for s in range(seeds)
            for c in cells(tuple(deep_widths), tuple(shallow_widths), tuple(kinds))]

    def config(i: int) -> dict:
        s, (depth, geom, task, kind, width) = grid[i]
        return {"depth": depth, "geometry": geom, "task": task, "kind": kind,
                "width": width, "seed": s, "steps": steps, "n_train": n_train,
                "n_test": n_test, "data_seed": data_seed}

    def key(c: dict) -> str:
        return (f"{c['depth']}|{c['geometry']}|{c['task']}|{c['kind']}|w{c['width']}"
                f"|s{c['seed']}|t{c['steps']}|n{c['n_train']}.{c['n_test']}"
                f"|d{c['data_seed']}")

    return Experiment("pooling-geometry-full", len(grid), config, key, compute,
                      batch_size=1, options={
                          "seeds": seeds, "steps": steps, "deep_widths": list(deep_widths),
                          "shallow_widths": list(shallow_widths), "kinds": list(kinds),
                          "n_train": n_train, "n_test": n_test, "data_seed": data_seed})


# -- ranks ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def partition_ranks(geometry: str, width: int, side: int = SIDE, exact: bool = False) -> dict:
    """``{partition: (exact rank or None, min-cut bound)}`` of the deep arithmetic circuit.

    The min-cut bound depends only on the architecture; the exact rank (``exact=True``,
    sizes up to ``4 x 4``) is of a network with random integer weights over GF(p),
    unshared, a certified lower bound on what the architecture supports.
    """
    n = side * side
    levels = int(round(np.log(n) / np.log(4)))
    net = ConvAC(n, 2, (4,) * levels, [width] * levels, n_outputs=1,
                        shared=not exact, geometry=tree_order(geometry, side).tolist(),
                        seed=0, dtype=torch.float64)
    if exact:
        integer_weights_(net, seed=0)
    out = {}
    for name, rows in partitions(side).items():
        rank = int(matricization_rank(net, rows, method="exact")) if exact else None
        out[name] = (rank, int(min_cut_bound(net, rows)))
    return out


# -- summary -------------------------------------------------------------------------
def training_label(record: dict) -> str:
    """Which code trained a stored record: the training code and
    :func:`~convac.experiments.store.code_label` (convac's version and commit); records
    without a training code are the pixel-by-pixel trainings from before
    :data:`TRAINING_CODE`."""
    result = record["result"]
    training = result.get("training") or (result.get("code") or {}).get("training")
    if not training:
        return "pixel-by-pixel (no code recorded)"
    return f"{training} {code_label(record_code(record))}"


def _code_per_cell(s: dict, records) -> None:
    """Add to summary ``s`` the trainings per code (``code``), and to each cell its
    trainings and mean CPU seconds per code (``by_code``): trainings from before and
    after a speed-up stay apart."""
    by_cell: dict = {}
    for rec in records:
        if rec["status"] == "ok":
            c = rec["config"]
            cell = (c["depth"], c["geometry"], c["task"], c["kind"], c["width"])
            by_cell.setdefault(cell, {}).setdefault(training_label(rec), []).append(
                rec["result"]["train_cpu_seconds"])
    total: dict = {}
    for row in s["cells"]:
        codes = by_cell.get((row["depth"], row["geometry"], row["task"], row["kind"],
                             row["width"]), {})
        row["by_code"] = {k: {"n": len(v), "cpu_seconds": float(np.mean(v))}
                          for k, v in sorted(codes.items())}
        for k, v in codes.items():
            total[k] = total.get(k, 0) + len(v)
    s["code"] = dict(sorted(total.items()))


def summarize(records, ranks: bool = True) -> dict:
    """:func:`~convac.experiments.pooling_full_summary.summarize_records`, with the
    trainings per code (:func:`training_label`: ``code`` overall, ``by_code`` per cell) and
    with ``ranks`` the ranks per geometry and width (computed: min-cuts at 32x32 and
    exact ranks at 4x4)."""
    s = summarize_records(records)
    _code_per_cell(s, records)
    if ranks:
        widths = (sorted({r["width"] for r in s["cells"] if r["depth"] == "deep"})
                  or list(DEEP_WIDTHS))
        s["min_cut_32x32"] = {g: {str(w): {k: v[1] for k, v in partition_ranks(g, w).items()}
                                  for w in widths} for g in GEOMETRIES}
        s["exact_4x4_width8"] = {g: {k: {"exact": v[0], "min_cut": v[1]}
                                     for k, v in partition_ranks(g, 8, side=4,
                                                                 exact=True).items()}
                                 for g in GEOMETRIES}
    return s


def format_summary(records, grid_size: int | None = None) -> str:
    """The table of cells (test accuracy mean [min, max], train accuracy), the ranks,
    and the paper's statement."""
    s = summarize(records)
    done = s["n_trainings_done"]
    total = grid_size if grid_size is not None else default_grid_size()
    lines = [f"{done} of {total} trainings done ({len(s['errors'])} failed)",
             f"{'depth':>7s} {'geometry':>8s} {'task':>10s} {'kind':>8s} {'width':>5s} "
             f"{'seeds':>5s} {'test':>6s} {'[min,  max]':>13s} {'train':>6s} {'s/run':>7s}"]
    for r in s["cells"]:
        lines.append(f"{r['depth']:>7s} {r['geometry']:>8s} {r['task']:>10s} {r['kind']:>8s} "
                     f"{r['width']:5d} {r['seeds']:5d} {r['test']:6.3f} "
                     f"[{r['test_min']:.3f}, {r['test_max']:.3f}] {r['train']:6.3f} "
                     f"{r['seconds']:7.0f}")
    for g, by_w in s["min_cut_32x32"].items():
        for w, ranks in by_w.items():
            lines.append(f"min-cut 32x32 {g} w{w}: " + ", ".join(
                f"{k} {v:.3g}" if v > 1e6 else f"{k} {v}" for k, v in ranks.items()))
    for g, ranks in s["exact_4x4_width8"].items():
        lines.append(f"exact (min-cut) 4x4 {g} w8: " + ", ".join(
            f"{k} {v['exact']} ({v['min_cut']})" for k, v in ranks.items()))
    lines.append(f"paper: {PAPER['statement']} ({PAPER['source']})")
    return "\n".join(lines)


def quick_records(steps: int = 60, n_train: int = 400, n_test: int = 200) -> list:
    """The quick size (tests, asv): one seed, widths 4 and 8, few steps, in-process."""
    return evaluate(experiment(seeds=1, steps=steps, deep_widths=(4,), shallow_widths=(8,),
                               n_train=n_train, n_test=n_test))
