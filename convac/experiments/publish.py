"""A finished run's summary with its provenance, as a small JSON file to commit.

The Parquet stores are large and ignored by git (the full Levine grid is ~75 MB); the
report shows a full run on a machine without its store from the committed summary
``reports/published/NAME.json``, labelled with where, when and by which commit it was
computed.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess

from .. import jsonio
from . import experiment_module

__all__ = ["PUBLISHED", "write_published", "read_published"]

PUBLISHED = os.path.join("reports", "published")


def git_output(*args: str) -> str | None:
    """Output of ``git args`` run in the package's folder (``convac/``), or None outside a
    checkout (or without git)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                             cwd=package, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _json_keys(value):
    # summaries key some counts by float ratios (bound / rank): JSON keys must be strings
    if isinstance(value, dict):
        return {str(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


def write_published(name: str, records, store, path: str) -> str:
    """Write ``name``'s summary of ``records`` (from ``store``) to ``path``; return it.

    Parameters
    ----------
    name : str
        The experiment (``convac experiment list``).
    records : list of dict
        The store's records (``ResultStore.records()``).
    store : ResultStore
        Where they came from (its ``meta()`` gives the grid's size and options).
    path : str
        The JSON file to write (folders are created).
    """

    module = experiment_module(name)
    meta = store.meta() or {}
    doc = {
        "experiment": name,
        "summary": _json_keys(module.summarize(records)),
        "records": len(records),
        "grid_size": meta.get("size"),
        "options": meta.get("options", {}),
        "throughput": module.throughput(records) if hasattr(module, "throughput") else None,
        "computed_by": {"commit": git_output("rev-parse", "HEAD") or None,
                        "machine": platform.node(), "cpus": os.cpu_count(),
                        "python": platform.python_version()},
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "store": os.path.abspath(store.path),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        jsonio.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return path


def read_published(name: str, root: str = PUBLISHED) -> dict | None:
    """The committed summary of ``name`` (``root/NAME.json``), or None."""
    path = os.path.join(root, f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        doc = json.load(fh)
    doc["path"] = path
    return doc
