"""A finished run's summary with its provenance, as a small JSON file to commit.

The Parquet stores are large and ignored by git (the full Levine grid is ~75 MB); the
report shows a full run on a machine without its store from the committed summary
``reports/published/NAME.json``, labelled with where and when it was published, by which
commit (``computed_by``), and how many records each commit computed (``code``).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess

from .. import jsonio
from . import experiment_module
from .store import code_label, record_code

__all__ = ["PUBLISHED", "write_published", "read_published", "code_counts",
           "provenance_text"]

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


def code_counts(records) -> dict:
    """Records per code that computed them (:func:`~convac.experiments.store.code_label` of
    :func:`~convac.experiments.store.record_code`; ``"not recorded"`` where neither the
    row nor its result names it)."""
    counts: dict = {}
    for rec in records:
        label = code_label(record_code(rec))
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


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
        "code": code_counts(records),
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


def provenance_text(doc: dict) -> str:
    """One line on where a published summary (:func:`read_published`) comes from: its
    file, records, when and by which commit it was written, and which code computed how
    many of its records."""
    by = doc["computed_by"]
    size = f" of {doc['grid_size']} configurations" if doc.get("grid_size") else ""
    codes = doc.get("code")
    computed = ("; records per code: " + ", ".join(f"{k} ({v})" for k, v in codes.items())
                if codes else "")
    return (f"{doc['path']}: the committed summary of {doc['records']} results{size}, "
            f"written {doc['written']} by commit {by['commit']} on {by['cpus']} cores"
            f"{computed}")


def read_published(name: str, root: str = PUBLISHED) -> dict | None:
    """The committed summary of ``name`` (``root/NAME.json``), or None."""
    path = os.path.join(root, f"{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as fh:
        doc = json.load(fh)
    doc["path"] = path
    return doc
