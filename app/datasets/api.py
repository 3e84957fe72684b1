"""JSON API for dataset versions and exports: /api/v1/projects/{project_id}/datasets/... (admins only)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.auth.deps import AdminAccess
from app.core.db import DbSession
from app.core.storage import StorageDep
from app.datasets import answers, datasheet, downloads, service
from app.datasets.jobs import export_out, export_status, freeze_queued, start_export, start_freeze
from app.datasets.schemas import (
    AnswersIn,
    ExportFormat,
    ExportIn,
    ExportOut,
    ExportStatus,
    FreezeIn,
    FreezeQueued,
    ItemsPage,
    VersionDiffOut,
    VersionOut,
)
from app.jobs.models import Job

router = APIRouter(prefix="/api/v1/projects/{project_id}/datasets", tags=["datasets"])
Images = Annotated[bool, Query(description="the archive holds the image files")]


@router.get("", response_model=list[VersionOut])
def list_versions(access: AdminAccess, db: DbSession) -> Any:
    return service.list_versions(db, access.project.id)


@router.post("", status_code=201, responses={201: {"model": VersionOut}, 202: {"model": FreezeQueued}})
def freeze(request: Request, body: FreezeIn, access: AdminAccess, db: DbSession) -> Any:
    """Freeze the project's decided labels that pass the filter into a new immutable version: 201 with
    it when it is small (or `wait` is set), else 202 with the queued job (poll its `status_url`)."""
    made = start_freeze(db, project=access.project, spec=body, user=access.user,
                        inline_max=request.app.state.settings.freeze_in_request_max_items)
    db.commit()
    if isinstance(made, Job):
        return JSONResponse(freeze_queued(made).model_dump(mode="json"), status_code=202)
    return JSONResponse(VersionOut.model_validate(made).model_dump(mode="json"), status_code=201)


@router.get("/diff")
def diff(a: int, b: int, access: AdminAccess, db: DbSession) -> VersionDiffOut:
    """What changed from version id `a` to version id `b`."""
    return VersionDiffOut.model_validate(service.diff(db, access.project.id, before_id=a, after_id=b).as_dict())


@router.get("/{version_id}", response_model=VersionOut)
def get_version(version_id: int, access: AdminAccess, db: DbSession) -> Any:
    return service.get_version(db, access.project.id, version_id)


@router.get("/{version_id}/items")
def items(version_id: int, access: AdminAccess, db: DbSession, after: int = 0, limit: int = 500) -> ItemsPage:
    """Frozen items in image id order; pass the last `image_id` as `after` for the next page."""
    version = service.get_version(db, access.project.id, version_id)
    page = service.items_page(db, version, after=after, limit=limit)
    return ItemsPage.model_validate({"items": page, "next_after": page[-1]["image_id"] if len(page) == limit else None})


@router.get("/{version_id}/datasheet", responses={200: {
    "description": "the datasheet: JSON, or Markdown with format=md",
    "content": {"application/json": {"schema": {"type": "object"}}, "text/markdown": {"schema": {"type": "string"}}}}})
def get_datasheet(version_id: int, access: AdminAccess, db: DbSession,
                  format: Literal["json", "md"] = "json") -> Response:
    version = service.get_version(db, access.project.id, version_id)
    if format == "md":
        return downloads.text_file(datasheet.to_markdown(version, access.project.name),
                                   f"datasheet-v{version.number}.md", "text/markdown; charset=utf-8")
    return downloads.text_file(datasheet.to_json(version, access.project.name), f"datasheet-v{version.number}.json",
                               "application/json")


@router.get("/{version_id}/exports", response_model=list[ExportOut])
def list_exports(version_id: int, access: AdminAccess, db: DbSession) -> Any:
    version = service.get_version(db, access.project.id, version_id)
    return [export_out(version, e, api=True) for e in service.list_exports(db, version)]


@router.post("/{version_id}/exports", responses={201: {"model": ExportOut}, 202: {"model": ExportStatus}})
def export(version_id: int, body: ExportIn, access: AdminAccess, db: DbSession, storage: StorageDep) -> Any:
    """Make the export (201 with it), or queue it as a job (202: poll the status). Label Studio takes
    `image_source` (local_files or url) and `image_root`: where Label Studio will find the images."""
    version = service.get_version(db, access.project.id, version_id)
    made = start_export(db, storage=storage, version=version, fmt=body.format, include_images=body.include_images,
                        user=access.user, wait=body.wait, options=body.options(), release=db.commit)
    db.commit()
    if isinstance(made, int):
        status = export_status(db, storage=storage, version=version, fmt=body.format,
                               include_images=body.include_images, api=True)
        return JSONResponse(status.model_dump(mode="json"), status_code=202)
    return JSONResponse(export_out(version, made, api=True).model_dump(mode="json"), status_code=201)


@router.get("/{version_id}/exports/{format}", response_model=ExportStatus)
def status(version_id: int, format: ExportFormat, access: AdminAccess, db: DbSession, storage: StorageDep,
           include_images: Images = False) -> Any:
    version = service.get_version(db, access.project.id, version_id)
    return export_status(db, storage=storage, version=version, fmt=format, include_images=include_images, api=True)


@router.get("/{version_id}/exports/{format}/download", response_class=Response)
def download(version_id: int, format: ExportFormat, access: AdminAccess, db: DbSession, storage: StorageDep,
             include_images: Images = False) -> Response:
    """The zip archive, streamed."""
    version = service.get_version(db, access.project.id, version_id)
    export = service.get_export(db, storage=storage, version=version, fmt=format, include_images=include_images)
    return downloads.stream_export(storage, export, downloads.export_filename(access.project.name, version, export))


answers_router = APIRouter(prefix="/api/v1/projects/{project_id}/answers", tags=["datasets"])


@answers_router.post("/export", response_class=Response, responses={200: {
    "description": "a zip: answers.csv, tasks.json (Label Studio, with completed_by), labelstudio/config.xml",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def export_answers(body: AnswersIn, access: AdminAccess, db: DbSession) -> Response:
    """Every labeler's answers (superseded ones too, in the CSV) of the project or of one version's
    images, with who gave them; streamed as it is written. Recorded in the audit trail."""
    scope = answers.scope_of(db, access.project, body)
    answers.record(db, scope, access.user.id)
    db.commit()
    return downloads.stream_answers(db, scope)
