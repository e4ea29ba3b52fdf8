"""The pooling-geometry experiment's settings, paper quote, named partitions and the
summary of its stored results, read by :mod:`convac.experiments.pooling_geometry` and the
report; it imports nothing that computes."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SIDE", "TASKS", "GEOMETRIES", "PAPER", "named_partitions", "summarize",
           "format_summary"]

SIDE = 8
TASKS = ("closedness", "symmetry")
GEOMETRIES = ("square", "mirror")

PAPER = {
    "source": "Cohen & Shashua, ICLR 2017 (arXiv:1605.06743), Sec. 7 and the abstract. "
              "The abstract, verified from its text (OpenReview forum BkVsEMYel): "
              "\"Contiguous pooling windows as commonly employed in practice favor "
              "interleaved partitions over coarse ones, orienting the inductive bias towards "
              "the statistics of natural images. Other pooling schemes lead to different "
              "preferences\"; Sec. 7 was not read (the stored pages hold first pages only), "
              "so the statement is the authors' (README of HUJI-Deep/inductive-pooling); "
              "convac's setting differs: 8x8 images and tasks of convac's own, not the "
              "paper's 32x32 blobs (those are the pooling-geometry-full experiment)",
    "statement": "contiguous (square) pooling wins on closedness, mirror pooling wins on "
                 "symmetry; each geometry supports exponential separation rank only on "
                 "the partitions it favours",
}


@functools.lru_cache(maxsize=8)
def named_partitions(side: int = SIDE) -> dict:
    """Image partitions (raster indices of the row side)."""
    idx = np.arange(side * side).reshape(side, side)
    i, j = np.divmod(idx.ravel(), side)
    far = side - 1
    # a checkerboard in the distances to the edges: local (neighbours alternate) and
    # invariant under both reflections, so every mirror window lies on one side
    mirrored = (np.minimum(i, far - i) + np.minimum(j, far - j)) % 2 == 0
    return {
        "left|right": sorted(idx[:, : side // 2].ravel().tolist()),
        "top|bottom": sorted(idx[: side // 2].ravel().tolist()),
        "interleaved": sorted(idx[:, 0::2].ravel().tolist()),
        "mirrored-checkerboard": np.flatnonzero(mirrored).tolist(),
    }


def summarize(records) -> list:
    """Per (task, geometry): mean, min and max accuracy over seeds, and the ranks."""
    groups: dict = {}
    for rec in records:
        if rec["status"] != "ok":
            continue
        c, r = rec["config"], rec["result"]
        groups.setdefault((c["task"], c["geometry"]), []).append(r)
    rows = []
    for (task, geom), rs in sorted(groups.items()):
        acc = [r["accuracy"] for r in rs]
        rows.append({"task": task, "geometry": geom, "seeds": len(rs),
                     "accuracy": float(np.mean(acc)), "min": float(min(acc)),
                     "max": float(max(acc)), "bounds": rs[0]["bounds"],
                     "exact_4x4": rs[0]["exact_4x4"], "bound_4x4": rs[0]["bound_4x4"]})
    return rows


def format_summary(records) -> str:
    lines = [f"{'task':>11s} {'geometry':>8s} {'seeds':>5s} {'acc':>6s} {'min':>6s} "
             f"{'max':>6s}  min-cut 8x8 | exact rank (min-cut) 4x4, on "
             + ", ".join(named_partitions(SIDE))]
    for r in summarize(records):
        names = list(named_partitions(SIDE))
        ranks = ", ".join(str(r["bounds"][k]) for k in names) + " | " + ", ".join(
            f"{r['exact_4x4'][k]} ({r['bound_4x4'][k]})" for k in names)
        lines.append(f"{r['task']:>11s} {r['geometry']:>8s} {r['seeds']:5d} "
                     f"{r['accuracy']:6.3f} {r['min']:6.3f} {r['max']:6.3f}  {ranks}")
    lines.append(f"paper: {PAPER['statement']} ({PAPER['source']})")
    return "\n".join(lines)
