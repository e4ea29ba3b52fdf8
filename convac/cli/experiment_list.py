"""``convac experiment list``: the experiments' names (imports no optional library)."""

from __future__ import annotations

from ..experiments import EXPERIMENTS


def _list(args) -> int:
    for name, (_, doc) in EXPERIMENTS.items():
        print(f"{name:18s} {doc}")
    return 0
