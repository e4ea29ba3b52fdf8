"""Append-only Parquet store of experiment results, keyed by configuration.

One folder per run.  Every finished batch becomes one small Parquet part file, written
under a temporary name and renamed into place (``os.replace`` is atomic on POSIX), so a
reader, or a run resumed after a kill at any instant, sees whole batches or nothing: a
finished configuration is never lost and never half-written.  Leftover ``*.tmp`` files of
a killed writer are ignored.  ``meta.json`` records which experiment the store belongs
to, so ``--resume`` cannot mix two experiments.

Schema (one row per configuration): ``key`` (the configuration's stable key), ``status``
(``"ok"``, ``"error"`` or ``"refused"``: over its memory budget), ``error`` (the exception
or the refusal, or ``""``), ``config`` and ``result`` (JSON text; of a refusal, the bytes
it needs and the budget), ``seconds`` (compute time), ``worker`` (``host:pid``),
``finished`` (Unix time), ``code`` (JSON text: which code computed the row, the package
version, git commit and whether its checkout had uncommitted changes; ``""`` in parts
written before the column existed, which are read as such).  JSON columns keep one schema
for every experiment.  A
configuration refused, then computed by a run resumed with a larger budget, has a second
row; the later one counts (:meth:`ResultStore.records`).

Each part also carries the store's ``experiment`` and ``options`` in its Parquet metadata:
a part copied in from a run with other options is refused (:class:`ForeignPartError`)
instead of being counted.  A part that cannot be read (truncated, corrupted, empty) is an
:class:`UnreadablePartError` naming it; readers may skip such parts (``convac experiment
show`` warns and exits 1) and ``--resume`` moves them to ``quarantine/`` inside the store
and recomputes their configurations.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid

from ..validate import ConvACError, InvalidValueError

__all__ = ["ResultStore", "SCHEMA_FIELDS", "UnreadablePartError", "ForeignPartError",
           "QUARANTINE", "UNRECORDED_CODE", "decoded", "code_label", "record_code",
           "DEFAULT_STORE_ROOT"]

QUARANTINE = "quarantine"
"""Sub-folder of a store where ``--resume`` moves unreadable part files."""
OWNER_KEY = b"convac.store"
"""Parquet metadata key of a part: the JSON of the store's experiment and options."""


class UnreadablePartError(ConvACError, OSError):
    """A part file of a store cannot be read; ``path`` names it."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"unreadable part file {path}: {reason}")
        self.path = path


class ForeignPartError(InvalidValueError):
    """A part file was written by a run with another experiment or other options."""
DEFAULT_STORE_ROOT = os.path.join("reports", "experiments")
"""The folder of the experiments' stores (one per experiment, by name)."""

SCHEMA_FIELDS = ("key", "status", "error", "config", "result", "seconds", "worker", "finished",
                 "code")

UNRECORDED_CODE = ""
"""``code`` of the rows of parts written before the column existed."""


def _fits(refusal: str, max_bytes: int) -> bool:
    """Whether a refused configuration's stored need (JSON of
    :meth:`convac.validate.BudgetError.record`) fits ``max_bytes``; a refusal that stored
    no need is tried again."""
    needed = json.loads(refusal).get("needed_bytes") if refusal else None
    return needed is None or needed <= max_bytes


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def _schema():
    pa, _ = _pa()
    return pa.schema([
        ("key", pa.string()), ("status", pa.string()), ("error", pa.string()),
        ("config", pa.string()), ("result", pa.string()), ("seconds", pa.float64()),
        ("worker", pa.string()), ("finished", pa.float64()), ("code", pa.string()),
    ])


def decoded(row: dict) -> dict:
    """``row`` (a record as stored) with ``config``, ``result`` and ``code`` decoded from
    their JSON text, in place: ``result`` None for a failed configuration, ``code`` None
    where it was not recorded; returns ``row``."""
    row["config"] = json.loads(row["config"])
    row["result"] = json.loads(row["result"]) if row["result"] else None
    row["code"] = json.loads(row["code"]) if row["code"] else None
    return row


def record_code(record: dict) -> dict | None:
    """The code that computed a decoded record: its ``code``, else, for a row stored
    before the store kept it, the ``code`` an experiment stored in its result, else
    None."""
    result = record.get("result")
    return record.get("code") or (result.get("code") if isinstance(result, dict) else None)


def code_label(code: dict | None) -> str:
    """A short name of the code that computed a record (its decoded ``code``): convac's
    version and the commit (``+modified``: with uncommitted changes)."""
    if not code:
        return "not recorded"
    commit = (code.get("commit") or "no git checkout")[:10]
    return (f"convac {code.get('convac')} {commit}"
            + (" +modified" if code.get("modified") else ""))


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
        self.skipped: list = []  # (path, reason) of the parts the last read skipped

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

    def owner(self) -> str | None:
        """The JSON text of the store's experiment and options (``None`` for a new store),
        as each part records it."""
        meta = self.meta()
        if meta is None:
            return None
        return json.dumps({"experiment": meta.get("experiment"),
                           "options": meta.get("options")}, sort_keys=True)

    def check_writable(self) -> None:
        """Raise :class:`InvalidValueError` when no file can be created in the store (a
        read-only folder or file system): say so before any work is done."""
        os.makedirs(self.path, exist_ok=True)
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.path)
        except OSError as exc:
            raise InvalidValueError(
                f"store {self.path} is not writable ({exc.strerror or exc}); a run writes "
                "new part files there: copy the store to a writable folder (--store) or "
                "fix its permissions") from None
        os.close(fd)
        os.remove(probe)

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
        schema = _schema()
        owner = self.owner()
        if owner is not None:
            schema = schema.with_metadata({OWNER_KEY: owner.encode()})
        table = pa.Table.from_pylist([{f: r[f] for f in SCHEMA_FIELDS} for r in records],
                                     schema=schema)
        os.makedirs(self.path, exist_ok=True)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        path = os.path.join(self.path, name)
        self._atomic_write(path, sink.getvalue().to_pybytes())
        return path

    def read_part(self, path: str, columns=None):
        """One part as a ``pyarrow.Table``.

        Raises
        ------
        UnreadablePartError
            The file is truncated, corrupted, empty or otherwise no Parquet of this schema.
        ForeignPartError
            It was written by a run with another experiment or other options.
        """
        pa, pq = _pa()
        try:
            table = pq.read_table(path)
            if table.schema.names == list(SCHEMA_FIELDS[:-1]):  # written before ``code``
                table = table.append_column(
                    "code", pa.array([UNRECORDED_CODE] * table.num_rows, pa.string()))
            if table.schema.names != list(SCHEMA_FIELDS):
                raise ValueError(f"columns {table.schema.names}, expected {SCHEMA_FIELDS}")
        except (OSError, ValueError, TypeError) as exc:  # pyarrow's errors are among these
            raise UnreadablePartError(path, f"{type(exc).__name__}: {exc}") from None
        written_by = (table.schema.metadata or {}).get(OWNER_KEY)
        owner = self.owner()
        if written_by is not None and owner is not None and written_by.decode() != owner:
            raise ForeignPartError(
                f"part file {path} was written by another run ({written_by.decode()}); "
                f"this store holds {owner}: move it out of {self.path}")
        return table if columns is None else table.select(list(columns))

    def read(self, columns=None, skip_unreadable: bool = False):
        """All finished rows as one ``pyarrow.Table`` (empty table for a new store).

        With ``skip_unreadable``, unreadable parts are left out and listed in
        :attr:`skipped` as ``(path, reason)``; otherwise the first raises
        :class:`UnreadablePartError`.  A part of another run always raises
        :class:`ForeignPartError`.
        """
        pa, _ = _pa()
        self.skipped = []
        tables = []
        for path in self.parts():
            try:
                tables.append(self.read_part(path, columns))
            except UnreadablePartError as exc:
                if not skip_unreadable:
                    raise
                self.skipped.append((path, str(exc)))
        if not tables:
            return _schema().empty_table() if columns is None else \
                _schema().empty_table().select(list(columns))
        return pa.concat_tables(tables)

    def quarantine_unreadable(self) -> list:
        """Move every unreadable part to :data:`QUARANTINE` inside the store; return
        ``[(new path, reason)]``.  Their configurations count as not computed."""
        moved = []
        for path in self.parts():
            try:
                self.read_part(path, ["key"])
            except UnreadablePartError as exc:
                folder = os.path.join(self.path, QUARANTINE)
                os.makedirs(folder, exist_ok=True)
                target = os.path.join(folder, os.path.basename(path))
                shutil.move(path, target)
                moved.append((target, str(exc)))
        return moved

    def keys(self) -> set:
        """Keys of every finished configuration."""
        return set(self.read(["key"]).column("key").to_pylist())

    def settled_keys(self, max_bytes: int | None = None) -> set:
        """Keys a resumed run skips: every stored configuration except those whose
        latest record is a refusal that the budget ``max_bytes`` now fits (or that
        stored no size, from before refusals did); with ``max_bytes=None`` (a run
        without a budget), every stored configuration."""
        if max_bytes is None:
            return self.keys()
        table = self.read(["key", "status", "result"])
        latest = dict(zip(table.column("key").to_pylist(),
                          zip(table.column("status").to_pylist(),
                              table.column("result").to_pylist(), strict=True), strict=True))
        return {key for key, (status, result) in latest.items()
                if status != "refused" or not _fits(result, max_bytes)}

    def records(self, skip_unreadable: bool = False) -> list[dict]:
        """The latest row of every configuration as a dict (a configuration refused under
        a smaller budget and computed by a resumed run has two rows: the later one
        counts), with ``config``, ``result`` and ``code`` decoded from JSON (``code`` None
        where unrecorded; ``skip_unreadable``: see :meth:`read`)."""
        rows = self.read(skip_unreadable=skip_unreadable).to_pylist()
        rows = list({row["key"]: row for row in rows}.values())  # parts in write order
        return [decoded(row) for row in rows]

    def __len__(self) -> int:
        """Rows of the parts whose footer can be read (an unreadable part counts 0)."""
        _, pq = _pa()
        total = 0
        for path in self.parts():
            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except (OSError, ValueError):
                continue
        return total
