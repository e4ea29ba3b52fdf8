"""The blob images of Cohen & Shashua (ICLR 2017, Sec. 7) and their two scores.

Each ``32 x 32`` binary image shows one blob: an ellipse of random height, warped column
by column by a random sine, rotated by a random angle, scaled into a random aligned tile
of side 16 or 32, with pixels of the tile dropped at random (half of the images with a
left-right symmetric drop mask), then thresholded.  Two scores per image:

* closedness ``|I| / |binary_closing(I)|`` (the image padded by one pixel, so the
  closing does not touch the border): 1 for a morphologically closed blob;
* symmetry ``|R and fliplr(R)| / |R|`` with ``R`` the blob's tile: 1 for a tile
  symmetric about its vertical axis.

The two classes of a task are the images with the lowest and the highest 40% of its
score.  The parameters and the order of the operations follow the authors' generator
(``exp/blob/generate_blob.py`` of HUJI-Deep/inductive-pooling); the random stream is
numpy's ``default_rng(seed)`` instead of the legacy global ``np.random.seed(0)``, so the
images are the same law, not the same pixels.

A generated data set is cached as one ``.npz`` file under :func:`cache_dir`, named by a
hash of the generator's parameters and seed, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from ..validate import InvalidValueError, integer

__all__ = ["BLOB", "closedness", "symmetry", "render_blob", "generate", "task_split",
           "load_blobs", "cache_dir", "TASKS"]

BLOB = {
    "side_log2": 5,            # 32 x 32 images
    "ellipse_min_height_log2": 3.5,
    "warp_max_freq": 3 * (2 * np.pi / 32),
    "warp_max_amp": 4,
    "region_min_log2": 4,      # tiles of side 16 or 32
    "drop_min": 0.1,
    "drop_max": 0.33,
    "threshold": 0.1,
    "proportion": 0.4,         # top / bottom share of each class
    "n_train": 25_000,
    "n_test": 5_000,
}
"""The generator's parameters (the authors' values)."""

TASKS = ("closedness", "symmetry")


def closedness(image) -> float:
    """``|I| / |binary_closing(I)|`` of a binary image, padded by one pixel first.

    Parameters
    ----------
    image : array of bool, shape ``(h, w)``, not empty
    """
    img = _binary(image)
    closed = ndimage.binary_closing(np.pad(img, 1, constant_values=False))[1:-1, 1:-1]
    return float(img.sum() / closed.sum())


def symmetry(region) -> float:
    """``|R and fliplr(R)| / |R|``: share of lit pixels whose mirror image is lit.

    Parameters
    ----------
    region : array of bool, shape ``(h, w)``, not empty (the blob's tile)
    """
    reg = _binary(region)
    return float(np.logical_and(reg, reg[:, ::-1]).sum() / reg.sum())


def _binary(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InvalidValueError(f"expected a 2-d image, got shape {arr.shape}")
    arr = arr.astype(bool)
    if not arr.any():
        raise InvalidValueError("the image has no lit pixel; a score needs at least one")
    return arr


def render_blob(rng: np.random.Generator, p: dict = BLOB):
    """One blob ``(image (32, 32) bool, tile (row, col, side))``, or ``None`` if empty."""
    side = 2 ** p["side_log2"]
    x, y = np.meshgrid(np.arange(side), np.arange(side))
    a = side / 2
    b = int(2 ** rng.uniform(p["ellipse_min_height_log2"], p["side_log2"]) / 2)
    img = (((x - (side / 2 - 0.5)) / a) ** 2 + ((y - (side / 2 - 0.5)) / b) ** 2 < 1)
    img = img.astype(float)
    warp = rng.uniform(0, p["warp_max_amp"]) * np.sin(
        rng.uniform(0, p["warp_max_freq"]) * np.arange(side))
    for i in range(side):
        img[:, i] = np.roll(img[:, i], int(warp[i]))
    img = ndimage.rotate(img, rng.uniform(0, 180.0), reshape=False)
    reg_log2 = int(rng.integers(p["region_min_log2"], p["side_log2"] + 1))
    reg = 2 ** reg_log2
    r0 = reg * int(rng.integers(0, 2 ** (p["side_log2"] - reg_log2)))
    c0 = reg * int(rng.integers(0, 2 ** (p["side_log2"] - reg_log2)))
    small = ndimage.zoom(img, 2.0 ** (reg_log2 - p["side_log2"]))
    img[:] = 0.0
    img[r0:r0 + reg, c0:c0 + reg] = small
    drop_p = rng.uniform(p["drop_min"], p["drop_max"])
    if rng.binomial(1, 0.5):  # a left-right symmetric drop mask
        half = rng.binomial(1, drop_p, size=(reg, reg // 2))
        mask = np.concatenate([half, half[:, ::-1]], axis=1)
    else:
        mask = rng.binomial(1, drop_p, size=(reg, reg))
    img[r0:r0 + reg, c0:c0 + reg] *= 1 - mask
    out = img > p["threshold"]
    if not out.any():
        return None
    return out, (r0, c0, reg)


def generate(n: int, seed: int, p: dict = BLOB, progress: bool = False):
    """``(images (n, 32, 32) uint8, closedness (n,), symmetry (n,))``, seeded."""
    n = integer(n, "n", minimum=1)
    rng = np.random.default_rng(integer(seed, "seed", minimum=0))
    side = 2 ** p["side_log2"]
    images = np.zeros((n, side, side), dtype=np.uint8)
    scores = np.zeros((2, n))
    bar = None
    if progress:
        bar = tqdm(total=n, unit="img", desc="blobs")
    i = 0
    while i < n:
        blob = render_blob(rng, p)
        if blob is None:  # an empty image is drawn again, as in the authors' generator
            continue
        img, (r0, c0, reg) = blob
        images[i] = img
        scores[0, i] = closedness(img)
        scores[1, i] = symmetry(img[r0:r0 + reg, c0:c0 + reg])
        i += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return images, scores[0], scores[1]


def task_split(scores, proportion: float = BLOB["proportion"]):
    """``(indices, labels)``: the lowest ``proportion`` of ``scores`` (label 0) then the
    highest (label 1); ties keep the generation order (a stable sort)."""
    scores = np.asarray(scores, dtype=float)
    k = int(len(scores) * proportion)
    if k < 1:
        raise InvalidValueError(f"proportion {proportion} of {len(scores)} images selects none")
    order = np.argsort(scores, kind="stable")
    idx = np.concatenate([order[:k], order[len(order) - k:]])
    return idx, np.repeat(np.array([0, 1], dtype=np.int64), k)


def cache_dir() -> str:
    """``$CONVAC_CACHE`` or ``~/.cache/convac``, then ``blobs``."""
    root = os.environ.get("CONVAC_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "convac")
    return os.path.join(root, "blobs")


def _cache_path(n_train: int, n_test: int, seed: int, p: dict, root: str) -> str:
    spec = json.dumps({"params": {k: float(v) for k, v in p.items()}, "n_train": n_train,
                       "n_test": n_test, "seed": seed, "version": 1}, sort_keys=True)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
    return os.path.join(root, f"blobs-{n_train}-{n_test}-s{seed}-{digest}.npz")


def load_blobs(seed: int = 0, n_train: int = BLOB["n_train"], n_test: int = BLOB["n_test"],
               p: dict = BLOB, root: str | None = None, progress: bool = False) -> dict:
    """The train and test sets (generated once, then read from the cache).

    Returns
    -------
    dict with ``train_images``, ``test_images`` (uint8 ``(n, 32, 32)``) and
    ``train_closedness``, ``train_symmetry``, ``test_closedness``, ``test_symmetry``,
    and ``path`` (the cache file).
    """
    n_train, n_test = integer(n_train, "n_train", minimum=2), integer(n_test, "n_test",
                                                                      minimum=2)
    seed = integer(seed, "seed", minimum=0)
    root = root or cache_dir()
    path = _cache_path(n_train, n_test, seed, p, root)
    if not os.path.isfile(path):
        # the test set has its own seed, so n_train does not change it
        tr = generate(n_train, seed, p, progress)
        te = generate(n_test, seed + 1_000_003, p, progress)
        os.makedirs(root, exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp.npz"
        np.savez_compressed(tmp, train_images=tr[0], train_closedness=tr[1],
                            train_symmetry=tr[2], test_images=te[0], test_closedness=te[1],
                            test_symmetry=te[2])
        os.replace(tmp, path)  # atomic: two workers may race, both write whole files
    with np.load(path) as data:
        out = {k: data[k] for k in data.files}
    out["path"] = path
    return out
