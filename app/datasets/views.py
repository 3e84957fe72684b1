"""Dataset pages for a project's admins: versions, the freeze form, a version and its exports, diffs."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.auth.deps import AdminAccess, ProjectAccess
from app.core.db import DbSession
from app.core.errors import ConcordError
from app.core.flash import redirect_with_flash
from app.core.handlers import wants_json
from app.core.storage import StorageDep
from app.core.templating import render
from app.datasets import answers, datasheet, downloads, pages, service
from app.datasets.jobs import export_status, start_export, start_freeze
from app.datasets.schemas import AnswersIn, ExportFormat, ImageSource, export_options
from app.jobs.models import Job
from app.projects.navigation import NavLink, sections_for

router = APIRouter(tags=["datasets"])
BASE = "/projects/{project_id}/datasets"


def _sections(request: Request, access: ProjectAccess) -> list[NavLink]:
    return sections_for(request.app, project_id=access.project.id, role=access.role)


@router.get(BASE, response_class=HTMLResponse)
def datasets(request: Request, access: AdminAccess, db: DbSession) -> HTMLResponse:
    return render(request, "datasets/index.html", pages.datasets_page(db, access.project, _sections(request, access)))


@router.post(BASE, response_class=HTMLResponse)
def freeze(request: Request, access: AdminAccess, db: DbSession,
           form: Annotated[pages.FreezeForm, Form()]) -> Response:
    """Freeze now, or (a big one) queue it and show the job's progress page, which links to the version."""
    try:
        made = start_freeze(db, project=access.project, spec=form.to_spec(), user=access.user,
                            inline_max=request.app.state.settings.freeze_in_request_max_items)
    except ConcordError as exc:
        page = pages.datasets_page(db, access.project, _sections(request, access), form)
        page.error, page.error_field = exc.message, exc.field
        return render(request, "datasets/index.html", page, status_code=exc.status_code)
    db.commit()
    if isinstance(made, Job):
        message = "Freezing the version in the background; it opens from here when it is done"
        return redirect_with_flash(request, f"/projects/{access.project.id}/jobs/{made.id}", message)
    message = f"Version {made.number} frozen: {made.counts['items']} images"
    return redirect_with_flash(request, f"/projects/{access.project.id}/datasets/{made.id}", message)


@router.get(BASE + "/diff", response_class=HTMLResponse)
def diff(request: Request, a: int, b: int, access: AdminAccess, db: DbSession) -> HTMLResponse:
    page = pages.diff_page(db, access.project, _sections(request, access), before_id=a, after_id=b)
    return render(request, "datasets/diff.html", page)


@router.get(BASE + "/{version_id}", response_class=HTMLResponse)
def version(request: Request, version_id: int, access: AdminAccess, db: DbSession,
            storage: StorageDep) -> HTMLResponse:
    found = service.get_version(db, access.project.id, version_id)
    page = pages.version_page(db, storage, access.project, _sections(request, access), found)
    return render(request, "datasets/version.html", page)


@router.post(BASE + "/{version_id}/exports", response_class=HTMLResponse)
def export(request: Request, version_id: int, access: AdminAccess, db: DbSession, storage: StorageDep,
           format: Annotated[ExportFormat, Form()], include_images: Annotated[bool, Form()] = False,
           image_source: Annotated[ImageSource, Form()] = ImageSource.local_files,
           image_root: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Start (or make) an export; the page's script polls its status, a plain form post comes back here."""
    found = service.get_version(db, access.project.id, version_id)
    options = export_options(image_source=image_source, image_root=image_root)
    start_export(db, storage=storage, version=found, fmt=format, include_images=include_images, user=access.user,
                 wait=False, options=options, release=db.commit)
    db.commit()
    if wants_json(request):
        status = export_status(db, storage=storage, version=found, fmt=format, include_images=include_images)
        return JSONResponse(status.model_dump(mode="json"))
    return RedirectResponse(f"/projects/{access.project.id}/datasets/{found.id}#exports", status_code=303)


@router.get(BASE + "/{version_id}/exports/{format}/download", response_class=Response)
def download(version_id: int, format: ExportFormat, access: AdminAccess, db: DbSession, storage: StorageDep,
             include_images: bool = False) -> Response:
    found = service.get_version(db, access.project.id, version_id)
    made = service.get_export(db, storage=storage, version=found, fmt=format, include_images=include_images)
    return downloads.stream_export(storage, made, downloads.export_filename(access.project.name, found, made))


@router.get(BASE + "/{version_id}/datasheet.md", response_class=Response)
def datasheet_markdown(version_id: int, access: AdminAccess, db: DbSession) -> Response:
    found = service.get_version(db, access.project.id, version_id)
    return downloads.text_file(datasheet.to_markdown(found, access.project.name), f"datasheet-v{found.number}.md",
                               "text/plain; charset=utf-8")


@router.get(BASE + "/{version_id}/datasheet.json", response_class=Response)
def datasheet_json(version_id: int, access: AdminAccess, db: DbSession) -> Response:
    found = service.get_version(db, access.project.id, version_id)
    return downloads.text_file(datasheet.to_json(found, access.project.name), f"datasheet-v{found.number}.json",
                               "application/json")


@router.post("/projects/{project_id}/answers/export", response_class=Response)
def export_answers(access: AdminAccess, db: DbSession, version_id: Annotated[str, Form()] = "",
                   pseudonyms: Annotated[bool, Form()] = False,
                   image_source: Annotated[ImageSource, Form()] = ImageSource.local_files,
                   image_root: Annotated[str, Form(max_length=500)] = "") -> Response:
    """The labelers' answers as a zip download (the form on the datasets page)."""
    options = export_options(image_source=image_source, image_root=image_root)
    spec = AnswersIn(version_id=int(version_id) if version_id.isdigit() else None, pseudonyms=pseudonyms,
                     image_source=options.image_source, image_root=options.image_root)
    scope = answers.scope_of(db, access.project, spec)
    answers.record(db, scope, access.user.id)
    db.commit()
    return downloads.stream_answers(db, scope)
