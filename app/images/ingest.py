"""Everything about one incoming file that needs no database: its bytes staged and hashed, its
pixels verified, its thumbnail and perceptual signature made. Runs in worker processes too (the CLI
prepares files in parallel), so it takes and returns plain picklable values.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from app.core.errors import ConcordError, TooLarge
from app.images import thumbnails, validation
from app.images.validation import Limits

log = logging.getLogger("concord.images")
CHUNK = 1024 * 1024
MAX_NAME = 255
# Bidi controls reorder what a name looks like on screen ("gpj.exe" shown as "exe.jpg").
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


@dataclass(frozen=True)
class Prepared:
    """A verified image, ready to be stored: `source` holds exactly the verified bytes."""

    file_name: str
    source: Path
    sha256: str
    size: int
    format: str
    width: int
    height: int
    thumbnail: bytes
    signature: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """Why a file was not stored, with the HTTP status its error carries (413, 415, 422...)."""

    file_name: str
    status_code: int
    reason: str


def display_name(name: str | None) -> str:
    """The uploader's file name made safe to keep and show: no directories, no control or bidi
    characters, at most 255 characters. Only ever displayed (escaped); never a path."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c not in _BIDI and unicodedata.category(c)[0] != "C")
    cleaned = cleaned.strip().lstrip(".") or "unnamed"
    return cleaned[:MAX_NAME]


def download_name(name: str | None, fmt: str) -> str:
    """The display name ending in the extension of the format the server decoded: `poly.html` served
    as a JPEG downloads as `poly.html.jpg` (opened from disk, it opens as an image, never as a page).
    A name with another image extension has it replaced (`a.png` holding a JPEG -> `a.jpg`)."""
    shown = display_name(name)
    extension = validation.extension(fmt)
    stem, dot, suffix = shown.rpartition(".")
    suffix = suffix.lower()
    if dot and suffix in validation.EXTENSIONS.get(fmt, ()):
        return shown
    if dot and stem and any(suffix in names for names in validation.EXTENSIONS.values()):
        shown = stem
    return f"{shown[:MAX_NAME - len(extension) - 1]}.{extension}"


def hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def stage(stream: BinaryIO, *, tmp_dir: Path, max_bytes: int) -> tuple[Path, str, int]:
    """Copy a stream to a private temporary file while hashing it: (path, sha256, size). The caller
    removes the file. Stops reading as soon as the stream passes `max_bytes` (TooLarge, file removed)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    path = Path(name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than the limit of {max_bytes:,} bytes", field="files")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


@contextmanager
def staged(stream: BinaryIO, *, tmp_dir: Path, max_bytes: int) -> Iterator[tuple[Path, str, int]]:
    """`stage` as a block: the temporary file is removed when the block ends."""
    path, sha256, size = stage(stream, tmp_dir=tmp_dir, max_bytes=max_bytes)
    try:
        yield path, sha256, size
    finally:
        path.unlink(missing_ok=True)


def prepare(
    path: Path,
    *,
    file_name: str,
    limits: Limits,
    sha256: str | None = None,
    size: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Prepared:
    """Verify the file at `path` and make what the row needs. Raises the validation errors
    (TooLarge, UnsupportedMedia, Invalid)."""
    if sha256 is None or size is None:
        if path.stat().st_size > limits.max_bytes:
            raise TooLarge(f"the file is larger than the limit of {limits.max_bytes:,} bytes", field="files")
        sha256, size = hash_file(path)
    # One decode serves validation, thumbnail and signature; a JPEG's is a DCT-scaled draft decode.
    image, (width, height) = validation.open_verified(path, size=size, limits=limits,
                                                      reduce_to=thumbnails.decode_size)
    try:
        fmt = str(image.format)
        signature = perceptual_signature(image)
        thumb = thumbnails.make_thumbnail(image)
    finally:
        image.close()
    return Prepared(
        file_name=display_name(file_name),
        source=path,
        sha256=sha256,
        size=size,
        format=fmt,
        width=width,
        height=height,
        thumbnail=thumb,
        signature=signature,
        meta=dict(meta or {}),
    )


def prepare_or_refuse(
    path: Path, *, file_name: str, limits: Limits, meta: dict[str, Any] | None = None
) -> Prepared | Refusal:
    """`prepare`, with a refusal as a value (for worker processes and per-file reports)."""
    try:
        return prepare(path, file_name=file_name, limits=limits, meta=meta)
    except ConcordError as exc:
        return Refusal(display_name(file_name), exc.status_code, exc.message)
    except OSError as exc:
        return Refusal(display_name(file_name), 422, f"could not be read ({exc.strerror or exc})")


def perceptual_signature(image: Any) -> str | None:
    """Hex of app.consistency.duplicates.signature (the near-duplicate finder's input), or None
    when this image cannot be signed (then the duplicate finder computes it later)."""
    try:
        from app.consistency.duplicates import signature
    except ImportError:  # the consistency package is optional to ingest
        return None
    try:
        source = image if image.mode in ("RGB", "L") else thumbnails.display_copy(image)
        return signature(source).hex()
    except (ValueError, OSError, TypeError) as exc:
        log.warning("no perceptual signature for an image of mode %s: %s", image.mode, exc)
        return None
