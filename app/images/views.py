"""The upload page: many files at once, progress and a result per file (JS), or a plain form post."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from app.auth.deps import AdminAccess, settings_of
from app.core.db import DbSession
from app.core.storage import StorageDep
from app.core.templating import render
from app.images import service, uploads, validation
from app.images.api import FORM_LIMITS, run_upload
from app.images.models import UploadBatch
from app.images.service import IngestResult
from app.projects.models import Project
from app.projects.navigation import NavLink, sections_for

router = APIRouter(tags=["images"])


@dataclass
class UploadPage:
    project: Project
    sections: list[NavLink]
    image_count: int
    batches: Sequence[UploadBatch]
    max_bytes: int
    max_pixels: int
    max_files: int
    formats: str = validation.ALLOWED_TEXT
    accept: str = "image/jpeg,image/png,image/bmp,image/tiff,image/webp,.jpg,.jpeg,.png,.bmp,.tif,.tiff,.webp"
    results: list[IngestResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _page(request: Request, db: DbSession, access: AdminAccess) -> UploadPage:
    settings = settings_of(request)
    return UploadPage(
        project=access.project,
        sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        image_count=service.count_images(db, access.project.id),
        batches=service.recent_batches(db, project_id=access.project.id),
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_files=settings.max_files_per_request,
    )


@router.get("/projects/{project_id}/upload", response_class=HTMLResponse)
def upload_page(request: Request, access: AdminAccess, db: DbSession) -> HTMLResponse:
    return render(request, "images/upload.html", _page(request, db, access))


@router.post("/projects/{project_id}/upload", response_class=HTMLResponse, form_limits=FORM_LIMITS)  # type: ignore[arg-type]
def upload_form(
    request: Request,
    access: AdminAccess,
    db: DbSession,
    storage: StorageDep,
    files: Annotated[list[UploadFile], File()],
    line: Annotated[str, Form(max_length=200)] = "",
    camera: Annotated[str, Form(max_length=200)] = "",
    shift: Annotated[str, Form(max_length=200)] = "",
    batch_name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """The same upload without JavaScript: the results are shown on the page."""
    meta = uploads.clean_meta({"line": line or None, "camera": camera or None, "shift": shift or None}, field="meta")
    report = run_upload(
        request,
        db,
        storage,
        access,
        [f for f in files if f.filename],
        meta={k: v for k, v in meta.items() if v is not None},
        batch_name=batch_name,
    )
    page = _page(request, db, access)
    page.results, page.counts = report.results, report.counts()
    return render(request, "images/upload.html", page)
