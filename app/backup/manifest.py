"""What the archive says about itself: the header (first member) and the manifest (last member).

The header lets a restore refuse a wrong format or schema revision before reading gigabytes. The
manifest holds the format, schema revision, creation time, the row count of every table, the media
figures, and the SHA-256 of SHA256SUMS, which lists the SHA-256 of every other member
(`sha256sum -c SHA256SUMS` checks an unpacked archive). The manifest carries the SHA-256 of its own
canonical JSON, so a flipped byte in it is caught too.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from app.backup.archive import ArchiveCorrupt

FORMAT = "concord-backup"
FORMAT_VERSION = 1
MAX_SMALL_MEMBER = 16 * 2**20  # header and manifest; anything bigger is not ours

# The unit of progress is a row or a media object on backup, a byte of the archive on restore.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """The progress callback when nobody watches."""


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sealed(body: dict[str, Any]) -> bytes:
    return canonical({**body, "sha256": hashlib.sha256(canonical(body)).hexdigest()})


def unsealed(data: bytes, name: str) -> dict[str, Any]:
    """The body of a sealed member; ArchiveCorrupt when it does not parse or its own hash is wrong."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveCorrupt(f"{name} is not valid JSON") from None
    if not isinstance(body, dict) or "sha256" not in body:
        raise ArchiveCorrupt(f"{name} is not a Concord backup {name}")
    seal = body.pop("sha256")
    if hashlib.sha256(canonical(body)).hexdigest() != seal:
        raise ArchiveCorrupt(f"{name} does not match its own checksum: the archive is damaged")
    if body.get("format") != FORMAT:
        raise ArchiveCorrupt(f"not a Concord backup ({name} names format {body.get('format')!r})")
    if body.get("version") != FORMAT_VERSION:
        raise ArchiveCorrupt(f"backup format version {body.get('version')!r} is not supported "
                             f"(this Concord reads version {FORMAT_VERSION})")
    return body
