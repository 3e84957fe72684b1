"""A streaming zip writer whose bytes depend only on what is written, in flat memory.

Deterministic: fixed timestamps (1980-01-01), fixed permissions (a regular rw-r--r-- file, never a
symlink) and host system (unix), zlib level 6, entries in the order the caller writes them (callers
write in a sorted, deterministic order). Flat memory: each entry's central-directory record goes to
a temporary file as soon as the entry is done, never into a list of objects, so an archive of
millions of entries costs no more RAM than one of ten (Python's zipfile keeps a ZipInfo per entry).
Zip64 records are written when an offset or the entry count needs them, and for entries the caller
flags `large` (decided from the item count, so deterministically).

Entry names are checked: relative, `/`-separated, made of segments of Unicode letters and digits, `_`,
`.` and `-` that start with a letter, digit or `_` (never `.`/`..`, never hidden). A name that is not
ASCII is stored as UTF-8 with the zip "language encoding" flag (bit 11), which zip tools and Python read.
A directory entry (`add_directory`) stands for an empty folder the reader should see.
"""
from __future__ import annotations

import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, BinaryIO

COMPRESS_LEVEL = 6
FLUSH_AT = 256 * 1024
DOS_DATE, DOS_TIME = (0 << 9) | (1 << 5) | 1, 0  # 1980-01-01 00:00:00
UNIX_FILE = 0o100644 << 16
UNIX_DIRECTORY = (0o40755 << 16) | 0x10  # and the MS-DOS directory bit
UTF8_FLAG = 0x800
MAX32, MAX16 = 0xFFFFFFFF, 0xFFFF  # the "look in the zip64 record" markers
LIMIT32, LIMIT16 = MAX32, MAX16  # from these values on, a field needs zip64 (lowered by the tests)
# Segments start with a letter, digit or underscore, so "." and ".." (and hidden names) cannot match.
_NAME = re.compile(r"\w[\w.-]*(?:/\w[\w.-]*)*")
SMALL = 512  # text entries shorter than this are stored: deflate would save a few bytes at a high cost


def _fit(value: int) -> int:
    return MAX32 if value >= LIMIT32 else value


class UnsafeEntryName(ValueError):
    pass


def check_entry_name(name: str) -> str:
    if len(name.encode("utf-8")) > 1000 or not _NAME.fullmatch(name):
        raise UnsafeEntryName(f"unsafe zip entry name {name!r}")
    return name


def _encoded(name: str) -> tuple[bytes, int]:
    """The entry name's bytes and the general-purpose flags they need."""
    encoded = check_entry_name(name).encode("utf-8")
    return encoded, (0 if encoded.isascii() else UTF8_FLAG)


class _Entry:
    """Bytes of one entry on their way into the archive: CRC and sizes counted as they pass."""

    def __init__(self, out: BinaryIO, compress: bool) -> None:
        self._out = out
        self._deflate = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15) if compress else None
        self.crc = 0
        self.size = 0
        self.compressed = 0

    def write(self, data: bytes) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self._emit(self._deflate.compress(data) if self._deflate else data)
        return len(data)

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.compressed += len(data)

    def finish(self) -> None:
        if self._deflate:
            self._emit(self._deflate.flush())


class TextEntry:
    """Buffered UTF-8 text writer into one entry (few large writes keep deflate fast)."""

    def __init__(self, raw: _Entry) -> None:
        self._raw = raw
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._raw.write("".join(self._parts).encode("utf-8"))
            self._parts, self._size = [], 0


class Archive:
    def __init__(self, fileobj: BinaryIO) -> None:
        self._out = fileobj
        self._offset = fileobj.tell()  # counted, not asked for: tell() and seek() cost per entry
        self._central = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close/abort)
        self.entries = 0

    def _header(self, name: bytes, *, crc: int, compressed: int, size: int, method: int, large: bool,
                flags: int = 0) -> bytes:
        extra = struct.pack("<HHQQ", 1, 16, size, compressed) if large else b""
        fields = (MAX32, MAX32) if large else (compressed, size)
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if large else 20, flags, method, DOS_TIME, DOS_DATE, crc,
                           *fields, len(name), len(extra)) + name + extra

    @contextmanager
    def _entry(self, name: str, *, compress: bool, large: bool = False) -> Iterator[_Entry]:
        """A streamed entry: its header is written first, then patched with the CRC and sizes."""
        encoded, flags = _encoded(name)
        offset = self._offset
        header = self._header(encoded, crc=0, compressed=0, size=0, method=8 if compress else 0, large=large,
                              flags=flags)
        self._out.write(header)
        entry = _Entry(self._out, compress)
        yield entry
        entry.finish()
        end = self._offset = offset + len(header) + entry.compressed
        if not large and max(entry.size, entry.compressed) >= LIMIT32:
            raise ValueError(f"zip entry {name} passed 4 GiB; it should have been written as large")
        self._out.seek(offset + 14)
        if large:
            self._out.write(struct.pack("<III", entry.crc, MAX32, MAX32))
            self._out.seek(offset + 30 + len(encoded) + 4)
            self._out.write(struct.pack("<QQ", entry.size, entry.compressed))
        else:
            self._out.write(struct.pack("<III", entry.crc, entry.compressed, entry.size))
        self._out.seek(end)
        self._record(encoded, entry, offset, compress, flags)

    def _record(self, name: bytes, entry: _Entry, offset: int, compress: bool, flags: int,
                attributes: int = UNIX_FILE) -> None:
        """The entry's central-directory record, with zip64 fields for whatever overflows 32 bits."""
        wide = [v for v in (entry.size, entry.compressed, offset) if v >= LIMIT32]
        extra = struct.pack("<HH", 1, 8 * len(wide)) + b"".join(struct.pack("<Q", v) for v in wide) if wide else b""
        version = 45 if wide else 20
        self._central.write(struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | version, version, flags, 8 if compress else 0, DOS_TIME,
            DOS_DATE, entry.crc, _fit(entry.compressed), _fit(entry.size), len(name), len(extra), 0, 0, 0, attributes,
            _fit(offset)) + name + extra)
        self.entries += 1

    def add_text(self, name: str, text: str) -> None:
        """A small text entry, written in one go (no seeking back)."""
        encoded, flags = _encoded(name)
        data = text.encode("utf-8")
        compress = len(data) >= SMALL
        if compress:
            deflate = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
            payload = deflate.compress(data) + deflate.flush()
        else:
            payload = data
        entry = _Entry(self._out, compress)
        entry.crc, entry.size, entry.compressed = zlib.crc32(data), len(data), len(payload)
        if max(entry.size, entry.compressed) >= LIMIT32:
            raise ValueError(f"zip entry {name} passed 4 GiB; stream it as a large text entry")
        offset = self._offset
        header = self._header(encoded, crc=entry.crc, compressed=len(payload), size=len(data),
                              method=8 if compress else 0, large=False, flags=flags)
        self._out.write(header + payload)
        self._offset += len(header) + len(payload)
        self._record(encoded, entry, offset, compress, flags)

    def add_directory(self, name: str) -> None:
        """An empty folder (`name/`): extracting the archive creates it."""
        encoded, flags = _encoded(name)
        encoded += b"/"
        offset = self._offset
        header = self._header(encoded, crc=0, compressed=0, size=0, method=0, large=False, flags=flags)
        self._out.write(header)
        self._offset += len(header)
        self._record(encoded, _Entry(self._out, False), offset, False, flags, UNIX_DIRECTORY)

    @contextmanager
    def text(self, name: str, *, large: bool = False) -> Iterator[TextEntry]:
        """Stream a text entry; `large` reserves zip64 sizes for an entry that may pass 4 GiB."""
        with self._entry(name, compress=True, large=large) as raw:
            entry = TextEntry(raw)
            yield entry
            entry.flush()

    @contextmanager
    def binary(self, name: str) -> Iterator[IO[bytes]]:
        """Stream an already compressed file (an image), stored as is."""
        with self._entry(name, compress=False) as raw:
            yield raw  # type: ignore[misc]

    def close(self) -> None:
        start = self._offset
        size = self._central.tell()
        self._central.seek(0)
        shutil.copyfileobj(self._central, self._out, 1024 * 1024)
        self._central.close()
        if self.entries >= LIMIT16 or start >= LIMIT32 or size >= LIMIT32:
            end64 = start + size
            self._out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, self.entries, self.entries,
                                        size, start))
            self._out.write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
        count = MAX16 if self.entries >= LIMIT16 else self.entries
        self._out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, _fit(size), _fit(start), 0))
        self._out.flush()

    def abort(self) -> None:
        """Give up on a half-written archive (its file is about to be deleted)."""
        self._central.close()
