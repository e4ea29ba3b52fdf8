"""Published experiments, reproduced at full size on dask.distributed, resumable.

Each experiment module exposes ``experiment(**options) -> Experiment`` (the grid and the
pure function of one configuration), a seeded quick size for tests and asv, and a
summary of stored results.  Modules are imported only when an experiment is asked for,
so listing them imports neither torch nor dask.

* ``levine-mincut``: min-cut bound vs exact rank (Levine et al. 2018), :mod:`.levine_mincut`
* ``pooling-geometry``: contiguous vs mirror pooling on closedness and symmetry tasks
  (Cohen & Shashua, ICLR 2017), :mod:`.pooling_geometry`
* ``pooling-geometry-full``: the same at the paper's scale, ``32 x 32`` blob images,
  arithmetic circuits and ReLU networks, shallow baselines, :mod:`.pooling_full`
* ``rectifier-distributions``: rectifier networks' ranks over seeds under four weight
  laws, shared and unshared, and shallow universality against the analytic floors
  (Cohen & Shashua, ICML 2016), :mod:`.rectifier_laws`
* ``depth-sweep``: the width a truncated network needs (COLT 2016, Thm 3),
  :mod:`.depth_sweep`
* ``recurrent-ranks``: tensor trains and recurrent arithmetic circuits, certified ranks
  beside Khrulkov et al. (ICLR 2018) and Levine et al. (arXiv:1710.09431),
  :mod:`.recurrent`
* ``mixed-dilated``: interconnected dilated networks' ranks on the paper's example
  (Cohen, Tamari & Shashua, ICLR 2018), :mod:`.mixed_dilated`
* ``selftest``: ``i -> i*i`` with failures (runner tests), :mod:`.selftest`
"""

from __future__ import annotations

import importlib

from ..validate import Registry

__all__ = ["EXPERIMENTS", "experiment_module", "make_experiment"]

EXPERIMENTS = Registry("experiment")
for _name, _module, _doc in (
    ("levine-mincut", "levine_mincut",
     "min-cut bound vs exact rank, N=16 M=2, prime widths, all balanced partitions"),
    ("pooling-geometry", "pooling_geometry",
     "contiguous vs mirror pooling on closedness and symmetry tasks (ICLR 2017)"),
    ("pooling-geometry-full", "pooling_full",
     "the same at the paper's scale: 32x32 blobs, CAC and ReLU nets, 306 trainings"),
    ("rectifier-distributions", "rectifier_laws",
     "ICML 2016 ranks over seeds, four weight laws, shared/unshared; shallow floors"),
    ("depth-sweep", "depth_sweep",
     "width a network truncated to fewer levels needs (COLT 2016, Thm 3)"),
    ("recurrent-ranks", "recurrent",
     "TT/HT/CP ranks and deep vs shallow RAC start-end ranks (ICLR 2018, arXiv 1710.09431)"),
    ("mixed-dilated", "mixed_dilated",
     "ICLR 2018 mixed dilated networks: Thm 7 bounds, min-cut, exact ranks of the example"),
    ("selftest", "selftest", "i -> i*i with configurable failures (runner tests)"),
):
    EXPERIMENTS.register(_name, (f"{__name__}.{_module}", _doc))


def experiment_module(name: str):
    """The module of experiment ``name`` (imported on demand)."""
    return importlib.import_module(EXPERIMENTS[name][0])


def make_experiment(name: str, **options):
    """``Experiment`` ``name`` built with ``options`` (its module's ``experiment``)."""
    return experiment_module(name).experiment(**options)
