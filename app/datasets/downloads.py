"""Streaming a stored export to the browser or a script as an attachment (RFC 6266 filename)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from app.core.storage import Storage
from app.datasets.models import DatasetExport, DatasetVersion

CHUNK = 256 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_filename(project_name: str, version: DatasetVersion, export: DatasetExport) -> str:
    images = "-images" if export.include_images else ""
    return f"{project_name}-v{version.number}-{export.format}{images}.zip"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266/5987: an ASCII fallback and the exact UTF-8 name; no quote, CR or LF gets through."""
    fallback = _UNSAFE.sub("_", filename).strip("._") or "download"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def stream_export(storage: Storage, export: DatasetExport, filename: str) -> Response:
    handle = storage.open(export.storage_key)  # opened now: a missing file fails before the headers go out
    headers = {"Content-Disposition": content_disposition(filename), "Content-Length": str(export.size_bytes),
               "ETag": f'"{export.sha256}"', "Cache-Control": "private, no-cache",
               "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(_chunks(handle), media_type="application/zip", headers=headers)


def text_file(body: str, filename: str, media_type: str) -> Response:
    """A datasheet: shown in the browser as plain text (never HTML), named for saving."""
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": content_disposition(filename, "inline"),
                             "X-Content-Type-Options": "nosniff"})


def stream_answers(db: Session, scope: Any) -> Response:
    """The answers zip, written while it is sent, from a reader that holds no lock a labeler waits for
    (the request's session stays open until the last byte)."""
    from app.core.db import read_only_session
    from app.datasets import answers

    def body() -> Iterator[bytes]:
        with read_only_session(db) as reader:
            yield from answers.stream(reader, scope)

    headers = {"Content-Disposition": content_disposition(scope.filename), "Cache-Control": "private, no-store",
               "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(body(), media_type="application/zip", headers=headers)
