"""The file name of each image inside an export: the uploader's name, made safe and unique.

An image keeps its original file name (`img_000002.jpg`), cleaned so that any file system and zip
tool can hold it: Unicode letters and digits, `.`, `_` and `-` stay (a Chinese name stays Chinese),
every other run of characters becomes one `_`, the name is NFC-normalised, at most 150 bytes of
UTF-8 before its extension, never a Windows device name (`CON`, `NUL`, ...), and it ends in the
extension of the format Concord verified by decoding (`poly.html` holding a JPEG is `poly.jpg`; an
extension that already names that format, such as `.JPG` or `.jpeg`, is kept, in lower case).

Unique: two images whose names would differ only in letter case or extension (`a.jpg`, `A.png`)
share a stem, and label files (`labels/<stem>.txt`, `Annotations/<stem>.xml`) would collide. Within
a version, the image with the lowest id keeps the name; every other one gets its id appended to
the stem (`a-42.png`), again until unique. The rule depends only on the version's items, so the same
version always gets the same names.

Flat memory: the stems go to a temporary SQLite file, which finds the collisions; only the renamed
images are kept (there), and `NameBook.renamed` hands them back in image id order, so an export's
passes merge them into their own ordered streams instead of holding a name per image.
"""
from __future__ import annotations

import re
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from types import TracebackType

EXTENSIONS = {"JPEG": ("jpg", "jpeg", "jpe", "jfif"), "PNG": ("png",), "BMP": ("bmp",), "TIFF": ("tif", "tiff"),
              "WEBP": ("webp",)}
MAX_STEM_BYTES = 150
_UNSAFE = re.compile(r"[^\w.-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
BATCH = 5000
_EXTENSION_LIKE = re.compile(r"[A-Za-z0-9]{1,5}")


def canonical_extension(fmt: str) -> str:
    return EXTENSIONS.get(fmt.upper(), ("img",))[0]


def safe_name(file_name: str, fmt: str) -> tuple[str, str]:
    """(stem, extension) of an image's name inside an export. Pure; see the module doc."""
    text = unicodedata.normalize("NFC", file_name.replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    ext = ext.lower()
    if ext not in EXTENSIONS.get(fmt.upper(), ()):
        if not _EXTENSION_LIKE.fullmatch(ext):
            stem = text  # `v1.2_part` has no extension to replace
        ext = canonical_extension(fmt)
    stem = _UNSAFE.sub("_", stem).strip(".-") or "image"
    if stem.lower() in _RESERVED:
        stem = "_" + stem
    while len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    return stem.rstrip(".-") or "image", ext


def key(stem: str) -> str:
    """What two stems must not share: file systems that ignore case (Windows, macOS) see them as one."""
    return stem.casefold()


class NameBook:
    """The renamed images of one export (those whose safe name collides), in a temporary SQLite file.

    Feed every item once with `add(image_id, split, file_name, format)`, in any order, then call
    `resolve()`; `renamed(split)` yields (image_id, stem) in image id order for the images that do not
    keep their own stem. Use as a context manager: the file is removed on exit.
    """

    def __init__(self, tmp_dir: Path | None = None) -> None:
        handle = tempfile.NamedTemporaryFile(prefix=".names-", suffix=".sqlite", dir=tmp_dir, delete=False)  # noqa: SIM115
        handle.close()
        self.path = Path(handle.name)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE stems (image_id INTEGER PRIMARY KEY, split TEXT, stem TEXT, key TEXT);"
            "CREATE TABLE renamed (image_id INTEGER PRIMARY KEY, split TEXT, stem TEXT);")
        self._pending: list[tuple[int, str, str, str]] = []

    def __enter__(self) -> NameBook:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)

    def add(self, image_id: int, split: str, file_name: str, fmt: str) -> None:
        stem, _ = safe_name(file_name, fmt)
        self._pending.append((image_id, split, stem, key(stem)))
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO stems VALUES (?, ?, ?, ?)", self._pending)
        self._pending = []

    def resolve(self) -> int:
        """Give every colliding image but the first of its stem a unique stem; returns how many."""
        self._flush()
        db = self._db
        db.execute("CREATE INDEX stems_key ON stems (key)")
        collided = db.execute(
            "SELECT s.image_id, s.split, s.stem FROM stems s JOIN (SELECT key, min(image_id) AS first FROM stems "
            "GROUP BY key HAVING count(*) > 1) c ON c.key = s.key AND s.image_id <> c.first ORDER BY s.image_id")
        count = 0
        with closing(db.cursor()) as probe:
            for image_id, split, stem in collided.fetchall():
                candidate = f"{stem}-{image_id}"
                while probe.execute("SELECT 1 FROM stems WHERE key = ? LIMIT 1", (key(candidate),)).fetchone():
                    candidate = f"{candidate}-{image_id}"  # an original name was `<stem>-<id>` already
                db.execute("INSERT INTO renamed VALUES (?, ?, ?)", (image_id, split, candidate))
                count += 1
        return count

    def stem_of(self, image_id: int) -> str | None:
        """The stem an image was renamed to, or None when it keeps its own (for lookups out of id order)."""
        found = self._db.execute("SELECT stem FROM renamed WHERE image_id = ?", (image_id,)).fetchone()
        return str(found[0]) if found else None

    def renamed(self, split: str | None = None) -> Iterator[tuple[int, str]]:
        if split is None:
            yield from self._db.execute("SELECT image_id, stem FROM renamed ORDER BY image_id")
        else:
            yield from self._db.execute("SELECT image_id, stem FROM renamed WHERE split = ? ORDER BY image_id",
                                        (split,))


def merged(stream: Iterable[tuple[int, str]]) -> Lookup:
    return Lookup(iter(stream))


class Lookup:
    """Answers "is image N renamed, and to what?" for ascending N, walking an ascending stream once."""

    def __init__(self, stream: Iterator[tuple[int, str]]) -> None:
        self._stream = stream
        self._next = next(stream, None)

    def get(self, image_id: int) -> str | None:
        while self._next is not None and self._next[0] < image_id:
            self._next = next(self._stream, None)
        if self._next is not None and self._next[0] == image_id:
            return self._next[1]
        return None
