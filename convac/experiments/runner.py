"""Run an experiment (a grid of configurations and a pure function of one) on
dask.distributed, streaming results to a resumable :class:`~.store.ResultStore`.

An :class:`Experiment` is indexed: ``config(i)`` for ``i < size`` is the i-th
configuration (a JSON-able dict), ``key(config)`` its stable key and ``compute(config)``
a pure function returning a JSON-able dict.  :func:`run_experiment` submits batches of
configurations whose keys the store does not hold yet, keeps a few batches in flight per
worker, writes each finished batch as one part file as soon as it arrives, and shows a
tqdm bar with throughput and ETA.  Hence:

* **kill the client** at any point: finished batches are on disk; ``--resume`` skips
  their keys, so nothing finished is lost or computed twice (batches in flight are
  recomputed; nothing of theirs was written);
* **kill a worker**: the scheduler reruns its tasks on the others (a batch that kills
  ``distributed.scheduler.allowed-failures`` workers is recorded as failed);
* **a configuration raises**: it is recorded with ``status="error"`` and its exception;
  the others go on;
* **a configuration exceeds its memory budget** (predicted before allocating): it is
  recorded with ``status="refused"`` and the memory it needs; a run resumed with a
  budget (``Experiment.max_bytes``, ``--max-gib``) that fits it computes it again.

Where it runs
-------------
By default a ``LocalCluster`` with one worker process per core, one thread each, and
the thread policy of :mod:`convac.threads` in each worker's environment
(``CONVAC_THREADS`` and ``OMP/MKL/OPENBLAS_NUM_THREADS``, 1 by default: the experiments
are many small exact computations; BLAS threads would only oversubscribe the cores),
and without dask's ``MALLOC_TRIM_THRESHOLD_`` (:data:`MALLOC_TRIM_CONFIG`).
On a real cluster, start a scheduler and workers where the package is installed
(``pip install convac[experiments]``)::

    dask scheduler                                   # on the head node: tcp://HEAD:8786
    OMP_NUM_THREADS=1 dask worker tcp://HEAD:8786 --nthreads 1 --nworkers 32
    convac experiment run levine-mincut --scheduler tcp://HEAD:8786 --store runs/levine

(or ``dask-jobqueue`` / ``dask-kubernetes`` for a batch system); unset
``MALLOC_TRIM_THRESHOLD_`` in the workers' dask configuration (``distributed: {nanny:
{pre-spawn-environ: {MALLOC_TRIM_THRESHOLD_: null}}}``) as the LocalCluster does.  Only
the client writes the store, so ``--store`` must be on the client's disk; workers need
no shared storage.
``scheduler="inline"`` runs the batches in this process, without dask (tests, asv).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .. import __version__, threads
from ..progress import bar as progress_bar
from ..validate import BudgetError, ConvACError, InvalidValueError
from ..validate import integer as check_integer
from ..validate import seed as check_seed
from .publish import git_output
from .store import ResultStore, decoded

__all__ = [
    "Experiment", "ExperimentBugError", "RunSummary", "run_experiment", "select_indices",
    "compute_batch", "evaluate", "THREAD_ENV", "worker_env", "ClusterError",
    "code_provenance",
]

THREAD_ENV = threads.environment(1)
"""Environment of a LocalCluster worker at the default policy: one thread each
(:func:`worker_env` gives the environment of the policy in force)."""


MALLOC_TRIM_CONFIG = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""The dask setting by which a nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536``
(to hand freed memory back to the OS).  Setting it also fixes glibc's mmap threshold at
128 KiB, so every larger array a configuration allocates is mapped and unmapped anew:
the Levine grid's workers spent a quarter of their CPU time in the kernel (2,200-2,600 minor
page faults per configuration).  The LocalCluster unsets it; a variable of that name in
the client's environment still reaches the workers."""


def worker_env() -> dict:
    """Environment of every LocalCluster worker: the thread policy in force
    (:func:`convac.threads.environment`, ``CONVAC_THREADS`` or 1), so that each worker
    process starts its BLAS/OpenMP pools with that many threads."""
    return threads.environment()


@functools.lru_cache(maxsize=1)
def code_provenance() -> dict:
    """Which code computes in this process, for an experiment to store with each result.

    Returns
    -------
    dict
        ``convac`` (the package version), ``commit`` (the git commit of the package's
        checkout, None when it is not in one) and ``modified`` (whether that checkout's
        ``convac/`` has uncommitted changes; None outside a checkout).  Read once per
        process (a worker runs one code for its lifetime).
    """
    commit = git_output("rev-parse", "HEAD") or None
    status = git_output("status", "--porcelain", "--", ".") if commit else None
    return {"convac": __version__, "commit": commit,
            "modified": bool(status) if status is not None else None}


class ExperimentBugError(ConvACError, RuntimeError):
    """A result contradicts a theorem (e.g. a rank above its proven upper bound)."""


class ClusterError(ConvACError, RuntimeError):
    """The dask cluster could not be started or reached."""


@dataclass(frozen=True)
class Experiment:
    """A grid of configurations and a pure function of one.

    Attributes
    ----------
    name : str
    size : int
        Number of configurations; ``config(i)`` for ``0 <= i < size``.
    config : callable ``int -> dict``
    key : callable ``dict -> str``
        Stable, unique key of a configuration (the store's primary key).
    compute : callable ``dict -> dict``
        Pure function of one configuration (module-level, so workers import it).
    check : callable ``(config, result) -> str or None``, optional
        Returns a message when a result is a bug; the run then fails loudly.
    batch_size : int
        Configurations per task (one part file each).
    options : dict
        What the grid depends on, recorded in the store's ``meta.json``.
    max_bytes : int, optional
        Memory budget of one configuration in this run (``None``: the experiment has
        none).  No part of a key or of ``options``: a resumed run computes again the
        configurations refused under a smaller budget that this one fits.
    """

    name: str
    size: int
    config: Callable[[int], dict]
    key: Callable[[dict], str]
    compute: Callable[[dict], dict]
    check: Callable[[dict, dict], str | None] | None = None
    batch_size: int = 64
    options: dict = field(default_factory=dict)
    max_bytes: int | None = None


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`run_experiment` did.

    ``n_computed`` counts the configurations this call stored (failed and refused ones
    included: ``n_errors`` raised, ``n_refused`` were over the memory budget);
    ``throughput`` is configurations computed per wall-clock second of this call
    (cluster start included); ``compute_seconds`` sums the workers' time in ``compute``.
    """

    experiment: str
    n_selected: int
    n_skipped: int
    n_computed: int
    n_errors: int
    wall_seconds: float
    compute_seconds: float
    n_workers: int
    quarantined: tuple = ()
    """Unreadable part files moved aside by a resumed run (their configurations were
    computed again)."""
    n_refused: int = 0
    """Configurations refused before allocating (over the memory budget), recorded with
    ``status="refused"``; ``n_errors`` counts those that raised."""

    @property
    def throughput(self) -> float:
        return self.n_computed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def select_indices(size: int, sample: int | None = None, seed: int | None = 0) -> np.ndarray:
    """All ``range(size)``, or ``sample`` distinct indices drawn with ``seed`` (sorted,
    so that neighbouring configurations, which often share a network, batch together)."""
    size = check_integer(size, "size", minimum=0)
    if sample is None:
        return np.arange(size)
    sample = check_integer(sample, "sample", minimum=1)
    if sample > size:
        raise InvalidValueError(f"sample must be at most the grid size {size}, got {sample}")
    rng = np.random.default_rng(check_seed(seed))
    return np.sort(rng.choice(size, size=sample, replace=False))


def _record(key: str, config: dict, status: str, error: str, result, seconds: float) -> dict:
    return {
        "key": key, "status": status, "error": error,
        "config": json.dumps(config, sort_keys=True),
        "result": json.dumps(result, sort_keys=True) if result is not None else "",
        "seconds": float(seconds), "worker": f"{socket.gethostname()}:{os.getpid()}",
        "finished": time.time(),
        "code": json.dumps(code_provenance(), sort_keys=True),
    }


def compute_batch(compute: Callable[[dict], dict], batch: list, apply_threads: bool = False
                  ) -> list[dict]:
    """Run ``compute`` on each ``(key, config)`` of ``batch``; one record each.

    An exception is caught per configuration and recorded (type, message and the last
    frame), so one failing configuration does not stop the batch; a
    :class:`~convac.validate.BudgetError` (a memory need predicted before allocating) is
    recorded with ``status="refused"``, ``error="refused: needs N GiB (...)"`` and as
    ``result`` the refusal (:meth:`~convac.validate.BudgetError.record`: the bytes needed
    and the budget), so that a run with a larger budget knows to compute it.  With
    ``apply_threads`` (on a dask worker) the thread policy of the worker's environment is
    applied first (:func:`convac.threads.apply`).
    """
    if apply_threads:  # on a worker: its environment carries the policy's count
        threads.apply()
    out = []
    for key, config in batch:
        start = time.perf_counter()
        try:
            result = compute(config)
        except BudgetError as err:  # predicted before allocating: refused, recorded
            out.append(_record(key, config, "refused", f"{err.refused} "
                               f"({err.advice('--max-gib')})", err.record(),
                               time.perf_counter() - start))
        except Exception as err:  # recorded, not raised: the others go on
            where = traceback.extract_tb(err.__traceback__)[-1]
            msg = f"{type(err).__name__}: {err} (at {where.filename}:{where.lineno})"
            out.append(_record(key, config, "error", msg, None, time.perf_counter() - start))
        else:
            out.append(_record(key, config, "ok", "", result, time.perf_counter() - start))
    return out


def evaluate(exp: Experiment, sample: int | None = None, seed: int | None = 0) -> list[dict]:
    """Compute the selected configurations in this process, with no store and no dask
    (the quick sizes of tests and asv); records with ``config``/``result`` decoded."""
    batch = [(exp.key(c), c) for c in (exp.config(int(i)) for i in
                                       select_indices(exp.size, sample, seed))]
    return [decoded(rec) for rec in compute_batch(exp.compute, batch)]


def _batches(exp: Experiment, indices, done: set) -> Iterator[list]:
    batch = []
    for i in indices:
        config = exp.config(int(i))
        key = exp.key(config)
        if key in done:
            continue
        batch.append((key, config))
        if len(batch) == exp.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(exp: Experiment, records: list[dict]) -> list[str]:
    if exp.check is None:
        return []
    bugs = []
    for rec in records:
        if rec["status"] == "ok":
            msg = exp.check(json.loads(rec["config"]), json.loads(rec["result"]))
            if msg:
                bugs.append(f"{rec['key']}: {msg}")
    return bugs


def _start_client(scheduler: str | None, workers: int | None):
    """``(client, cluster)``: connect to ``scheduler`` or start a LocalCluster (its
    workers without dask's ``MALLOC_TRIM_THRESHOLD_``: :data:`MALLOC_TRIM_CONFIG`)."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler), None
        except (OSError, ValueError, RuntimeError) as exc:  # TimeoutError is an OSError
            raise ClusterError(
                f"cannot reach the dask scheduler {scheduler!r} ({type(exc).__name__}: "
                f"{exc}); start it with `dask scheduler`, check the address, or drop "
                "--scheduler to run on a LocalCluster") from None
    n = workers or os.cpu_count() or 1
    try:
        with dask.config.set({MALLOC_TRIM_CONFIG: None}):  # None: not set by the nanny
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, env=worker_env())
    except Exception as exc:  # a nanny that fails to start raises whatever its worker did
        raise ClusterError(
            f"a dask LocalCluster of {n} worker process(es) failed to start "
            f"({type(exc).__name__}: {exc}); try fewer --workers, or --scheduler inline "
            "to run in this process") from None
    try:
        return Client(cluster), cluster
    except Exception:
        cluster.close()
        raise


def run_experiment(exp: Experiment, store, *, resume: bool = False, sample: int | None = None,
                   seed: int | None = 0, scheduler: str | None = None,
                   workers: int | None = None, client=None, progress: bool = True,
                   in_flight: int = 2, on_batch: Callable[[int], None] | None = None
                   ) -> RunSummary:
    """Run the configurations of ``exp`` the store lacks; stream results into it.

    Parameters
    ----------
    exp : Experiment
    store : str or ResultStore
    resume : bool, default False
        Continue a store that already holds results (skip their keys, except those
        refused under a smaller budget that ``exp.max_bytes`` fits: computed again, the
        new record superseding the refusal).  Without it a non-empty store is an error,
        so that two runs never mix by accident.
    sample, seed : int, optional
        Run ``sample`` configurations drawn with ``seed`` instead of the whole grid.
    scheduler : str, optional
        ``tcp://host:port`` of a running dask scheduler; ``"inline"`` runs in this
        process without dask; default: a new LocalCluster.
    workers : int, optional
        LocalCluster workers (default: the number of cores).
    client : dask.distributed.Client, optional
        Use this client (its cluster is left running).
    progress : bool, default True
        tqdm bar (configurations per second, ETA) on stderr when it is a terminal.
    in_flight : int, default 2
        Batches in flight per worker thread.
    on_batch : callable ``int -> None``, optional
        Called with the number of batches stored so far, after each one (tests).

    Returns
    -------
    RunSummary

    Raises
    ------
    ExperimentBugError
        When ``exp.check`` flags a result (after the batch is stored).
    """
    if not isinstance(exp, Experiment):
        raise InvalidValueError(f"expected an Experiment, got {type(exp).__name__}")
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    n_parts = len(store.parts())
    if n_parts and not resume:
        raise InvalidValueError(
            f"store {store.path} already holds {len(store)} results in {n_parts} part "
            "file(s); pass resume=True (--resume) to continue it, or choose another store"
        )
    if workers is not None:
        workers = check_integer(workers, "workers", minimum=1)
    in_flight = check_integer(in_flight, "in_flight", minimum=1)
    store.check_writable()
    store.claim({"experiment": exp.name, "size": exp.size, "options": exp.options})
    indices = select_indices(exp.size, sample, seed)
    quarantined = tuple(store.quarantine_unreadable()) if resume else ()
    for path, reason in quarantined:
        warnings.warn(f"{reason}; moved to {path}, its configurations are computed again",
                      stacklevel=2)
    done = store.settled_keys(exp.max_bytes) if resume else set()
    if sample is None:
        n_todo = max(len(indices) - len(done), 0)
    else:
        n_todo = sum(exp.key(exp.config(int(i))) not in done for i in indices)
    start = time.perf_counter()
    bar = None
    if progress:  # on stderr when it is a terminal
        bar = progress_bar(total=n_todo, unit="cfg", desc=exp.name)
    counts = {"computed": 0, "errors": 0, "refused": 0, "compute": 0.0, "batches": 0}

    def store_batch(records: list[dict]) -> None:
        store.append(records)
        counts["computed"] += len(records)
        counts["errors"] += sum(r["status"] == "error" for r in records)
        counts["refused"] += sum(r["status"] == "refused" for r in records)
        counts["compute"] += sum(r["seconds"] for r in records)
        counts["batches"] += 1
        if bar is not None:
            bar.update(len(records))
            bar.set_postfix(errors=counts["errors"], refused=counts["refused"], refresh=False)
        bugs = _check(exp, records)
        if bugs:
            raise ExperimentBugError(
                f"{exp.name}: {len(bugs)} result(s) contradict a theorem (stored in "
                f"{store.path}); first: {bugs[0]}"
            )
        if on_batch is not None:
            on_batch(counts["batches"])

    batches = _batches(exp, indices, done)
    n_workers = 1
    cluster = own_client = None
    try:
        if scheduler == "inline":
            for batch in batches:
                store_batch(compute_batch(exp.compute, batch))
        else:
            from dask.distributed import as_completed

            if client is None:
                own_client, cluster = _start_client(scheduler, workers)
                client = own_client
            n_workers = max(sum(client.nthreads().values()), 1)
            pending: dict = {}
            ac = as_completed(loop=client.loop)

            def submit_next() -> bool:
                batch = next(batches, None)
                if batch is None:
                    return False
                fut = client.submit(compute_batch, exp.compute, batch, True, pure=False)
                pending[fut.key] = batch
                ac.add(fut)
                return True

            for _ in range(in_flight * n_workers):
                if not submit_next():
                    break
            try:
                for fut in ac:
                    batch = pending.pop(fut.key)
                    try:
                        records = fut.result()
                    except Exception as err:  # e.g. KilledWorker: record, go on
                        msg = f"{type(err).__name__}: {err}"
                        records = [_record(k, c, "error", msg, None, 0.0) for k, c in batch]
                    fut.release()
                    store_batch(records)
                    submit_next()
            finally:
                for fut in list(ac.futures):
                    fut.cancel()
    finally:
        if bar is not None:
            bar.close()
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
    return RunSummary(exp.name, len(indices), len(indices) - n_todo, counts["computed"],
                      counts["errors"], time.perf_counter() - start, counts["compute"],
                      n_workers, tuple(path for path, _ in quarantined), counts["refused"])
