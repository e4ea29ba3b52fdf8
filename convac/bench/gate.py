"""``convac gate BASE HEAD``: a CI regression gate over two commits' asv results.

Each metric gets the rule its unit declares in the metrics contract
(:mod:`convac.bench.metrics`; asv 0.6.6 counts every number as lower-is-better, so the suite's
tracked numbers are designed to be lower-is-better or change-is-a-bug).  A tracked number
whose unit is not declared there is a data error (exit 2), never a default tolerance:

=====================================  =============================================
benchmark                              rule
=====================================  =============================================
``track_*``, rule ``exact``            any change is a regression
(``rank``, ``rank deficit``, ...)
``track_*``, rule ``lower``            one-sided relative tolerance ``rtol``: a rise
(``relative error``)                  beyond it is a regression, a fall an improvement
``track_*``, rule ``two-sided``        two-sided relative tolerance ``rtol``: any change
(``relative floor``, ...)              beyond it is a regression
``track_*``, rule ``timing``,          a factor, only when ``--time-factor`` /
``time_*``, ``peakmem_*``              ``--mem-factor`` is given; else reported only
=====================================  =============================================

A measurement that succeeded on BASE and failed (or vanished) on HEAD is a regression for
every judged metric.  ``asv compare`` always exits 0 and ``asv continuous`` knows no
per-metric rules, hence this command; it benchmarks both commits with ``asv run`` (not
``--python=same``, which cannot build other commits) or, with ``--no-run``, reads the
results already stored.

Exit status of ``convac gate``: **0** no regression, **1** at least one regression, **2** a
usage or data error (a bad option or regular expression, an unknown git revision, with
git's own message, a missing or corrupt results file of BASE or HEAD, named by path).

``--quick`` (one sample per benchmark) measures into a scratch results folder
(``--scratch-dir``, default ``.asv/gate-quick`` beside the config) and reads from there:
one-sample numbers never replace the full results stored in the config's ``results_dir``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from .. import validate
from ..formatting import format_number
from .metrics import UNITS, rule_of
from .results import CommitResults, load_benchmarks, load_commit

__all__ = [
    "EXACT_UNITS",
    "ONE_SIDED_UNITS",
    "Rule",
    "Row",
    "rule_for",
    "compare",
    "format_rows",
    "resolve_commit",
    "asv_machine_name",
    "run_asv",
    "quick_config",
    "check_options",
    "gate",
]

EXACT_UNITS = frozenset(u.name for u in UNITS.values() if u.rule == "exact")
"""Units of tracked numbers that must not change at all (from :mod:`convac.bench.metrics`)."""

ONE_SIDED_UNITS = frozenset(u.name for u in UNITS.values() if u.rule == "lower")
"""Units of tracked numbers where only a rise is a regression."""


@dataclass(frozen=True)
class Rule:
    """How one metric is judged.

    ``kind`` is ``"exact"``, ``"rise"`` (one-sided relative tolerance), ``"change"``
    (two-sided relative tolerance), ``"factor"`` (timing/memory with a factor) or
    ``"info"`` (reported, never judged).
    """

    kind: str
    tolerance: float = 0.0

    def describe(self) -> str:
        if self.kind == "exact":
            return "exact"
        if self.kind in ("rise", "change"):
            sign = "+" if self.kind == "rise" else "±"
            return f"rtol {sign}{self.tolerance:g}"
        if self.kind == "factor":
            return f"x{self.tolerance:g}"
        return "info"


@dataclass(frozen=True)
class Row:
    """One compared measurement."""

    name: str
    params: tuple
    base: float | None
    head: float | None
    rule: Rule
    status: str  # "ok", "regression", "improved", "fixed", "new", "gone", "info", "skipped"

    @property
    def regression(self) -> bool:
        return self.status == "regression"


def rule_for(bench_type: str, unit: str, rtol: float, time_factor: float | None,
             mem_factor: float | None) -> Rule:
    """The :class:`Rule` for a benchmark of asv type ``bench_type`` and ``unit``."""
    if bench_type == "time":
        return Rule("factor", time_factor) if time_factor else Rule("info")
    if bench_type in ("peakmemory", "peakmem", "memory"):
        return Rule("factor", mem_factor) if mem_factor else Rule("info")
    declared = rule_of(unit)  # an undeclared unit raises: no default tolerance
    if declared == "exact":
        return Rule("exact")
    if declared == "lower":
        return Rule("rise", rtol)
    if declared == "timing":
        return Rule("factor", time_factor) if time_factor else Rule("info")
    return Rule("change", rtol)


def _usable(v) -> bool:
    return v is not None and not math.isnan(v)


def _judge(base, head, rule: Rule, atol: float) -> str:
    if not _usable(base) and not _usable(head):
        return "skipped"
    if rule.kind == "info":
        return "info"
    if not _usable(base):
        return "new" if head is not None else "skipped"
    if not _usable(head):
        return "regression"  # base had a value: failed, skipped or gone on head
    if rule.kind == "exact":
        return "ok" if head == base else "regression"
    if rule.kind == "factor":
        if head > base * rule.tolerance:
            return "regression"
        return "improved" if head * rule.tolerance < base else "ok"
    bound = rule.tolerance * abs(base) + atol
    if head > base + bound:
        return "regression"
    if head < base - bound:
        return "improved" if rule.kind == "rise" else "regression"
    return "ok"


def compare(base: CommitResults, head: CommitResults, benchmarks: dict, rtol: float = 1e-4,
            atol: float = 1e-9, time_factor: float | None = None,
            mem_factor: float | None = None, bench: str | None = None) -> list:
    """Compare every measurement of ``base`` and ``head``.

    Parameters
    ----------
    base, head : CommitResults
    benchmarks : dict
        ``{name: BenchmarkInfo}`` (``benchmarks.json``); a name missing there is judged
        from its prefix (``time_``, ``peakmem_``, else tracked with the ``change`` rule).
    rtol, atol : float
        Tolerances of the ``rise`` and ``change`` rules.
    time_factor, mem_factor : float, optional
        Judge ``time_*`` / ``peakmem_*`` against ``factor * base``; unjudged if omitted.
    bench : str, optional
        Regular expression; only benchmark names matching it are compared.

    Returns
    -------
    list of Row
    """
    rtol, atol, time_factor, mem_factor, pattern = check_options(rtol, atol, time_factor,
                                                                 mem_factor, bench)
    keys = sorted(set(base.values) | set(head.values), key=lambda k: (k[0], repr(k[1])))
    rows = []
    for name, params in keys:
        if pattern is not None and not pattern.search(name):
            continue
        info = benchmarks.get(name)
        short = name.rsplit(".", 1)[-1]
        btype = info.type if info else short.split("_", 1)[0]
        unit = info.unit if info else ""
        try:
            rule = rule_for(btype, unit, rtol, time_factor, mem_factor)
        except validate.InvalidValueError as exc:
            where = "benchmarks.json gives it no unit" if not unit else f"its unit is {unit!r}"
            raise validate.InvalidValueError(
                f"benchmark {name} ({btype}): {where}, which the metrics contract does not "
                f"declare; set its `unit` with declared_unit(...) from "
                f"convac/metrics.py ({exc})") from None
        b, h = base.get(name, params), head.get(name, params)
        bv = b.value if b is not None else None
        hv = h.value if h is not None else None
        if b is None and h is not None:
            status = "new" if _usable(hv) and rule.kind != "info" else _judge(bv, hv, rule, atol)
        elif h is None and b is not None and _usable(bv) and rule.kind != "info":
            status = "regression"  # the measurement vanished
        else:
            status = _judge(bv, hv, rule, atol)
        rows.append(Row(name, params, bv, hv, rule, status))
    return rows


def check_options(rtol, atol, time_factor, mem_factor, bench):
    """Validated gate options; ``bench`` compiled.  Raises a ValueError naming the option."""
    rtol = validate.real(rtol, "rtol", 0.0)
    atol = validate.real(atol, "atol", 0.0)
    factors = [None if f is None else validate.real(f, name, 1.0)
               for f, name in ((time_factor, "time_factor"), (mem_factor, "mem_factor"))]
    pattern = None
    if bench is not None:
        if not isinstance(bench, str):
            raise validate.InvalidTypeError(f"bench must be a regular expression string, "
                                            f"got {bench!r}")
        try:
            pattern = re.compile(bench)
        except re.error as exc:
            raise validate.InvalidValueError(
                f"bench must be a valid regular expression, got {bench!r} ({exc})") from None
    return rtol, atol, *factors, pattern


def _fmt(v) -> str:
    return format_number(v, missing="failed", nan="n/a")


STATUS_WORDS = {
    "info": "info (timings and memory, shown but not judged: pass --time-factor or "
            "--mem-factor to judge them)",
    "skipped": "skipped (not measured on either commit)",
}
"""How the summary line names a status that is not self-explanatory."""


def format_rows(rows: list, show_all: bool = False) -> str:
    """A plain-text table: judged rows that are not ``ok`` (or every row with ``show_all``)
    and a one-line summary."""
    shown = [r for r in rows if show_all or r.status not in ("ok", "info", "skipped")]
    head = ("status", "benchmark", "params", "base", "head", "ratio", "rule")
    cells = []
    for r in shown:
        ratio = ""
        if _usable(r.base) and _usable(r.head) and r.base != 0:
            ratio = f"{r.head / r.base:.3g}"
        params = ", ".join(map(str, r.params))
        cells.append((r.status.upper() if r.regression else r.status, r.name, params,
                      _fmt(r.base), _fmt(r.head), ratio, r.rule.describe()))
    lines = []
    if cells:
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) for c in cells]
    counts = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in sorted(counts.items()))
    lines.append(f"{len(rows)} measurements compared: {summary or 'none'}")
    return "\n".join(lines)


def _git(repo: str, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise RuntimeError(f"cannot run git: {exc}") from None
    if proc.returncode != 0:
        reason = proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}"
        raise validate.InvalidValueError(f"git {' '.join(args)} failed in {repo}: {reason}")
    return proc.stdout.strip()


def resolve_commit(repo: str, ref: str) -> str:
    """Full hash of ``ref`` in the git repository ``repo`` (an error quotes git's own
    message and the revision)."""
    if not isinstance(ref, str) or not ref or ref.startswith("-"):
        raise validate.InvalidValueError(f"expected a git revision, got {ref!r}")
    return _git(repo, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")


def _asv(config: str, *args: str, check: bool = False,
         quiet: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "asv", *args, "--config", config]
    print("$ " + " ".join(cmd[2:]), flush=True)
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=quiet, text=True)
    if check and proc.returncode != 0:
        detail = f":\n{proc.stdout}{proc.stderr}" if quiet else ""
        raise RuntimeError(f"{' '.join(cmd[2:])} exited {proc.returncode}{detail}")
    return proc


def asv_machine_name(config: str, machine: str | None = None) -> str:
    """Make sure asv knows this machine (non-interactively) and return its name; asv's
    questionnaire is printed only when it fails."""
    args = ["machine", "--yes"] + (["--machine", machine] if machine else [])
    _asv(config, *args, check=True, quiet=True)
    if machine:
        return machine
    from asv.machine import Machine

    return Machine.get_unique_machine_name()


def run_asv(config: str, commit: str, machine: str, quick: bool = False,
            bench: str | None = None, extra: tuple = ()) -> int:
    """``asv run`` of one commit; returns asv's exit code (non-zero if a benchmark failed,
    which :func:`compare` then sees in the results)."""
    args = ["run", f"{commit}^!", "--machine", machine]
    if quick:
        args.append("--quick")
    if bench:
        args += ["--bench", bench]
    return _asv(config, *args, *extra).returncode


def _config_paths(config: str) -> tuple:
    """``(repo, results_dir)`` of an asv config file, relative paths resolved."""
    from asv.config import Config

    conf = Config.load(config)
    base = os.path.dirname(os.path.abspath(config))
    repo = conf.repo if os.path.isabs(conf.repo) else os.path.join(base, conf.repo)
    results = conf.results_dir
    results = results if os.path.isabs(results) else os.path.join(base, results)
    return repo, results


_PATH_KEYS = ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir")


def quick_config(config: str, scratch_dir: str) -> str:
    """A copy of the asv ``config`` whose results (and html) go to ``scratch_dir``.

    Every relative path of the original is made absolute, so the copy lives in
    ``scratch_dir`` and shares the original's environments (no rebuild) but never writes
    to its ``results_dir``.

    Returns
    -------
    str
        Path of the copy, ``scratch_dir/asv.conf.json``.
    """
    from asv.util import load_json

    conf = load_json(config, js_comments=True)
    base = os.path.dirname(os.path.abspath(config))
    defaults = {"repo": ".", "benchmark_dir": "benchmarks", "env_dir": "env",
                "results_dir": "results", "html_dir": "html"}
    for key in _PATH_KEYS:
        value = conf.get(key, defaults[key])
        if key == "repo" and "://" in value:
            continue  # a remote repository: asv clones it itself
        conf[key] = value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))
    scratch = os.path.abspath(scratch_dir)
    if os.path.normpath(conf["results_dir"]) == scratch:
        raise validate.InvalidValueError(
            f"scratch_dir {scratch_dir!r} is the stored results_dir; quick measurements "
            "must go elsewhere")
    conf["results_dir"] = os.path.join(scratch, "results")
    conf["html_dir"] = os.path.join(scratch, "html")
    os.makedirs(scratch, exist_ok=True)
    path = os.path.join(scratch, "asv.conf.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(conf, fh, indent=2)
    return path


def gate(base_ref: str, head_ref: str, config: str = "asv.conf.json", run: bool = True,
         quick: bool = False, bench: str | None = None, machine: str | None = None,
         rtol: float = 1e-4, atol: float = 1e-9, time_factor: float | None = None,
         mem_factor: float | None = None, show_all: bool = False,
         skip_existing: bool = False, scratch_dir: str | None = None) -> int:
    """Benchmark (or read) two commits, print the comparison, return 1 on a regression.

    ``skip_existing`` passes ``--skip-existing-successful`` to ``asv run``: measurements
    already stored for a commit are reused (a base commit benchmarked before, say).
    ``quick`` runs (and reads) one-sample measurements in ``scratch_dir`` (default
    ``.asv/gate-quick`` beside ``config``), never in the stored ``results_dir``.

    Returns
    -------
    int
        0 without a regression, 1 with one.

    Raises
    ------
    ValueError
        A bad option, an unknown revision, missing or corrupt results (exit status 2).
    """
    check_options(rtol, atol, time_factor, mem_factor, bench)  # before any benchmark runs
    if not os.path.isfile(config):
        raise validate.InvalidValueError(
            f"asv config {config!r} not found (expected an asv.conf.json)")
    repo, _ = _config_paths(config)
    base_hash, head_hash = resolve_commit(repo, base_ref), resolve_commit(repo, head_ref)
    if quick:
        scratch = scratch_dir or os.path.join(os.path.dirname(os.path.abspath(config)),
                                              ".asv", "gate-quick")
        config = quick_config(config, scratch)
    _, results_dir = _config_paths(config)
    machine = asv_machine_name(config, machine) if run else (machine or _default_machine())
    if run:
        extra = ("--skip-existing-successful",) if skip_existing else ()
        for commit in dict.fromkeys((base_hash, head_hash)):
            run_asv(config, commit, machine, quick, bench, extra)
    base = load_commit(results_dir, machine, base_hash)
    head = load_commit(results_dir, machine, head_hash)
    rows = compare(base, head, load_benchmarks(results_dir), rtol, atol, time_factor,
                   mem_factor, bench)
    print(f"convac gate: base {base_ref} ({base_hash[:8]}) -> head {head_ref} "
          f"({head_hash[:8]}) on machine {machine!r}")
    print(format_rows(rows, show_all))
    regressions = sum(r.regression for r in rows)
    print("FAIL: " + f"{regressions} regression(s)" if regressions else "PASS: no regression")
    return 1 if regressions else 0


def _default_machine() -> str:
    from asv.machine import Machine

    return Machine.get_unique_machine_name()
