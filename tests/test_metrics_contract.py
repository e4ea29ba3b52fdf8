"""The metrics contract: every tracked number the asv suite produces has a
declared unit (so the gate has a rule for it), every declared unit is used, and every
benchmark the report draws exists under the name the report looks for."""

import importlib
import inspect
import sys
from pathlib import Path

import pytest
import torch

from convac.bench import metrics

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite():
    """``{"module.Class.method": benchmark}`` of the asv suite, imported as asv does."""
    threads = torch.get_num_threads()  # benchmarks/_common fixes the thread count
    sys.path.insert(0, str(ROOT))
    try:
        found = {}
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__:
                    continue
                for name, fn in inspect.getmembers(cls, inspect.isfunction):
                    if name.startswith(("track_", "time_", "peakmem_")):
                        found[f"{path.stem}.{cls_name}.{name}"] = (cls, fn)
        yield found
    finally:
        sys.path.remove(str(ROOT))
        torch.set_num_threads(threads)


def _unit(cls, fn):
    return getattr(fn, "unit", getattr(cls, "unit", None))


def test_every_tracked_number_has_a_declared_unit(suite):
    tracked = {name: _unit(*bench) for name, bench in suite.items()
               if name.rsplit(".", 1)[1].startswith("track_")}
    assert tracked, "the suite tracks no number"
    undeclared = {name: u for name, u in tracked.items() if u not in metrics.UNITS}
    assert not undeclared, f"units not declared in convac/metrics.py: {undeclared}"


def test_every_declared_unit_is_used(suite):
    used = {_unit(*bench) for name, bench in suite.items()
            if name.rsplit(".", 1)[1].startswith("track_")}
    assert set(metrics.UNITS) <= used, f"declared but unused: {set(metrics.UNITS) - used}"


def test_every_report_series_is_a_benchmark(suite):
    missing = {k: v for k, v in metrics.REPORT_SERIES.items() if v not in suite}
    assert not missing, f"report series naming no benchmark of the suite: {missing}"


def test_undeclared_unit_is_an_error():
    with pytest.raises(ValueError, match=r"undeclared metric unit 'rnak'"):
        metrics.unit("rnak")
    with pytest.raises(ValueError, match=r"undeclared metric unit"):
        metrics.rule_of("ranks")
    assert metrics.rule_of("rank") == "exact"
    assert metrics.rule_of("relative error") == "lower"


def test_every_benchmark_unit_goes_through_the_contract():
    """``unit = declared_unit("...")``, never a bare string: a typo then fails when asv
    imports the suite, not only here."""
    import re

    bare = {path.name: re.findall(r"unit\s*=\s*['\"][^'\"]*['\"]", path.read_text())
            for path in sorted((ROOT / "benchmarks").glob("bench_*.py"))}
    bare = {name: found for name, found in bare.items() if found}
    assert not bare, f"units not taken from convac.bench.metrics (declared_unit): {bare}"
