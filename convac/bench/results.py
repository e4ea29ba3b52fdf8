"""Reading asv result files (format version 2, asv 0.6) without asv's private API.

A result file ``<results_dir>/<machine>/<hash[:8]>-<env>.json`` holds, per benchmark,
one value per parameter combination (``None`` for a failure, ``NaN`` for a skip).
``<results_dir>/benchmarks.json`` holds each benchmark's type, unit, params and docstring.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field

from ..validate import InvalidValueError

DEFAULT_RESULTS = os.path.join("reports", "results")
"""asv's results_dir (asv.conf.json)."""
DEFAULT_ASV_SITE = os.path.join("reports", "html")
"""asv's html_dir, which the report links to."""
DEFAULT_REPORT = os.path.join("reports", "depth-efficiency")
"""Where ``convac report`` writes its page."""

__all__ = [
    "ResultsFileError",
    "BenchmarkInfo",
    "Measurement",
    "CommitResults",
    "load_benchmarks",
    "load_commit",
    "list_commits",
    "list_machines",
    "parse_param",
    "canonical_param",
]


class ResultsFileError(InvalidValueError):
    """An asv results file that cannot be read: not JSON, truncated, a non-finite value
    (``Infinity``), or not shaped as asv writes it.  The message starts with its path."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path


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
        return self.values.get((name, tuple(canonical_param(p) for p in params)))

    def by_name(self, name: str) -> list:
        """Measurements of benchmark ``name``, in parameter-product order."""
        return [m for (n, _), m in self.values.items() if n == name]


def _read_json(path: str) -> dict:
    """A results file as a dict; any problem is a :class:`ResultsFileError` naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            # NaN (a skipped benchmark) and +-Infinity (asv's confidence bounds of a
            # one-sample run) are valid JSON here; a non-finite *result* is refused below
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsFileError(path, f"unreadable asv results file ({exc})") from None
    if not isinstance(data, dict):
        raise ResultsFileError(path, f"expected a JSON object, got a JSON {type(data).__name__}")
    return data


_NUMPY_SCALAR = re.compile(r"^(?:np|numpy)\.(?:u?int\d*|float\d*|str_|bool_?)\((.*)\)$", re.S)


def parse_param(text):
    """An asv parameter repr (``"16"``, ``"'odd-even'"``, ``"np.int64(16)"``) back to a
    Python value; text that is no literal is returned as it is."""
    if not isinstance(text, str):
        return text  # a hand-written results file may hold the number itself
    match = _NUMPY_SCALAR.match(text.strip())
    if match:  # numpy >= 2 reprs: np.int64(16) is the parameter 16
        text = match.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def canonical_param(text) -> str:
    """One spelling per parameter value, so that two commits' results match whatever wrote
    them: ``16``, ``"16"``, ``"np.int64(16)"`` and ``"16.0"`` are ``"16"``;
    ``"'cp'"`` and ``"cp"`` are ``"'cp'"``."""
    value = parse_param(text)
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return repr(value)


def load_benchmarks(results_dir: str) -> dict:
    """``benchmarks.json`` of ``results_dir`` as ``{name: BenchmarkInfo}`` (empty if absent).

    Raises
    ------
    ResultsFileError
        The file exists but is corrupt (the message names it).
    """
    path = os.path.join(results_dir, "benchmarks.json")
    if not os.path.isfile(path):
        return {}
    out = {}
    for name, b in _read_json(path).items():
        if not isinstance(b, dict) or "type" not in b:
            continue  # the "version" entry
        try:
            out[name] = BenchmarkInfo(
                name=name, type=str(b["type"]), unit=str(b.get("unit") or ""),
                param_names=tuple(b.get("param_names") or ()),
                params=tuple(tuple(p) for p in b.get("params") or ()),
                doc=b.get("doc") or "",
            )
        except TypeError as exc:
            raise ResultsFileError(path, f"benchmark {name!r} is malformed ({exc})") from None
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


def _commit_of(path: str, data: dict) -> str:
    h = data.get("commit_hash")
    if not isinstance(h, str) or not h:
        raise ResultsFileError(path, f"no commit_hash string, got {h!r}")
    return h


def _date_of(path: str, data: dict) -> int:
    d = data.get("date")
    if d is None:
        return 0
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d):
        raise ResultsFileError(path, f"date must be a number, got {d!r}")
    return int(d)


def list_commits(results_dir: str, machine: str) -> list:
    """``(date, commit_hash)`` of every readable result file of ``machine``, oldest first.

    A corrupt file is skipped with a warning naming it: one broken older result must not
    stop a report of the others.
    """
    seen = {}
    for path in _result_files(results_dir, machine):
        try:
            data = _read_json(path)
            h, d = _commit_of(path, data), _date_of(path, data)
        except ResultsFileError as exc:
            warnings.warn(f"skipping corrupt asv results file {exc}", stacklevel=2)
            continue
        seen[h] = max(seen.get(h, 0), d)
    return sorted((d, h) for h, d in seen.items())


def _value(path: str, name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsFileError(path, f"benchmark {name!r}: expected a number or null, "
                                     f"got {value!r}")
    value = float(value)
    if math.isinf(value):
        raise ResultsFileError(path, f"benchmark {name!r}: non-finite value {value}")
    return value


def _measurements(path: str, data: dict):
    """``(name, params, value)`` of every measurement in one results file (validated)."""
    columns = data.get("result_columns", ["result", "params"])
    results = data.get("results", {})
    if not isinstance(columns, list) or "result" not in columns or not isinstance(results, dict):
        raise ResultsFileError(path, "expected 'result_columns' with 'result' and a "
                                     "'results' object (asv results format 2)")
    i_result = columns.index("result")
    i_params = columns.index("params") if "params" in columns else None
    for name, row in results.items():
        if not isinstance(row, list):
            raise ResultsFileError(path, f"benchmark {name!r}: expected a list, got {row!r}")
        values = row[i_result] if i_result < len(row) else None
        params = row[i_params] if i_params is not None and i_params < len(row) else []
        if not isinstance(params, list) or not all(isinstance(p, list) for p in params or []):
            raise ResultsFileError(path, f"benchmark {name!r}: params must be a list of "
                                         f"lists, got {params!r}")
        combos = list(itertools.product(*params)) if params else [()]
        if not isinstance(values, list):
            values = [values] * len(combos)
        if len(values) != len(combos):
            raise ResultsFileError(path, f"benchmark {name!r}: {len(values)} values for "
                                         f"{len(combos)} parameter combinations")
        for combo, value in zip(combos, values, strict=True):
            key = tuple(canonical_param(p) for p in combo)
            yield name, key, _value(path, name, value)


def load_commit(results_dir: str, machine: str, commit_hash: str) -> CommitResults:
    """Every measurement of ``commit_hash`` (a full hash or a unique prefix) on ``machine``.

    Parameters are stored in one spelling (:func:`canonical_param`), so that results
    written by different numpy or asv versions compare.

    Raises
    ------
    FileNotFoundError
        No result file of that commit on that machine.
    ResultsFileError
        A result file of that commit is corrupt (the message names it): the commit being
        judged is never judged on part of its results.
    """
    out = None
    found = []
    for path in _result_files(results_dir, machine):
        if not os.path.basename(path).startswith(commit_hash[:8]):
            continue
        data = _read_json(path)
        if _commit_of(path, data).startswith(commit_hash):
            found.append((os.path.getmtime(path), path, data))
    # several environments: merge the oldest file first, so the newest run of a benchmark
    # wins ("date" in a result file is the commit's date, not the run's)
    for _, path, data in sorted(found, key=lambda t: (t[0], t[1])):
        if out is None:
            out = CommitResults(data["commit_hash"], machine, _date_of(path, data) or None)
        out.files.append(path)
        for name, params, value in _measurements(path, data):
            out.values[(name, params)] = Measurement(name, params, value)
    if out is None:
        raise FileNotFoundError(
            f"no asv results for commit {commit_hash} on machine {machine!r} in {results_dir}"
        )
    return out
