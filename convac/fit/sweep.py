"""Width sweeps: how well shallow networks fit a deep one, and the converse.

:func:`width_sweep` fits CPs of growing width to an HT teacher's coefficient tensor by
ALS (:func:`~convac.fit.fit_cp`) and puts the Eckart-Young floor
(:func:`~convac.floor.eckart_young_floors`) beside each error.  The smallest width
whose fit reaches a target error is an *empirical upper bound on the CP-rank* needed
for that error (ALS found such a CP; a smaller one may exist).  :func:`ht_fits_cp` is
the converse: an HT student trained by gradient on a CP teacher's outputs.

``convac sweep`` writes the table (CSV and Markdown) and a plot (PNG), and with
``--converse-width K`` a table of HT students of ranks ``1..K`` fitting a width-``K`` CP.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass

import numpy as np

from .. import validate
from ..nets.network import ConvAC, CPNet, HTNet
from ..nets.params import parameter_count
from ..progress import bar
from ..tensors.coefficient import coefficient_tensor
from .cp import FIT_MAX_BYTES, check_width_budget, fit_cp
from .floor import below_floor, eckart_young_floors
from .train import train_student

__all__ = [
    "SweepRow",
    "SweepResult",
    "ConverseResult",
    "width_sweep",
    "ht_fits_cp",
    "write_sweep",
    "write_converse",
    "fits_below_floor",
]

UPPER_BOUND_LABEL = ("empirical upper bound on CP-rank (smallest width whose ALS fit reached "
                     "the target error; not a certified value)")


@dataclass(frozen=True)
class SweepRow:
    """One width of a sweep.

    Attributes
    ----------
    width : int
    fit_error : float
        Best relative ALS error over the restarts.
    floor : float
        Eckart-Young floor (relative); ``fit_error >= floor`` for any correct fit.
    floor_partition : tuple of int
        Row modes of the partition that gave the floor.
    iterations : int
    converged : bool
    cp_params : int
        Parameters of a one-output unshared CP of this width.
    method : str
        Solver that produced the fit (:func:`~convac.fit.fit_cp`'s ``method``; with
        ``"best"`` the one that won).
    """

    width: int
    fit_error: float
    floor: float
    floor_partition: tuple
    iterations: int
    converged: bool
    cp_params: int
    method: str = "als"


@dataclass(frozen=True)
class SweepResult:
    """A width sweep of CP fits to a teacher.

    Attributes
    ----------
    rows : tuple of SweepRow
    target : float
        Relative error the upper bound refers to.
    cp_rank_upper_bound : int or None
        Smallest swept width with ``fit_error <= target``: an **empirical upper bound on
        the CP-rank** at that error (``None`` if no width reached it).
    teacher_params : int
    tol, n_iter_max, n_restarts, seed : ALS settings the errors depend on.
    """

    rows: tuple
    target: float
    cp_rank_upper_bound: int | None
    teacher_params: int
    tol: float
    n_iter_max: int
    n_restarts: int
    seed: int
    label: str = UPPER_BOUND_LABEL


def _teacher(teacher) -> ConvAC:
    return validate.network(teacher)


def width_sweep(teacher: ConvAC, widths, target: float = 1e-2, n_restarts: int = 1,
                seed: int = 0, tol: float = 1e-8, n_iter_max: int = 100,
                backend: str = "numpy", warm_start: bool = True, partitions=None,
                n_samples: int = 8, output: int = 0, method: str = "best",
                max_bytes: int | None = None, progress: bool = False) -> SweepResult:
    """CP fit error against width for a teacher's coefficient tensor, floor beside it.

    Parameters
    ----------
    teacher : ConvAC
        Usually an :class:`HTNet`; its dense coefficient tensor ``A^y`` is fitted.
    widths : sequence of int
        CP widths, each ``>= 1``.
    target : float, default 1e-2
        Relative error for :attr:`SweepResult.cp_rank_upper_bound`.
    n_restarts, seed, tol, n_iter_max, backend, method, max_bytes
        Passed to :func:`~convac.fit.fit_cp` (seed is the same for every width); the
        default ``method="best"`` runs every solver until one is exact to rounding;
        ``max_bytes=None`` is :data:`convac.fit.cp.FIT_MAX_BYTES`.
    warm_start : bool, default True
        Restart 0 of each width (after the first) starts from the previous width's best
        CP, padded with seeded random columns; with ``False`` every start is random.
    partitions, n_samples
        For the floor (:func:`~convac.floor.eckart_young_floors`, seeded by ``seed``).
    output : int, default 0
    progress : bool, default False
        A progress bar over the widths on stderr (when it is a terminal).

    Returns
    -------
    SweepResult
    """

    teacher = validate.network(teacher)
    max_bytes = FIT_MAX_BYTES if max_bytes is None else validate.max_bytes(max_bytes)
    widths = validate.int_sequence(widths, "widths", what="width")
    target = validate.real(target, "target", 0.0, strict_minimum=True)
    output = validate.output(teacher, output)
    validate.check_budget(teacher.n_channels, teacher.n_patches, max_bytes,
                          "coefficient tensor")
    for w in widths:  # before any allocation: width_sweep(net, [10**9]) must refuse
        check_width_budget((teacher.n_channels,) * teacher.n_patches, w, max_bytes)
    floors = eckart_young_floors(teacher, widths, partitions, n_samples, seed, output)
    tensor = coefficient_tensor(teacher, output).numpy()  # (M,) * N
    rng = np.random.RandomState(seed)
    rows, prev = [], None
    for width, floor in bar(list(zip(widths, floors, strict=True)), desc="sweep",
                            unit="width", quiet=not progress):
        init = None
        if warm_start and prev is not None:
            keep = min(prev.width, width)
            pad = width - keep
            factors = [np.concatenate([f[:, :keep], rng.random_sample((f.shape[0], pad))],
                                      axis=1) for f in prev.factors]  # (M, K) each
            weights = np.concatenate([prev.weights[:keep], np.ones(pad)])  # (K,)
            init = (weights, factors)
        fit = fit_cp(tensor, width, n_restarts=n_restarts, seed=seed, backend=backend,
                     tol=tol, n_iter_max=n_iter_max, init="svd" if init is None else init,
                     method=method, max_bytes=max_bytes)
        prev = fit
        rows.append(SweepRow(
            width=int(width), fit_error=fit.relative_error, floor=floor.value,
            floor_partition=floor.partition.rows, iterations=fit.iterations,
            converged=fit.converged,
            cp_params=parameter_count(CPNet(teacher.n_patches, teacher.n_channels, width)),
            method=fit.method,
        ))
    reached = [r.width for r in rows if r.fit_error <= target]
    return SweepResult(tuple(rows), float(target), min(reached) if reached else None,
                       parameter_count(teacher), float(tol), int(n_iter_max),
                       int(n_restarts), int(seed))


def fits_below_floor(result: SweepResult, n_entries: int) -> list:
    """Widths of ``result`` whose fit error lies below the floor by more than rounding
    (:func:`~convac.fit.floor.below_floor`; ``n_entries`` of the teacher's tensor): a
    bug, as no CP of that width can beat the floor."""
    return [r.width for r in result.rows if below_floor(r.fit_error, r.floor, n_entries)]


@dataclass(frozen=True)
class ConverseResult:
    """An HT student fitted by gradient to a CP teacher.

    Attributes
    ----------
    held_out_error : float
        Relative error on held-out random features.
    ht_params, cp_params : int
        Parameters of the HT student and of the CP teacher.
    embedding_params : int
        Parameters of the exact HT embedding of the CP (every rank ``K``,
        ``N*M*K + (N-2)*K^2 + K*Y``), for comparison.
    ht_ranks : tuple of int
    cp_width : int
    steps : int
    seed : int
    """

    held_out_error: float
    ht_params: int
    cp_params: int
    embedding_params: int
    ht_ranks: tuple
    cp_width: int
    steps: int
    seed: int


def ht_fits_cp(cp_teacher: ConvAC, ht_ranks, seed: int = 0, **train_kwargs) -> ConverseResult:
    """Train an HT student with ranks ``ht_ranks`` on a CP teacher's outputs.

    Parameters
    ----------
    cp_teacher : CPNet
        Shallow teacher (schedule ``(N,)``, ``N`` a power of two).
    ht_ranks : int or sequence of int
        Ranks ``r_0 .. r_{L-1}`` of the student; rank ``K`` everywhere can represent the
        teacher exactly (COLT 2016, footnote 4).
    seed : int, default 0
        Seeds the student's weights and the training.
    **train_kwargs
        Passed to :func:`~convac.train.train_student` (``steps``, ``lr``, ``progress``, ..).

    Returns
    -------
    ConverseResult
    """

    cp_teacher = _teacher(cp_teacher)
    if cp_teacher.schedule.n_levels != 1:
        raise ValueError(f"cp_teacher must have windows (n_patches,), got {cp_teacher.windows}")
    n, m, y = cp_teacher.n_patches, cp_teacher.n_channels, cp_teacher.n_outputs
    dtype = cp_teacher.weights[0].dtype
    student = HTNet(n, m, ht_ranks, n_outputs=y, seed=seed, dtype=dtype)
    result = train_student(student, cp_teacher, seed=seed, **train_kwargs)
    k = cp_teacher.ranks[0]
    return ConverseResult(
        held_out_error=result.held_out_error, ht_params=parameter_count(student),
        cp_params=parameter_count(cp_teacher),
        embedding_params=n * m * k + (n - 2) * k * k + k * y,
        ht_ranks=tuple(student.ranks), cp_width=k, steps=result.steps, seed=int(seed),
    )


_COLUMNS = ("width", "fit_error", "floor", "floor_partition", "iterations", "converged",
            "cp_params", "method")


def _markdown(result: SweepResult, title: str) -> str:
    lines = [f"# {title}", "",
             f"ALS: tol={result.tol:g}, n_iter_max={result.n_iter_max}, "
             f"n_restarts={result.n_restarts}, seed={result.seed}; teacher parameters: "
             f"{result.teacher_params}", "",
             "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in result.rows:
        cells = [str(r.width), f"{r.fit_error:.4g}", f"{r.floor:.4g}",
                 " ".join(map(str, r.floor_partition)), str(r.iterations), str(r.converged),
                 str(r.cp_params), r.method]
        lines.append("| " + " | ".join(cells) + " |")
    bound = result.cp_rank_upper_bound
    lines += ["", f"Target relative error {result.target:g}: "
              f"{'not reached' if bound is None else bound} "
              f"({result.label})."]
    return "\n".join(lines) + "\n"


def write_sweep(result: SweepResult, out_dir, title: str = "CP fit of an HT teacher",
                stem: str = "sweep") -> dict:
    """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>.png`` (error and floor vs width).

    Returns
    -------
    dict
        ``{"csv": path, "md": path, "png": path}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("csv", "md", "png")}
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_COLUMNS)
        writer.writeheader()
        for r in result.rows:
            row = asdict(r)
            row["floor_partition"] = " ".join(map(str, r.floor_partition))
            writer.writerow(row)
    with open(paths["md"], "w") as fh:
        fh.write(_markdown(result, title))
    widths = [r.width for r in result.rows]
    tiny = 1e-17  # log axis: exact zeros are drawn at this value
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(widths, [max(r.fit_error, tiny) for r in result.rows], "o-",
                label=f"best CP fit (tol={result.tol:g}, {result.n_restarts} restart(s))")
    ax.semilogy(widths, [max(r.floor, tiny) for r in result.rows], "s--",
                label="Eckart-Young floor")
    ax.axhline(result.target, color="gray", lw=0.8, ls=":", label=f"target {result.target:g}")
    if result.cp_rank_upper_bound is not None:
        ax.axvline(result.cp_rank_upper_bound, color="C2", lw=0.8,
                   label=f"empirical upper bound on CP-rank: {result.cp_rank_upper_bound}")
    ax.set_xlabel("CP width K")
    ax.set_ylabel("relative error ||A - B|| / ||A||")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=100)
    plt.close(fig)
    return paths


_CONVERSE_COLUMNS = ("ht_ranks", "held_out_error", "ht_params", "cp_width", "cp_params",
                     "embedding_params", "steps", "seed")


def write_converse(results, out_dir, title: str = "HT students fitting a CP teacher",
                   stem: str = "converse") -> dict:
    """Write ``<stem>.csv`` and ``<stem>.md``: one row per :class:`ConverseResult`.

    Returns
    -------
    dict
        ``{"csv": path, "md": path}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"{stem}.{ext}") for ext in ("csv", "md")}
    rows = []
    for r in results:
        row = asdict(r)
        row["ht_ranks"] = " ".join(map(str, r.ht_ranks))
        rows.append(row)
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_CONVERSE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# {title}", "", "Held-out relative error of HT students trained by Adam on "
             "the CP teacher's outputs (random N(0, 1) features); the exact HT embedding of "
             "the CP has rank K everywhere.", "",
             "| " + " | ".join(_CONVERSE_COLUMNS) + " |", "|" + "---|" * len(_CONVERSE_COLUMNS)]
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v)
                 for v in (row[c] for c in _CONVERSE_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    with open(paths["md"], "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return paths
