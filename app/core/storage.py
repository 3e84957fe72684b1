"""Where files live: a local directory by default; an S3-compatible bucket where one machine is outgrown.

Keys are ours (`images/ab/<sha256>.jpg`, `thumbs/...`, `exports/...`), never a user's filename.
Writes are atomic: a reader sees the whole file or none of it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol

from fastapi import Depends, Request

from app.core.config import Settings

CHUNK = 1024 * 1024


class StorageError(Exception):
    pass


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


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file behind `key`, which must stay inside the root (no `..`, no absolute keys)."""
        if not key or key.startswith("/") or "\\" in key or "\x00" in key:
            raise StorageError(f"invalid storage key {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"storage key {key!r} leaves the storage root")
        return path

    def put_file(self, key: str, source: Path) -> None:
        with open(source, "rb") as handle:
            self._write(key, handle)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _write(self, key: str, source: BinaryIO) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
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
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key


def make_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(settings.media_dir)
    raise StorageError(f"unknown storage backend {settings.storage_backend!r}")



def get_storage(request: Request) -> Storage:
    """The app's storage, set up once in create_app."""
    return request.app.state.storage  # type: ignore[no-any-return]


StorageDep = Annotated[Storage, Depends(get_storage)]
