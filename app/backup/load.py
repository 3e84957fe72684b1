"""Reading a backup back: a full verification pass, then an apply pass.

Pass 1 reads every member, hashes it and checks the list against SHA256SUMS and the sealed manifest;
nothing is written anywhere until it has passed. Pass 2 reads the archive again, checking each
member's hash once more against the verified list (the file could have changed in between), inserts
the rows in foreign-key order on the caller's transaction, and puts the media back into storage.
Memory stays flat: the verified list lives in a scratch file, not in a dict.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, and_, bindparam, func, select, text, update

from app.backup.archive import (
    CHECKSUMS,
    HEADER,
    MANIFEST,
    MEDIA_PREFIX,
    TABLE_MEMBER,
    ArchiveCorrupt,
    ChecksumMismatch,
    Member,
    Readable,
    media_key,
    read_members,
)
from app.backup.manifest import MAX_SMALL_MEMBER, Progress, unsealed
from app.backup.rows import TableCodec, kind_of
from app.core.storage import CHUNK, Storage

BATCH = 1000


def read_header(archive: Path) -> dict[str, Any]:
    """The first member's body; ArchiveCorrupt when the file is not a Concord backup."""
    with open(archive, "rb") as handle:
        for member in read_members(handle):
            if member.name != HEADER:
                break
            return unsealed(_small(member), HEADER)
    raise ArchiveCorrupt(f"{archive} is not a Concord backup (no {HEADER} at its start)")


def _small(member: Member) -> bytes:
    if member.size > MAX_SMALL_MEMBER:
        raise ArchiveCorrupt(f"{member.name} is {member.size} bytes, too big to be ours")
    return member.stream.read()


def _hash(stream: Readable) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _lines(stream: Readable) -> Iterator[str]:
    pending = b""
    while chunk := stream.read(CHUNK):
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _check_name(name: str, index: int) -> None:
    if index == 0:
        if name != HEADER:
            raise ArchiveCorrupt(f"not a Concord backup (its first member is {name!r}, not {HEADER})")
    elif name.startswith(MEDIA_PREFIX):
        media_key(name)
    elif not TABLE_MEMBER.match(name):
        raise ArchiveCorrupt(f"the archive holds a member that is not ours: {name!r}")


def verify(archive: Path, sums: IO[str], progress: Progress, total: int) -> dict[str, Any]:
    """Pass 1: the manifest's body once every member matches it; writes the verified list to `sums`.

    Raises ChecksumMismatch naming the first member whose bytes differ, ArchiveCorrupt otherwise."""
    manifest: dict[str, Any] | None = None
    listed_sha = ""
    with open(archive, "rb") as handle:
        for index, member in enumerate(read_members(handle)):
            if manifest is not None:
                raise ArchiveCorrupt(f"the archive holds {member.name!r} after its manifest")
            if member.name == CHECKSUMS:
                listed_sha = _compare_sums(member, sums)
            elif member.name == MANIFEST:
                manifest = unsealed(_small(member), MANIFEST)
            else:
                _check_name(member.name, index)
                sums.write(f"{_hash(member.stream)}  {member.name}\n")
            progress(handle.tell(), total, "verifying")
    if manifest is None:
        raise ArchiveCorrupt("the archive is cut short: its manifest is missing")
    if not listed_sha or manifest.get("checksums", {}).get("sha256") != listed_sha:
        raise ArchiveCorrupt(f"{CHECKSUMS} does not match the manifest")
    return manifest


def _compare_sums(member: Member, sums: IO[str]) -> str:
    """Compare SHA256SUMS with what was computed, line by line; returns SHA256SUMS' own hash."""
    digest = hashlib.sha256()

    class Hashing:
        def read(self, n: int = -1, /) -> bytes:
            data = member.stream.read(n)
            digest.update(data)
            return data

    sums.flush()
    sums.seek(0)
    for listed in _lines(Hashing()):
        computed = sums.readline().rstrip("\n")
        if listed == computed:
            continue
        listed_sha, _, listed_name = listed.partition("  ")
        computed_sha, _, computed_name = computed.partition("  ")
        if listed_name and listed_name == computed_name:
            raise ChecksumMismatch(f"{listed_name} is damaged: its SHA-256 is {computed_sha}, the manifest "
                                   f"says {listed_sha}")
        raise ArchiveCorrupt(f"the archive's members differ from its manifest at {computed_name or listed_name!r}")
    if sums.readline():
        raise ArchiveCorrupt(f"the archive holds members that {CHECKSUMS} does not list")
    return digest.hexdigest()


class _Hashing:
    def __init__(self, stream: Readable) -> None:
        self.stream, self.digest = stream, hashlib.sha256()

    def read(self, n: int = -1, /) -> bytes:
        data = self.stream.read(n)
        self.digest.update(data)
        return data


@dataclass
class Applied:
    rows: dict[str, int] = field(default_factory=dict)
    media_objects: int = 0
    media_bytes: int = 0


class Apply:
    """Pass 2 on the caller's connection; `sums` is the verified list from pass 1."""

    def __init__(self, connection: Connection, storage: Storage, tables: list[Table], sums: IO[str],
                 work: Path) -> None:
        self.connection, self.storage, self.sums, self.work = connection, storage, sums, work
        self.tables = {t.name: t for t in tables}
        self.restored: set[str] = set()
        self.deferred = open(work / "deferred.jsonl", "w+", encoding="utf-8")  # noqa: SIM115 (closed by run)
        self.result = Applied()

    def run(self, archive: Path, progress: Progress, done: int, total: int) -> Applied:
        self.sums.seek(0)
        with open(archive, "rb") as handle:
            for member in read_members(handle):
                if member.name in (CHECKSUMS, MANIFEST):
                    continue
                expected = self.sums.readline().rstrip("\n").partition("  ")
                if expected[2] != member.name:
                    raise ArchiveCorrupt("the archive changed after it was verified; nothing was restored")
                stream = _Hashing(member.stream)
                if member.name.startswith(MEDIA_PREFIX):
                    self._media(media_key(member.name), stream, member.size)
                elif member.name != HEADER:
                    self._table(TABLE_MEMBER.match(member.name)[2], stream)  # type: ignore[index]
                else:
                    stream.read()
                if stream.digest.hexdigest() != expected[0]:
                    raise ChecksumMismatch(f"{member.name} changed after the archive was verified; "
                                           "nothing was restored")
                progress(done + handle.tell(), total, "restoring")
        self._apply_deferred()
        self.deferred.close()
        return self.result

    def _table(self, name: str, stream: _Hashing) -> None:
        table = self.tables.get(name)
        if table is None or name in self.restored:
            raise ArchiveCorrupt(f"the archive holds rows of table {name!r}, which this schema does not have")
        lines = iter(gzip.GzipFile(fileobj=stream, mode="rb"))  # type: ignore[call-overload]
        try:
            codec = self._codec(table, json.loads(next(lines)))
            self.result.rows[name] = self._insert(codec, lines)
        except (OSError, EOFError, ValueError, StopIteration) as exc:  # gzip or JSON damage
            raise ArchiveCorrupt(f"the rows of {name} cannot be read ({exc})") from None
        self.restored.add(name)
        while stream.read(CHUNK):  # gzip may stop before the member's end; hash all of it
            pass

    def _codec(self, table: Table, header: dict[str, Any]) -> TableCodec:
        names = header.get("columns", [])
        if sorted(names) != sorted(c.name for c in table.columns):
            raise ArchiveCorrupt(f"the archive's columns of {table.name} differ from this schema's")
        columns = [table.c[n] for n in names]
        codec = TableCodec(table, columns, [kind_of(c) for c in columns])
        if codec.kinds != header.get("kinds"):
            raise ArchiveCorrupt(f"the archive's column types of {table.name} differ from this schema's")
        return codec

    def _later(self, table: Table) -> list[str]:
        """Foreign-key columns pointing at this table or one not restored yet: set after every insert."""
        return [fk.parent.name for fk in table.foreign_keys
                if fk.column.table.name == table.name or fk.column.table.name not in self.restored]

    def _insert(self, codec: TableCodec, lines: Iterator[bytes]) -> int:
        statement = codec.insert(self.connection.dialect.name)
        later = self._later(codec.table)
        pk = [c.name for c in codec.table.primary_key.columns]
        batch: list[dict[str, Any]] = []
        count = 0
        for line in lines:
            row = codec.decode(json.loads(line))
            for name in later:
                if row[name] is not None:
                    self.deferred.write(json.dumps([codec.table.name, name, [row[k] for k in pk], row[name]]) + "\n")
                    row[name] = None
            batch.append(row)
            if len(batch) >= BATCH:
                self.connection.execute(statement, batch)
                count += len(batch)
                batch.clear()
        if batch:
            self.connection.execute(statement, batch)
            count += len(batch)
        return count

    def _apply_deferred(self) -> None:
        self.deferred.seek(0)
        batch: list[dict[str, Any]] = []
        current: tuple[str, str] | None = None
        for line in self.deferred:
            table, column, key, value = json.loads(line)
            if (table, column) != current and batch:
                self._update(current, batch)  # type: ignore[arg-type]
                batch = []
            current = (table, column)
            batch.append({**{f"pk_{i}": v for i, v in enumerate(key)}, "value_": value})
            if len(batch) >= BATCH:
                self._update(current, batch)
                batch = []
        if batch and current:
            self._update(current, batch)

    def _update(self, target: tuple[str, str], batch: list[dict[str, Any]]) -> None:
        table = self.tables[target[0]]
        where = and_(*(c == bindparam(f"pk_{i}") for i, c in enumerate(table.primary_key.columns)))
        self.connection.execute(update(table).where(where).values({target[1]: bindparam("value_")}), batch)

    def _media(self, key: str, stream: _Hashing, size: int) -> None:
        with tempfile.NamedTemporaryFile(dir=self.work, prefix="media-") as copy:
            while chunk := stream.read(CHUNK):
                copy.write(chunk)
            copy.flush()
            self.storage.put_file(key, Path(copy.name))
        self.result.media_objects += 1
        self.result.media_bytes += size


def reset_sequences(connection: Connection, tables: list[Table]) -> None:
    """Postgres: point each id sequence past the highest restored id, so new rows get fresh ids."""
    if connection.dialect.name != "postgresql":
        return  # SQLite's INTEGER PRIMARY KEY takes max(rowid) + 1 by itself
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue
        sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:table, :column)"),
                                     {"table": table.name, "column": pk[0].name})
        if sequence is None:
            continue
        highest = connection.scalar(select(func.max(pk[0])))
        connection.execute(text("SELECT setval(CAST(:sequence AS regclass), :value, false)"),
                           {"sequence": sequence, "value": (highest or 0) + 1})
