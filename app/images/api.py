"""JSON API for images: upload (multipart `files` parts, a result per file), list, read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import AdminAccess, InspectorAccess, settings_of
from app.core.db import DbSession
from app.core.faults import fault_point
from app.core.storage import StorageDep
from app.images import service, uploads
from app.images.media import image_url, thumbnail_url
from app.images.models import Image, UploadBatch
from app.images.uploads import UploadReport

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["images"])
# Parsing limits for the multipart body (the configured max_files_per_request is checked after).
FORM_LIMITS = {"max_files": 1000, "max_fields": 16, "max_part_size": 64 * 1024}


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)


class BatchOut(BaseModel):
    id: int
    name: str
    source: str
    stats: dict[str, Any]


class ImageOut(BaseModel):
    id: int
    file_name: str
    format: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    batch_id: int | None
    meta: dict[str, Any]
    url: str
    thumbnail_url: str


def image_out(image: Image) -> ImageOut:
    return ImageOut(
        id=image.id,
        file_name=image.file_name,
        format=image.format,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        sha256=image.sha256,
        batch_id=image.batch_id,
        meta=dict(image.meta or {}),
        url=image_url(image),
        thumbnail_url=thumbnail_url(image),
    )


@router.post(
    "/images",
    form_limits=FORM_LIMITS,  # type: ignore[arg-type]
    responses={
        200: {"description": "per-file results: stored, duplicate or refused (with reason)"},
        413: {"description": "over a size, count or quota limit"},
        415: {"description": "no file was an allowed image type"},
        422: {"description": "no file could be read (the per-file results say why), or invalid input"},
    },
)
def upload_images(
    request: Request,
    access: AdminAccess,
    db: DbSession,
    storage: StorageDep,
    files: Annotated[list[UploadFile], File(description="one part per image")],
    batch_id: Annotated[int | None, Form()] = None,
    meta: Annotated[str | None, Form(description="JSON object stored on every image")] = None,
) -> JSONResponse:
    """Upload images. Each file is verified (JPEG, PNG, BMP, TIFF, WebP; decodes fully; under the pixel
    and byte limits), stored once per content, and reported: stored, duplicate, or refused with why."""
    batch = service.get_batch(db, project_id=access.project.id, batch_id=batch_id) if batch_id else None
    report = run_upload(request, db, storage, access, files, meta=uploads.parse_meta(meta), batch=batch)
    return JSONResponse(report.as_json(), status_code=report.status_code())


def run_upload(
    request: Request,
    db: DbSession,
    storage: StorageDep,
    access: AdminAccess,
    files: list[UploadFile],
    *,
    meta: dict[str, Any],
    batch: UploadBatch | None = None,
    batch_name: str = "",
) -> UploadReport:
    """Verify, store and commit an upload (shared by the API and the page's plain form). The read
    transaction is ended first: on SQLite it would hold the write lock while pixels are decoded."""
    settings = settings_of(request)
    service.check_quota(db, project=access.project, settings=settings, incoming=len(files))
    db.commit()
    with uploads.prepared_files([(f.filename, f.file) for f in files], settings=settings, meta=meta) as items:
        report = uploads.store_files(
            db,
            storage=storage,
            settings=settings,
            project=access.project,
            user=access.user,
            items=items,
            batch=batch,
            batch_name=batch_name,
        )
        try:
            db.commit()
        except Exception:
            uploads.discard_written(db, storage, report)
            raise
        fault_point("upload.committed")
    return report


@router.post("/batches", response_model=BatchOut, status_code=201)
def create_batch(access: AdminAccess, db: DbSession, body: Annotated[BatchIn | None, Body()] = None) -> BatchOut:
    """Open an upload batch, so that several upload requests (one per file) form one batch."""
    batch = service.start_batch(
        db, project=access.project, name=(body or BatchIn()).name or "upload", source="upload", creator=access.user
    )
    db.commit()
    return BatchOut(id=batch.id, name=batch.name, source=batch.source, stats=dict(batch.stats or {}))


@router.get("/images", response_model=list[ImageOut])
def list_images(
    access: InspectorAccess, db: DbSession, after_id: int = 0, limit: int = 100, batch_id: int | None = None
) -> list[ImageOut]:
    """The project's images in id order, a page at a time (`after_id` = the last id seen)."""
    found = service.images_page(
        db, project_id=access.project.id, after_id=after_id, limit=max(1, min(limit, 1000)), batch_id=batch_id
    )
    return [image_out(image) for image in found]


@router.get("/images/{image_id}", response_model=ImageOut)
def get_image(image_id: int, access: InspectorAccess, db: DbSession) -> ImageOut:
    return image_out(service.get_image(db, project_id=access.project.id, image_id=image_id))
