"""A cheap experiment that exercises the runner: ``i -> i*i``, with configurable failures,
sleeps and one worker death (tests of resume, a killed worker, a failing configuration)."""

from __future__ import annotations

import os
import time

from ..validate import integer, real
from .runner import Experiment

__all__ = ["experiment", "compute", "format_summary"]


def compute(config: dict) -> dict:
    """``{"square": i*i}``; raises for ``fail``; exits the worker process once (the first
    time it sees ``die_marker`` absent) when ``die_marker`` is set."""
    if config["sleep"]:
        time.sleep(config["sleep"])
    marker = config.get("die_marker")
    if marker and not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write(str(os.getpid()))
        os._exit(1)  # a worker killed mid-task, as by the OOM killer
    if config["fail"]:
        raise ValueError(f"configuration {config['i']} fails on purpose")
    return {"square": config["i"] ** 2}


def experiment(n: int = 40, fail=(), sleep: float = 0.0, die_at: int | None = None,
               die_marker: str | None = None, batch_size: int = 4) -> Experiment:
    """``n`` configurations; those in ``fail`` raise; ``die_at`` kills its worker once."""
    n = integer(n, "n", minimum=1)
    sleep = real(sleep, "sleep", minimum=0.0)
    fail = frozenset(integer(i, "fail[]") for i in fail)

    def config(i: int) -> dict:
        return {"i": i, "fail": i in fail, "sleep": sleep,
                "die_marker": die_marker if i == die_at else None}

    return Experiment(
        "selftest", n, config, lambda c: f"i={c['i']}", compute,
        batch_size=integer(batch_size, "batch_size", minimum=1),
        options={"n": n, "fail": sorted(fail), "sleep": sleep},
    )


def format_summary(records) -> str:
    """Counts by status."""
    ok = sum(r["status"] == "ok" for r in records)
    return f"{len(records)} results: {ok} ok, {len(records) - ok} errors"
