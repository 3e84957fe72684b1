"""Writing a backup: rows from one read snapshot, then every media object, then the checksums.

Rows are read first, inside one transaction that sees a single moment (REPEATABLE READ and READ ONLY
on Postgres; on SQLite a deferred read transaction, a snapshot in WAL mode, that does not take the
write lock the app's BEGIN IMMEDIATE would). Media are copied afterwards: a file uploaded meanwhile
is an orphan in the copy (harmless), and a file deleted meanwhile whose row the snapshot still holds
is listed in the manifest as `missing` and reported, never silently dropped.
"""
from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from app.backup.archive import CHECKSUMS, HEADER, MANIFEST, BackupError, TarWriter, media_member, table_member
from app.backup.manifest import FORMAT, FORMAT_VERSION, Progress, sealed
from app.backup.rows import TableCodec, dump_lines
from app.backup.signing import signed
from app.core import migrate
from app.core.db import SQLITE_BUSY_TIMEOUT_MS, utcnow
from app.core.storage import Storage
from app.files.references import STORAGE_COLUMNS


@dataclass
class BackupSummary:
    schema_revision: str
    created_at: str
    counts: dict[str, int]
    media_objects: int = 0
    media_bytes: int = 0
    missing_media: list[str] = field(default_factory=list)  # referenced by a row, deleted during the backup
    members: int = 0


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose every query sees the same committed state."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                connection.execute(text("SET TRANSACTION READ ONLY"))
                yield connection
        return
    reader = create_engine(engine.url, poolclass=NullPool)
    event.listen(reader, "connect", _sqlite_reader)
    event.listen(reader, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    try:
        with reader.connect() as connection, connection.begin():
            yield connection
    finally:
        reader.dispose()


def _sqlite_reader(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # BEGIN is ours: deferred, so it takes no write lock
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


_LEDGER_INSERT = {kind: f"INSERT OR IGNORE INTO {kind} VALUES (?)" for kind in ("referenced", "archived")}  # noqa: S608


class KeyLedger:
    """Keys the rows reference and keys archived, on disk (an SQLite scratch file): flat memory."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE referenced (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute("CREATE TABLE archived (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, kind: str, keys: list[str]) -> None:
        self.db.executemany(_LEDGER_INSERT[kind], [(k,) for k in keys])

    def missing(self, limit: int = 1000) -> list[str]:
        rows = self.db.execute("SELECT key FROM referenced WHERE key NOT IN (SELECT key FROM archived) "
                               "ORDER BY key LIMIT ?", (limit,))
        return [row[0] for row in rows]

    def close(self) -> None:
        self.db.close()


class Sums:
    """SHA256SUMS, written to a scratch file line by line as members are added."""

    def __init__(self, path: Path, writer: TarWriter) -> None:
        self.path, self.writer, self.count = path, writer, 0
        self.handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by finish)

    def add(self, name: str, digest: str) -> None:
        self.handle.write(f"{digest}  {name}\n")
        self.count += 1

    def add_file(self, name: str, path: Path) -> None:
        self.add(name, self.writer.add_file(name, path))

    def add_stream(self, name: str, size: int, source: BinaryIO) -> None:
        self.add(name, self.writer.add_stream(name, size, source))

    def finish(self) -> str:
        self.handle.close()
        digest = self.writer.add_file(CHECKSUMS, self.path)
        return digest


def write_backup(engine: Engine, storage: Storage, handle: BinaryIO, work: Path, *, tables: list[Table],
                 skipped_prefixes: tuple[str, ...], key: bytes, progress: Progress) -> BackupSummary:
    """Write the whole archive to `handle` (see the module docstring), its manifest signed with `key`."""
    job = _Backup(TarWriter(handle), work, progress)
    try:
        with snapshot(engine) as connection:
            revision = _checked_revision(connection)
            counts = {t.name: connection.scalar(select(func.count()).select_from(t)) or 0 for t in tables}
            media_total = sum(1 for k in storage.keys(prefix="") if not k.startswith(skipped_prefixes))
            job.total = sum(counts.values()) + media_total
            summary = BackupSummary(revision, utcnow().isoformat(), counts)
            header = {"format": FORMAT, "version": FORMAT_VERSION, "schema_revision": revision,
                      "created_at": summary.created_at, "database": engine.dialect.name}
            job.sums.add(HEADER, job.writer.add_bytes(HEADER, sealed(header)))
            for position, table in enumerate(tables):
                job.dump_table(connection, table, position)
        job.copy_media(storage, summary, skipped_prefixes)
        summary.missing_media = job.ledger.missing()
        listed = job.sums.count
        manifest = {**header, "counts": counts, "skipped_prefixes": list(skipped_prefixes),
                    "media": {"objects": summary.media_objects, "bytes": summary.media_bytes,
                              "missing": summary.missing_media},
                    "listed": listed, "checksums": {"file": CHECKSUMS, "sha256": job.sums.finish()}}
        job.writer.add_bytes(MANIFEST, sealed(signed(manifest, key)))
        job.writer.close()
        summary.members = listed + 2
        progress(job.done, job.total, "done")
        return summary
    finally:
        job.close()


def _checked_revision(connection: Connection) -> str:
    revision = MigrationContext.configure(connection).get_current_revision()
    head = migrate.head_revision()
    if revision is None or revision != head:
        raise BackupError(f"the database schema is at {revision or 'nothing'}, not {head}; "
                          "run `concord db upgrade` first")
    return revision


def _storage_columns(table: Table) -> list[str]:
    return [column.key for _pk, column in STORAGE_COLUMNS if column.class_.__tablename__ == table.name]


class _Backup:
    def __init__(self, writer: TarWriter, work: Path, progress: Progress) -> None:
        self.writer, self.work, self.progress = writer, work, progress
        self.sums = Sums(work / CHECKSUMS, writer)
        self.ledger = KeyLedger(work / "keys.db")
        self.done = self.total = 0

    def close(self) -> None:
        self.ledger.close()
        self.sums.handle.close()

    def dump_table(self, connection: Connection, table: Table, position: int) -> None:
        codec = TableCodec.of(table)
        key_columns = [codec.columns.index(table.c[name]) for name in _storage_columns(table)]
        path = self.work / "table.jsonl.gz"
        keys: list[str] = []
        with closing(gzip.GzipFile(path, "wb", mtime=0)) as out:
            for line, values in dump_lines(connection, codec):
                out.write(line.encode())
                if not values:
                    continue  # the header line
                keys.extend(values[i] for i in key_columns if values[i])
                if len(keys) >= 1000:
                    self.ledger.add("referenced", keys)
                    keys.clear()
                self.done += 1
                if self.done % 1000 == 0:
                    self.progress(self.done, self.total, f"rows of {table.name}")
        self.ledger.add("referenced", keys)
        self.sums.add_file(table_member(position, table.name), path)
        self.progress(self.done, self.total, f"rows of {table.name}")

    def copy_media(self, storage: Storage, summary: BackupSummary, skipped_prefixes: tuple[str, ...]) -> None:
        archived: list[str] = []
        for entry in storage.entries():
            if entry.key.startswith(skipped_prefixes):
                continue
            try:
                source = storage.open(entry.key)
            except FileNotFoundError:
                continue  # deleted since it was listed: the ledger reports it if a row still needs it
            with source:
                self.sums.add_stream(media_member(entry.key), entry.size, source)
            summary.media_objects += 1
            summary.media_bytes += entry.size
            archived.append(entry.key)
            if len(archived) >= 1000:
                self.ledger.add("archived", archived)
                archived.clear()
            self.done += 1
            self.total = max(self.total, self.done)  # files uploaded since the count
            self.progress(self.done, self.total, "media")
        self.ledger.add("archived", archived)
