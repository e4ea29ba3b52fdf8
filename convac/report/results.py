"""Reading asv result files (format version 2, asv 0.6) without asv's private API.

A result file ``<results_dir>/<machine>/<hash[:8]>-<env>.json`` holds, per benchmark,
one value per parameter combination (``None`` for a failure, ``NaN`` for a skip).
``<results_dir>/benchmarks.json`` holds each benchmark's type, unit, params and docstring.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field

__all__ = [
    "BenchmarkInfo",
    "Measurement",
    "CommitResults",
    "load_benchmarks",
    "load_commit",
    "list_commits",
    "list_machines",
    "parse_param",
]


@dataclass(frozen=True)
class BenchmarkInfo:
    """One benchmark of ``benchmarks.json``: ``type`` is ``time``, ``peakmem``, ``track``..."""

    name: str
    type: str
    unit: str
    param_names: tuple
    params: tuple
    doc: str = ""


@dataclass(frozen=True)
class Measurement:
    """One value of one benchmark at one parameter combination.

    ``value`` is a float, ``None`` (the benchmark failed) or ``nan`` (skipped).
    """

    name: str
    params: tuple
    value: float | None

    @property
    def failed(self) -> bool:
        return self.value is None

    @property
    def skipped(self) -> bool:
        return self.value is not None and math.isnan(self.value)

    @property
    def ok(self) -> bool:
        return self.value is not None and not math.isnan(self.value)


@dataclass
class CommitResults:
    """Every measurement of one commit on one machine (all environments merged)."""

    commit_hash: str
    machine: str
    date: int | None = None
    values: dict = field(default_factory=dict)  # (name, params) -> Measurement
    files: list = field(default_factory=list)

    def get(self, name: str, params: tuple = ()) -> Measurement | None:
        return self.values.get((name, tuple(params)))

    def by_name(self, name: str) -> list:
        """Measurements of benchmark ``name``, in parameter-product order."""
        return [m for (n, _), m in self.values.items() if n == name]


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def parse_param(text: str):
    """An asv parameter repr (``"16"``, ``"'odd-even'"``) back to a Python value."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def load_benchmarks(results_dir: str) -> dict:
    """``benchmarks.json`` of ``results_dir`` as ``{name: BenchmarkInfo}`` (empty if absent)."""
    path = os.path.join(results_dir, "benchmarks.json")
    if not os.path.isfile(path):
        return {}
    out = {}
    for name, b in _read_json(path).items():
        if not isinstance(b, dict) or "type" not in b:
            continue  # the "version" entry
        out[name] = BenchmarkInfo(
            name=name, type=b["type"], unit=b.get("unit", ""),
            param_names=tuple(b.get("param_names", ())),
            params=tuple(tuple(p) for p in b.get("params", ())),
            doc=b.get("doc") or "",
        )
    return out


def list_machines(results_dir: str) -> list:
    """Machine folders of ``results_dir`` (those with a ``machine.json``)."""
    if not os.path.isdir(results_dir):
        return []
    return sorted(d for d in os.listdir(results_dir)
                  if os.path.isfile(os.path.join(results_dir, d, "machine.json")))


def _result_files(results_dir: str, machine: str) -> list:
    folder = os.path.join(results_dir, machine)
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith(".json") and f != "machine.json")


def list_commits(results_dir: str, machine: str) -> list:
    """``(date, commit_hash)`` of every result file of ``machine``, oldest first."""
    seen = {}
    for path in _result_files(results_dir, machine):
        data = _read_json(path)
        h = data.get("commit_hash")
        if h:
            seen[h] = max(seen.get(h, 0) or 0, data.get("date") or 0)
    return sorted((d, h) for h, d in seen.items())


def load_commit(results_dir: str, machine: str, commit_hash: str) -> CommitResults:
    """Every measurement of ``commit_hash`` (a full hash or a unique prefix) on ``machine``.

    Raises
    ------
    FileNotFoundError
        No result file of that commit on that machine.
    """
    out = None
    found = []
    for path in _result_files(results_dir, machine):
        if not os.path.basename(path).startswith(commit_hash[:8]):
            continue
        data = _read_json(path)
        if data.get("commit_hash", "").startswith(commit_hash):
            found.append((os.path.getmtime(path), path, data))
    # several environments: merge the oldest file first, so the newest run of a benchmark
    # wins ("date" in a result file is the commit's date, not the run's)
    for _, path, data in sorted(found, key=lambda t: (t[0], t[1])):
        full = data["commit_hash"]
        if out is None:
            out = CommitResults(full, machine, data.get("date"))
        out.files.append(path)
        columns = data.get("result_columns", ["result", "params"])
        i_result, i_params = columns.index("result"), columns.index("params")
        for name, row in data.get("results", {}).items():
            values = row[i_result] if i_result < len(row) else None
            params = row[i_params] if i_params < len(row) else []
            combos = list(itertools.product(*params)) if params else [()]
            if not isinstance(values, list):
                values = [values] * len(combos)
            for combo, value in zip(combos, values, strict=False):
                v = None if value is None else float(value)
                out.values[(name, tuple(combo))] = Measurement(name, tuple(combo), v)
    if out is None:
        raise FileNotFoundError(
            f"no asv results for commit {commit_hash} on machine {machine!r} in {results_dir}"
        )
    return out
