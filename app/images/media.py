"""Image files, served only through this authorizing route (reliability #1, #2, #7, #21).

The Content-Type comes from the format verified at ingest, never from the uploader's name; the
media CSP (`default-src 'none'; sandbox`) and nosniff make a polyglot file inert even when opened
directly. Content is addressed by hash, so responses are privately cacheable and never change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.auth.deps import InspectorAccess
from app.core.db import DbSession
from app.core.errors import NotFound
from app.core.storage import StorageDep
from app.images import service, validation
from app.images.ingest import download_name
from app.images.models import Image

router = APIRouter(tags=["images"])
CHUNK = 256 * 1024
CACHE = "private, max-age=31536000, immutable"
# Nothing in a served file may run or load anything, even when opened directly (reliability #1).
MEDIA_CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"


def image_url(image: Image) -> str:
    return f"/projects/{image.project_id}/images/{image.id}/file"


def thumbnail_url(image: Image) -> str:
    return f"/projects/{image.project_id}/images/{image.id}/thumb"


@router.get("/projects/{project_id}/images/{image_id}/file", response_class=Response)
def image_file(
    request: Request, image_id: int, access: InspectorAccess, db: DbSession, storage: StorageDep, download: bool = False
) -> Response:
    """The original file, as stored (byte-identical to the upload)."""
    image = service.get_image(db, project_id=access.project.id, image_id=image_id)
    return _serve(
        request,
        storage,
        image.storage_key,
        validation.mime_type(image.format),
        image.sha256,
        disposition=_disposition(image, attachment=download),
    )


@router.get("/projects/{project_id}/images/{image_id}/thumb", response_class=Response)
def image_thumbnail(
    request: Request, image_id: int, access: InspectorAccess, db: DbSession, storage: StorageDep
) -> Response:
    """The JPEG thumbnail (at most 320 px on the long side)."""
    image = service.get_image(db, project_id=access.project.id, image_id=image_id)
    if image.thumbnail_key is None:
        raise NotFound("this image has no thumbnail")
    return _serve(request, storage, image.thumbnail_key, "image/jpeg", f"t-{image.sha256}")


def _serve(
    request: Request, storage: StorageDep, key: str, content_type: str, etag_value: str, disposition: str | None = None
) -> Response:
    etag = f'"{etag_value}"'
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CONTENT_SECURITY_POLICY,
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if disposition:
        headers["Content-Disposition"] = disposition
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    try:
        handle = storage.open(key)
        headers["Content-Length"] = str(storage.size(key))
    except FileNotFoundError:
        raise NotFound("the image file is missing from storage") from None
    return StreamingResponse(_chunks(handle), media_type=content_type, headers=headers)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _disposition(image: Image, *, attachment: bool) -> str:
    """RFC 6266: an ASCII fallback name of ours plus the display name percent-encoded (RFC 5987), both
    ending in the extension of the verified format (a `.html` polyglot must not open as a page)."""
    kind = "attachment" if attachment else "inline"
    fallback = f"image-{image.id}.{validation.extension(image.format)}"
    name = download_name(image.file_name, image.format)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
