"""Append-only Parquet store of experiment results, keyed by configuration.

One folder per run.  Every finished batch becomes one small Parquet part file, written
under a temporary name and renamed into place (``os.replace`` is atomic on POSIX), so a
reader, or a run resumed after a kill at any instant, sees whole batches or nothing: a
finished configuration is never lost and never half-written.  Leftover ``*.tmp`` files of
a killed writer are ignored.  ``meta.json`` records which experiment the store belongs
to, so ``--resume`` cannot mix two experiments.

Schema (one row per configuration): ``key`` (the configuration's stable key), ``status``
(``"ok"`` or ``"error"``), ``error`` (the exception, or ``""``), ``config`` and ``result``
(JSON text), ``seconds`` (compute time), ``worker`` (``host:pid``), ``finished`` (Unix
time).  JSON columns keep one schema for every experiment.
"""

from __future__ import annotations

import json
import os
import time
import uuid

from ..validate import InvalidValueError

__all__ = ["ResultStore", "SCHEMA_FIELDS", "DEFAULT_STORE_ROOT"]

DEFAULT_STORE_ROOT = os.path.join("reports", "experiments")
"""The folder of the experiments' stores (one per experiment, by name)."""

SCHEMA_FIELDS = ("key", "status", "error", "config", "result", "seconds", "worker", "finished")


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def _schema():
    pa, _ = _pa()
    return pa.schema([
        ("key", pa.string()), ("status", pa.string()), ("error", pa.string()),
        ("config", pa.string()), ("result", pa.string()), ("seconds", pa.float64()),
        ("worker", pa.string()), ("finished", pa.float64()),
    ])


class ResultStore:
    """A folder of Parquet part files, one per appended batch.

    Parameters
    ----------
    path : str
        The folder (created on first write).
    """

    def __init__(self, path: str):
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise InvalidValueError(f"store path must be a non-empty path, got {path!r}")
        self.path = os.fspath(path)

    # -- metadata --------------------------------------------------------------------
    @property
    def meta_path(self) -> str:
        return os.path.join(self.path, "meta.json")

    def meta(self) -> dict | None:
        """The store's ``meta.json`` (``None`` for a new store)."""
        if not os.path.exists(self.meta_path):
            return None
        with open(self.meta_path) as fh:
            return json.load(fh)

    def claim(self, meta: dict) -> None:
        """Write ``meta`` for a new store, or check that an existing store has the same
        ``experiment`` and ``options`` (results of two settings never mix); raises
        ``InvalidValueError`` naming both otherwise."""
        old = self.meta()
        if old is not None:
            meta = json.loads(json.dumps(meta, sort_keys=True))  # tuples -> lists
            for field in ("experiment", "options"):
                if old.get(field) != meta.get(field):
                    raise InvalidValueError(
                        f"store {self.path} holds {field} {old.get(field)!r}, expected "
                        f"{meta.get(field)!r}; choose another --store"
                    )
            return
        os.makedirs(self.path, exist_ok=True)
        self._atomic_write(self.meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())

    # -- parts -----------------------------------------------------------------------
    def parts(self) -> list[str]:
        """Finished part files, in name (= write-time) order."""
        if not os.path.isdir(self.path):
            return []
        return sorted(os.path.join(self.path, f) for f in os.listdir(self.path)
                      if f.startswith("part-") and f.endswith(".parquet"))

    @staticmethod
    def _atomic_write(path: str, data: bytes) -> None:
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: the part appears whole or not at all

    def append(self, records: list[dict]) -> str | None:
        """Write ``records`` (dicts with :data:`SCHEMA_FIELDS`) as one new part file.

        Returns the part's path (``None`` for no records).
        """
        if not records:
            return None
        pa, pq = _pa()
        missing = [f for f in SCHEMA_FIELDS if f not in records[0]]
        if missing:
            raise InvalidValueError(f"records lack the fields {missing}; expected {SCHEMA_FIELDS}")
        table = pa.Table.from_pylist([{f: r[f] for f in SCHEMA_FIELDS} for r in records],
                                     schema=_schema())
        os.makedirs(self.path, exist_ok=True)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        path = os.path.join(self.path, name)
        self._atomic_write(path, sink.getvalue().to_pybytes())
        return path

    def read(self, columns=None):
        """All finished rows as one ``pyarrow.Table`` (empty table for a new store)."""
        pa, pq = _pa()
        parts = self.parts()
        if not parts:
            return _schema().empty_table() if columns is None else \
                _schema().empty_table().select(list(columns))
        return pa.concat_tables(pq.read_table(p, columns=columns) for p in parts)

    def keys(self) -> set:
        """Keys of every finished configuration."""
        return set(self.read(["key"]).column("key").to_pylist())

    def records(self) -> list[dict]:
        """Every row as a dict, with ``config`` and ``result`` decoded from JSON."""
        rows = self.read().to_pylist()
        for row in rows:
            row["config"] = json.loads(row["config"])
            row["result"] = json.loads(row["result"]) if row["result"] else None
        return rows

    def __len__(self) -> int:
        _, pq = _pa()
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.parts())
