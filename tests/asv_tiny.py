"""A tiny asv project in a temporary git repository, for the gate, report and browser tests.

The package ``tinyrank`` has no dependencies, so asv's virtualenv builds in seconds.  Its
suite has a tracked rank (unit ``rank``), a fit error (unit ``relative error``), a timing
and a benchmark that always raises.  Commits: ``A`` (rank 3), ``B`` (a README change, same
numbers), ``C`` (rank 4).  All three are benchmarked once per test process.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

__all__ = ["TinyRepo", "tiny_repo", "convac_cli", "asv_env", "MACHINE"]

MACHINE = "convac-tiny-test"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"

BENCH = '''
"""Tiny suite: a rank (exact), a fit error (tolerance), a timing and a broken benchmark."""
import tinyrank


class Ranks:
    unit = "rank"

    def track_rank(self):
        """The package's rank: any change is a bug."""
        return tinyrank.rank()


def track_fit_error():
    """A fit error: lower is better."""
    return 0.25


track_fit_error.unit = "relative error"


def time_sum():
    """A timing."""
    sum(range(1000))


def track_broken():
    """Always raises: the other results must still be recorded."""
    raise RuntimeError("deliberately broken benchmark")


track_broken.unit = "rank"  # every tracked number has a declared unit (convac.bench.metrics)
'''


def _conf() -> dict:
    return {
        "version": 1, "project": "tinyrank", "project_url": "https://example.invalid/",
        "repo": ".", "dvcs": "git", "branches": ["main"], "environment_type": "virtualenv",
        "pythons": [PY],
        "matrix": {"req": {"setuptools": ["80.9.0"], "wheel": ["0.45.1"]}},
        "build_command": ["python -m pip wheel --no-deps --no-build-isolation --no-index "
                          "-w {build_cache_dir} {build_dir}"],
        "install_command": ["in-dir={env_dir} python -m pip install --no-deps --no-index "
                            "{wheel_file}"],
        "uninstall_command": ["return-code=any python -m pip uninstall -y {project}"],
        "launch_method": "forkserver", "benchmark_dir": "benchmarks", "env_dir": ".asv/env",
        "results_dir": "reports/results", "html_dir": "reports/html",
    }


@functools.lru_cache(maxsize=1)
def _asv_home() -> str:
    home = tempfile.mkdtemp(prefix="convac-asv-home-")
    atexit.register(shutil.rmtree, home, True)
    return home


def asv_env() -> dict:
    """The environment (the current one) of every asv or convac process a test starts,
    with ``HOME`` a folder of this test process: asv's machine file
    (``~/.asv-machine.json``, rewritten in place by ``asv machine``) is then never read
    half-written by a test tier or benchmark run beside it.  The XDG folders keep their
    places, so pip's, virtualenv's and matplotlib's caches are the user's as before."""
    env = dict(os.environ, HOME=_asv_home())
    for var, default in (("XDG_CACHE_HOME", "~/.cache"), ("XDG_CONFIG_HOME", "~/.config"),
                         ("XDG_DATA_HOME", "~/.local/share")):
        env.setdefault(var, os.path.expanduser(default))
    return env


def _git(repo: str, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    out = subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                         text=True, env=env)
    return out.stdout.strip()


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def convac_cli(*args: str, cwd: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m convac.cli ARGS`` in ``cwd``, no stdin, output captured."""
    return subprocess.run([sys.executable, "-m", "convac.cli", *args], cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, env=asv_env())


class TinyRepo:
    """Paths and commits of the tiny project."""

    def __init__(self, root: str):
        self.root = root
        self.config = os.path.join(root, "asv.conf.json")
        self.results_dir = os.path.join(root, "reports", "results")
        self.commits: dict = {}
        self.run_outputs: dict = {}

    def asv(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "asv", *args, "--config", self.config],
                              cwd=self.root, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=600, env=asv_env())


def _make(root: str) -> TinyRepo:
    repo = TinyRepo(root)
    _git(root, "init", "-q", "-b", "main")
    _write(os.path.join(root, "pyproject.toml"), textwrap.dedent("""
        [build-system]
        requires = ["setuptools", "wheel"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "tinyrank"
        version = "0.0.1"
        [tool.setuptools]
        packages = ["tinyrank"]
    """))
    _write(os.path.join(root, "tinyrank", "__init__.py"), "def rank():\n    return 3\n")
    _write(os.path.join(root, "benchmarks", "__init__.py"), "")
    _write(os.path.join(root, "benchmarks", "bench_tiny.py"), BENCH)
    _write(os.path.join(root, "asv.conf.json"), json.dumps(_conf(), indent=2))
    _write(os.path.join(root, ".gitignore"), ".asv/\nreports/\n")
    _write(os.path.join(root, "README.md"), "tiny\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "A: rank 3")
    repo.commits["A"] = _git(root, "rev-parse", "HEAD")
    _write(os.path.join(root, "README.md"), "tiny, same numbers\n")
    _git(root, "commit", "-q", "-am", "B: docs only")
    repo.commits["B"] = _git(root, "rev-parse", "HEAD")
    _write(os.path.join(root, "tinyrank", "__init__.py"), "def rank():\n    return 4\n")
    _git(root, "commit", "-q", "-am", "C: rank 4")
    repo.commits["C"] = _git(root, "rev-parse", "HEAD")
    machine = repo.asv("machine", "--yes", "--machine", MACHINE)
    if machine.returncode != 0:
        raise RuntimeError(f"asv machine failed: {machine.stderr}")
    return repo


@functools.lru_cache(maxsize=1)
def tiny_repo() -> TinyRepo:
    """The tiny project, created once per process (removed at exit)."""
    root = tempfile.mkdtemp(prefix="convac-tiny-asv-")
    atexit.register(shutil.rmtree, root, True)
    return _make(root)


@functools.lru_cache(maxsize=1)
def benchmarked() -> TinyRepo:
    """:func:`tiny_repo` with commits A, B and C benchmarked (``asv run --quick``)."""
    repo = tiny_repo()
    for label in ("A", "B", "C"):
        proc = repo.asv("run", "--quick", "--machine", MACHINE, f"{repo.commits[label]}^!")
        repo.run_outputs[label] = proc
    return repo
