"""Backup and restore of a whole instance (reliability #46): one portable archive holding every
table's rows and every media object, restorable into an empty database of either kind.

What is left out, and why: export archives (`exports/...` in storage) and their `dataset_exports` rows.
An export is rebuilt from its frozen dataset version, byte for byte (app/datasets/exporting.py: the
zip is deterministic, and the version's items, datasheet and content hash are all in the backup), so
carrying it would only double the archive (an export with images repeats every image). Leaving the
rows out too keeps the restored instance consistent: no row points to a missing file, and the
dataset pages offer to make the export again, which gives the same SHA-256 as before.

The archive layout (a pax tar; see archive.py and manifest.py):
    backup.json                       format, version, schema revision, created_at, source database
    tables/NNN-<table>.jsonl.gz       rows, one member per table in foreign-key order (rows.py)
    media/<storage key>               every stored object but exports
    SHA256SUMS                        the SHA-256 of every member above
    manifest.json                     format, revision, created_at, counts, media figures, SHA256SUMS' hash
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Table, literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import app.models  # noqa: F401  (every table in Base.metadata)
from app.backup import signing
from app.backup.archive import ArchiveCorrupt, BackupError, ChecksumMismatch
from app.backup.dump import BackupSummary, write_backup
from app.backup.load import Applied, Apply, read_header, reset_sequences, verify
from app.backup.manifest import Progress, no_progress
from app.backup.signing import NotAuthentic
from app.core import migrate
from app.core.db import Base
from app.core.storage import Storage

SKIPPED_TABLES = ("dataset_exports",)
SKIPPED_PREFIXES = ("exports/",)

__all__ = ["ArchiveCorrupt", "BackupError", "ChecksumMismatch", "NotAuthentic", "SchemaMismatch", "TargetNotEmpty",
           "backup", "restore"]


class TargetNotEmpty(BackupError):
    status_code = 409
    title = "Database not empty"


class SchemaMismatch(BackupError):
    status_code = 409
    title = "Schema revision mismatch"


@dataclass
class RestoreSummary:
    schema_revision: str
    created_at: str
    rows: dict[str, int]
    media_objects: int
    media_bytes: int
    signed_by: str | None  # the id of the backup key that signed the archive; None: unsigned, restored as it is


def backed_up_tables() -> list[Table]:
    """Every table, parents before children (foreign-key order), but the skipped ones."""
    return [t for t in Base.metadata.sorted_tables if t.name not in SKIPPED_TABLES]


def _engine_of(db: Session) -> Engine:
    bind = db.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def backup(db: Session, *, storage: Storage, out_path: Path, key: bytes,
           progress: Progress = no_progress) -> BackupSummary:
    """Write a backup of the database behind `db` and of `storage` to `out_path`, atomically, signed with
    `key` (the instance's backup key: app/backup/signing.py).

    The rows come from one snapshot read on a connection of its own (work `db` has not committed is
    not in it); a crash leaves at most a hidden `.part` file beside `out_path`. Raises BackupError when
    the schema is not at this Concord's head revision or an object changes size while it is copied.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle, tempfile.TemporaryDirectory(prefix="concord-backup-") as work:
            summary = write_backup(_engine_of(db), storage, handle, Path(work), tables=backed_up_tables(),
                                   skipped_prefixes=SKIPPED_PREFIXES, key=key, progress=progress)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return summary


def restore(db: Session, *, storage: Storage, archive: Path, keys: Sequence[bytes], unsigned_ok: bool = False,
            progress: Progress = no_progress) -> RestoreSummary:
    """Restore `archive` into the empty database behind `db` and into `storage`; flushes, never commits.

    Refuses, having written nothing, with SchemaMismatch unless the database is at the archive's schema
    revision (and that is this Concord's head), TargetNotEmpty if any table holds a row, ArchiveCorrupt
    for a file that is not a whole, readable Concord backup, ChecksumMismatch for a damaged member and
    NotAuthentic unless one of `keys` signed it (or it is unsigned and `unsigned_ok`).
    Media go into storage before the caller commits the rows: a failed commit leaves orphan files
    (`concord fsck --fix` removes them), never a row without its file.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    header = read_header(archive)
    check_target(db, str(header.get("schema_revision")))
    size = archive.stat().st_size
    with tempfile.TemporaryDirectory(prefix="concord-restore-") as work, \
            open(Path(work) / "SHA256SUMS", "w+", encoding="utf-8") as sums:
        manifest = verify(archive, sums, progress, 2 * size)
        if (manifest.get("schema_revision"), manifest.get("created_at")) != (
                header.get("schema_revision"), header.get("created_at")):
            raise ArchiveCorrupt("the manifest does not belong to this archive's header")
        signed_by = signing.check(manifest, keys, unsigned_ok=unsigned_ok)
        tables = backed_up_tables()
        try:
            applied = Apply(db.connection(), storage, tables, sums, Path(work)).run(archive, progress, size, 2 * size)
            _check_counts(applied, manifest.get("counts", {}))
            reset_sequences(db.connection(), tables)
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise BackupError(f"the rows could not be restored ({reason}); nothing was committed") from None
    return RestoreSummary(str(header["schema_revision"]), str(header.get("created_at")), applied.rows,
                          applied.media_objects, applied.media_bytes, signed_by)


def check_target(db: Session, revision: str) -> None:
    """SchemaMismatch or TargetNotEmpty unless `db` is an empty database at `revision`."""
    connection = db.connection()
    current = MigrationContext.configure(connection).get_current_revision()
    head = migrate.head_revision()
    if current != revision:
        raise SchemaMismatch(f"the backup was made at schema revision {revision}, but this database is at "
                             f"{current or 'nothing'}; restore into a database at {revision}")
    if revision != head:
        raise SchemaMismatch(f"the backup was made at schema revision {revision}, but this Concord's schema is "
                             f"at {head}; restore with the Concord version that made it, then upgrade")
    filled = [t.name for t in Base.metadata.sorted_tables
              if connection.execute(select(literal(1)).select_from(t).limit(1)).first() is not None]
    if filled:
        named = ", ".join(filled[:4]) + (f" and {len(filled) - 4} more tables" if len(filled) > 4 else "")
        raise TargetNotEmpty(f"the database is not empty ({named} hold rows); restore only into a new database "
                             "created with `concord db upgrade`")


def _check_counts(applied: Applied, counts: dict[str, int]) -> None:
    for name, expected in counts.items():
        if applied.rows.get(name, 0) != expected:
            raise ArchiveCorrupt(f"table {name} restored {applied.rows.get(name, 0)} rows, the manifest says "
                                 f"{expected}; nothing was committed")
    if set(applied.rows) != set(counts) or set(counts) != {t.name for t in backed_up_tables()}:
        raise ArchiveCorrupt("the archive's tables differ from its manifest; nothing was committed")
