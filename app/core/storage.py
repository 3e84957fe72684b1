"""Where files live: a local directory by default; an S3-compatible bucket where one machine is outgrown.

Keys are ours (`images/ab/<sha256>.jpg`, `thumbs/...`, `exports/...`), never a user's filename, and the
same key names the same file on every backend (`concord storage migrate` copies keys one to one).
Writes are atomic: a reader sees the whole file or none of it. Files are served to browsers only through
the app's authorizing routes, on every backend (app/core/s3storage.py says why).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import ConcordError, ConfigError
from app.core.private import private_dir

CHUNK = 1024 * 1024
TEMP_PREFIX = ".tmp-"  # LocalStorage's half-written files; never listed as keys


class StorageError(Exception):
    """A key that is not one of ours (absolute, `..`, backslash, NUL)."""


class StorageUnavailable(ConcordError):
    """The storage backend did not answer or refused the operation; nothing was stored."""

    status_code = 503
    title = "Storage unavailable"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # UTC


def check_key(key: str) -> str:
    """`key` if it is a relative path made of ordinary segments; raises StorageError otherwise."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StorageError(f"invalid storage key {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"storage key {key!r} has an empty, '.' or '..' segment")
    return key


def sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


class Storage(Protocol):
    def put_file(self, key: str, source: Path) -> None:
        """Store the file at `source` under `key` (atomic; overwrites a key of the same content)."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream; raises FileNotFoundError for a missing key."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def entries(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every stored object under `prefix`, with its size and modification time."""

    def checksum(self, key: str) -> str:
        """The SHA-256 (hex) of the stored bytes; raises FileNotFoundError for a missing key."""


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root).resolve()

    def path(self, key: str) -> Path:
        """The file behind `key`, which must stay inside the root (no `..`, no absolute keys)."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"storage key {key!r} leaves the storage root")
        return path

    def put_file(self, key: str, source: Path) -> None:
        with open(source, "rb") as handle:
            self._write(key, handle)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, io.BytesIO(data))

    def _write(self, key: str, source: BinaryIO) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> Iterator[str]:
        for path in self._files(prefix):
            yield path.relative_to(self.root).as_posix()

    def entries(self, prefix: str = "") -> Iterator[StoredObject]:
        return self._described(self._files(prefix))

    def checksum(self, key: str) -> str:
        with self.open(key) as handle:
            return sha256_of(handle)

    def temp_files(self) -> Iterator[StoredObject]:
        """Half-written files left by a crash mid-write (fsck removes the old ones)."""
        return self._described(sorted(self.root.rglob(TEMP_PREFIX + "*")))

    def _described(self, paths: Iterable[Path]) -> Iterator[StoredObject]:
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted, or renamed into place, while we walked
            yield StoredObject(path.relative_to(self.root).as_posix(), stat.st_size,
                               datetime.fromtimestamp(stat.st_mtime, UTC))

    def remove_temp_file(self, name: str) -> None:
        path = (self.root / name).resolve()
        if path.is_relative_to(self.root) and path.name.startswith(TEMP_PREFIX):
            path.unlink(missing_ok=True)

    def _files(self, prefix: str) -> Iterator[Path]:
        # Walk only the directory the prefix names (a whole store can hold millions of files).
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.resolve().is_relative_to(self.root) or not start.is_dir():
            return
        for directory, subdirs, files in os.walk(start):
            subdirs.sort()  # a stable order, one directory in memory at a time
            for name in sorted(files):
                path = Path(directory) / name
                if not name.startswith(TEMP_PREFIX) and path.relative_to(self.root).as_posix().startswith(prefix):
                    yield path


def make_storage(settings: Settings) -> Storage:
    """The configured backend; raises ConfigError (naming the setting) when it cannot be used."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.media_dir)
    if settings.storage_backend == "s3":
        from app.core.s3storage import S3Storage  # boto3 loads only when S3 is used

        return S3Storage.from_settings(settings)
    raise ConfigError("CONCORD_STORAGE_BACKEND", f"unknown storage backend {settings.storage_backend!r}; "
                      "use local or s3")


def get_storage(request: Request) -> Storage:
    """The app's storage, set up once in create_app."""
    storage: Storage = request.app.state.storage
    return storage


StorageDep = Annotated[Storage, Depends(get_storage)]
