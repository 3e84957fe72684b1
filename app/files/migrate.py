"""Copy a whole store to another backend (local directory -> S3 bucket, or back), verifying checksums.

Resumable: a key already in the target with the same size and SHA-256 is skipped, so an interrupted
run is simply started again. Each object is written whole or not at all (atomic on both backends),
then read back and hashed; a mismatch stops the run with MigrationError naming the key.

Switching a live instance: run it once, set CONCORD_STORAGE_BACKEND=s3 and restart the app servers
and workers, then run it again; the second pass copies only what was written in between.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.core.storage import CHUNK, LocalStorage, Storage, StoredObject, sha256_of

Report = Callable[[int, int, str], None]  # (done, total, key)


class MigrationError(Exception):
    pass


@dataclass
class MigrateReport:
    total: int = 0
    copied: int = 0
    skipped: int = 0  # already in the target, verified by checksum
    bytes_copied: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def migrate_store(source: Storage, target: Storage, *, report: Report | None = None,
                  prefix: str = "") -> MigrateReport:
    """Copy every key under `prefix` from `source` to `target` (see the module docstring)."""
    result = MigrateReport(total=sum(1 for _ in source.keys(prefix)))
    for done, entry in enumerate(source.entries(prefix), start=1):
        digest = source.checksum(entry.key)
        if _already_copied(target, entry, digest):
            result.skipped += 1
        else:
            with _as_file(source, entry.key) as path:
                target.put_file(entry.key, path)
            _verify(target, entry.key, digest)
            result.copied += 1
            result.bytes_copied += entry.size
        if report is not None:
            report(done, result.total, entry.key)
    return result


def _already_copied(target: Storage, entry: StoredObject, digest: str) -> bool:
    try:
        return target.size(entry.key) == entry.size and target.checksum(entry.key) == digest
    except FileNotFoundError:
        return False


def _verify(target: Storage, key: str, digest: str) -> None:
    with target.open(key) as stored:
        actual = sha256_of(stored)
    if actual != digest:
        raise MigrationError(f"{key}: the copy's SHA-256 is {actual}, the original's {digest}")


@contextmanager
def _as_file(source: Storage, key: str) -> Iterator[Path]:
    """A local file holding the key's bytes: the file itself for a local store, else a temp copy."""
    if isinstance(source, LocalStorage):
        yield source.path(key)
        return
    with tempfile.NamedTemporaryFile(prefix="concord-migrate-") as temp, source.open(key) as stream:
        shutil.copyfileobj(stream, temp, CHUNK)
        temp.flush()
        yield Path(temp.name)
