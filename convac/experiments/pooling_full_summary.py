"""The full-scale pooling-geometry experiment's settings, paper quote, grid of cells,
partitions and the summary of its stored results (accuracies, pace), read by
:mod:`convac.experiments.pooling_full` and the report; it imports nothing that computes.
The ranks per geometry are computed by :func:`convac.experiments.pooling_full.summarize`
when a run is published, never here."""

from __future__ import annotations

import functools

import numpy as np

from .blobs import TASKS

__all__ = ["SIDE", "LEVELS", "GEOMETRIES", "KINDS", "DEEP_WIDTHS", "SHALLOW_WIDTHS", "PAPER",
           "cells", "default_grid_size", "partitions", "summarize_records", "throughput"]

SIDE = 32
LEVELS = 5
GEOMETRIES = ("square", "mirror")
KINDS = ("cac", "relu-avg", "relu-max")
DEEP_WIDTHS = (8, 16, 32, 64, 128)
SHALLOW_WIDTHS = (64, 128, 256, 512, 1024, 2048, 4096)

PAPER = {
    "source": "Cohen & Shashua, ICLR 2017, Sec. 7 (Fig. 3: arithmetic circuits; Fig. 4: "
              "ReLU networks with average and max pooling); generator, networks and "
              "hyperparameters read from the authors' code, HUJI-Deep/inductive-pooling",
    "statement": "\"square pooling outperforms mirror on the task of closure ranking, "
                 "whereas the opposite occurs when ranking symmetry\", for the arithmetic "
                 "circuit and for ReLU networks with average and max pooling (the README "
                 "of the authors' code)",
    "verified": "The paper's text was not available here: the statement is quoted from "
                "the authors' code, the figure numbers and the shallow baselines below "
                "are those given by the task that asked for this reproduction, not read "
                "from the paper.",
    "shallow": {("cac", "closedness"): 0.62, ("cac", "symmetry"): 0.77,
                ("relu-avg", "closedness"): 0.58, ("relu-avg", "symmetry"): 0.55,
                ("relu-max", "closedness"): 0.50, ("relu-max", "symmetry"): 0.50},
    "shallow_note": "shallow, 4096 channels; relu-max: no better than chance",
}


def _cost(depth: str, width: int) -> float:
    """Multiply-adds of one forward step per image (the grid's order, and its plan)."""
    n = SIDE * SIDE
    if depth == "shallow":
        return 3.0 * width  # computed from the pixel counts
    return 3.0 * n * width + sum((n >> 2 * lv) * width * width for lv in range(1, LEVELS + 1))


def cells(deep_widths=DEEP_WIDTHS, shallow_widths=SHALLOW_WIDTHS, kinds=KINDS,
          tasks=TASKS) -> list:
    """``(depth, geometry, task, kind, width)`` of every cell: the deep networks of
    widths up to 16 (the geometries' comparison, cheap), then the shallow baselines,
    then the wider deep networks, each group cheapest first; within a width the
    arithmetic circuit, then ReLU+average, then ReLU+max, the two geometries of a task
    together."""
    out = [("deep", g, t, k, w) for g in GEOMETRIES for t in tasks for k in kinds
           for w in deep_widths]
    out += [("shallow", "-", t, k, w) for t in tasks for k in kinds for w in shallow_widths]

    def order(c) -> tuple:
        group = 1 if c[0] == "shallow" else (0 if c[4] <= 16 else 2)
        # within a width: the arithmetic circuit first, and both geometries of a task
        # one after the other, so that every finished pair is a comparison
        return (group, _cost(c[0], c[4]), KINDS.index(c[3]), c[2], c[1])

    return sorted(out, key=order)


def default_grid_size(seeds: int = 3) -> int:
    """Trainings in the default grid (:func:`convac.experiments.pooling_full.experiment`):
    every cell once per seed."""
    return seeds * len(cells())


@functools.lru_cache(maxsize=4)
def partitions(side: int = SIDE) -> dict:
    """Five partitions of a ``side x side`` image (row-side raster indices)."""
    i, j = np.divmod(np.arange(side * side), side)
    far = side - 1
    sides = {
        "left|right": j < side // 2,
        "top|bottom": i < side // 2,
        "odd|even columns": j % 2 == 1,
        "interleaved (checkerboard)": (i + j) % 2 == 0,
        # local like a checkerboard, but each mirror window lies on one side
        "mirrored checkerboard": (np.minimum(i, far - i) + np.minimum(j, far - j)) % 2 == 0,
    }
    return {k: np.flatnonzero(v).tolist() for k, v in sides.items()}


def summarize_records(records) -> dict:
    """Per cell: seeds done, mean / min / max of train and test accuracy, training time;
    the failed trainings; the paper's figures.  ``min_cut_32x32`` and
    ``exact_4x4_width8`` are ``None``: the ranks are computed by the experiment's
    ``summarize``, not from records."""
    groups: dict = {}
    errors = []
    for rec in records:
        c = rec["config"]
        cell = (c["depth"], c["geometry"], c["task"], c["kind"], c["width"])
        if rec["status"] != "ok":
            errors.append({"cell": list(cell), "seed": c["seed"], "error": rec["error"]})
            continue
        groups.setdefault(cell, []).append(rec["result"])
    rows = []
    for cell, rs in sorted(groups.items()):
        te = [r["test_accuracy"] for r in rs]
        tr = [r["train_accuracy"] for r in rs]
        rows.append({"depth": cell[0], "geometry": cell[1], "task": cell[2],
                     "kind": cell[3], "width": cell[4], "seeds": len(rs),
                     "test": float(np.mean(te)), "test_min": float(min(te)),
                     "test_max": float(max(te)), "train": float(np.mean(tr)),
                     "train_min": float(min(tr)), "train_max": float(max(tr)),
                     "seconds": float(np.mean([r["train_seconds"] for r in rs])),
                     "cpu_seconds": float(np.mean([r["train_cpu_seconds"] for r in rs])),
                     "devices": sorted({r["device"] for r in rs})})
    return {"cells": rows, "errors": errors, "n_cells_seen": len(rows),
            "n_trainings_done": sum(r["seeds"] for r in rows),
            "min_cut_32x32": None, "exact_4x4_width8": None,
            "paper": {**{k: v for k, v in PAPER.items() if k != "shallow"},
                      "shallow": [{"kind": k, "task": t, "accuracy": a}
                                  for (k, t), a in PAPER["shallow"].items()]}}


def throughput(records) -> dict:
    """Mean training seconds per (depth, width), and which devices ran them."""
    by: dict = {}
    for rec in records:
        if rec["status"] == "ok":
            c, r = rec["config"], rec["result"]
            by.setdefault(f"{c['depth']} w{c['width']}", []).append(
                (r["train_seconds"], r["train_cpu_seconds"], r["device"]))
    return {k: {"n": len(v), "wall_mean": float(np.mean([x[0] for x in v])),
                "wall_min": float(min(x[0] for x in v)), "wall_max": float(max(x[0] for x in v)),
                "cpu_mean": float(np.mean([x[1] for x in v])),
                "devices": sorted({x[2] for x in v})} for k, v in sorted(by.items())}
