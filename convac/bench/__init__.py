"""Benchmark results: the stage after the experiments.

The metrics contract, one unit and comparison rule per tracked number (:mod:`.metrics`);
the asv results reader (:mod:`.results`); the regression gate (:mod:`.gate`); the
depth-efficiency table (:mod:`.table`); the HTML report (:mod:`.report`, which needs the
``report`` extra).  This package imports only the contract and the reader, which need
neither torch nor asv; import the others as submodules.
"""

from .metrics import REPORT_SERIES, UNITS, Unit, rule_of, series, unit
from .results import CommitResults, list_commits, list_machines, load_benchmarks, load_commit

__all__ = [
    "Unit", "UNITS", "unit", "rule_of", "REPORT_SERIES", "series",
    "CommitResults", "load_benchmarks", "load_commit", "list_commits", "list_machines",
]
