"""The backup archive: a plain POSIX (pax) tar, written and read as a stream with flat memory.

tarfile keeps a TarInfo per member it has written or read; with 100k media objects that grows without
bound, so members are written here header by header, and read with tarfile's stream mode while its
member list is emptied after each one. Nothing is ever extracted to a path: a reader gets each member's
name and a stream of its bytes, and the restore checks every name before it uses it.
"""
from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from app.core.errors import ConcordError
from app.core.storage import CHUNK, StorageError, check_key

BLOCK = 512
RECORD = 20 * BLOCK

HEADER = "backup.json"
CHECKSUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
TABLE_MEMBER = re.compile(r"^tables/(\d{3})-([a-z_][a-z0-9_]*)\.jsonl\.gz$")
MEDIA_PREFIX = "media/"


class BackupError(ConcordError):
    title = "Backup failed"


class ArchiveCorrupt(BackupError):
    """Not a Concord backup, damaged, or cut short."""

    title = "Corrupt backup archive"


class ChecksumMismatch(ArchiveCorrupt):
    title = "Checksum mismatch"


def table_member(position: int, table: str) -> str:
    return f"tables/{position:03d}-{table}.jsonl.gz"


def media_member(key: str) -> str:
    return MEDIA_PREFIX + check_key(key)


def media_key(name: str) -> str:
    """The storage key a media member restores to; ArchiveCorrupt for a name that is not one of ours."""
    try:
        return check_key(name[len(MEDIA_PREFIX):])
    except StorageError as exc:
        raise ArchiveCorrupt(f"the archive holds a member with an unsafe name: {name!r}") from exc


class TarWriter:
    """Appends regular-file members to `handle`; each add returns the member's SHA-256."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.written = 0

    def add_stream(self, name: str, size: int, source: BinaryIO) -> str:
        """Copy exactly `size` bytes of `source`; raises BackupError if it holds fewer or more."""
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.type = size, 0o644, int(time.time()), tarfile.REGTYPE
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        digest, left = hashlib.sha256(), size
        while left > 0:
            chunk = source.read(min(CHUNK, left))
            if not chunk:
                raise BackupError(f"{name} became shorter while it was copied; run the backup again")
            digest.update(chunk)
            self._write(chunk)
            left -= len(chunk)
        if source.read(1):
            raise BackupError(f"{name} grew while it was copied; run the backup again")
        self._write(b"\0" * (-size % BLOCK))
        return digest.hexdigest()

    def add_file(self, name: str, path: Path) -> str:
        with open(path, "rb") as source:
            return self.add_stream(name, path.stat().st_size, source)

    def add_bytes(self, name: str, data: bytes) -> str:
        return self.add_stream(name, len(data), io.BytesIO(data))

    def close(self) -> None:
        self._write(b"\0" * (2 * BLOCK))
        self._write(b"\0" * (-self.written % RECORD))

    def _write(self, data: bytes) -> None:
        self.handle.write(data)
        self.written += len(data)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass
class Member:
    name: str
    size: int
    stream: Readable


def read_members(handle: BinaryIO) -> Iterator[Member]:
    """Every member in archive order; ArchiveCorrupt for anything but regular files or a damaged tar.

    A member's stream must be read (or left) before the next member is asked for."""
    try:
        tar = tarfile.open(fileobj=handle, mode="r|")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveCorrupt(f"not a readable tar archive ({exc})") from None
    with tar:
        while True:
            try:
                info = tar.next()
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise ArchiveCorrupt(f"the archive is damaged or cut short ({exc})") from None
            if info is None:
                return
            tar.members.clear()  # type: ignore[attr-defined]  # flat memory: see the module docstring
            if not info.isreg():
                raise ArchiveCorrupt(f"the archive holds {info.name!r}, which is not a regular file")
            stream = tar.extractfile(info)
            assert stream is not None
            yield Member(info.name, info.size, _Checked(stream, info.name, info.size))


class _Checked:
    """A member's bytes; a short read (the archive was cut inside the member) raises ArchiveCorrupt."""

    def __init__(self, stream: IO[bytes], name: str, size: int) -> None:
        self.stream, self.name, self.left = stream, name, size

    def read(self, n: int = -1, /) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        try:
            data = self.stream.read(want)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveCorrupt(f"the archive is cut short inside {self.name} ({exc})") from None
        if len(data) < want:
            raise ArchiveCorrupt(f"the archive is cut short inside {self.name}")
        self.left -= len(data)
        return data
