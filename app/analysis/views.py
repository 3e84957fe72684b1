"""Analysis pages for reviewers and admins: slices and findings, drift, label issues, augmentation."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.analysis import pages, service
from app.analysis.augmentation import MAX_PER_IMAGE
from app.analysis.schemas import RankBy
from app.auth.deps import AdminAccess, ProjectAccess, ReviewerAccess, settings_of
from app.core.db import DbSession
from app.core.errors import Invalid
from app.core.flash import redirect_with_flash
from app.core.storage import StorageDep
from app.core.templating import render
from app.projects.navigation import NavLink, sections_for

router = APIRouter()
ModelQuery = Annotated[str | None, Query(max_length=120)]


def _tabs(request: Request, access: ProjectAccess) -> Sequence[NavLink]:
    return sections_for(request.app, project_id=access.project.id, role=access.role)


def _back(request: Request, path: str, message: str) -> RedirectResponse:
    return redirect_with_flash(request, path, message)


@router.get("/projects/{project_id}/analysis", response_class=HTMLResponse)
def analysis(request: Request, access: ReviewerAccess, db: DbSession, model: ModelQuery = None) -> HTMLResponse:
    page = pages.analysis_page(db, access, _tabs(request, access), model or None)
    return render(request, "analysis/overview.html", page)


@router.get("/projects/{project_id}/analysis/drift", response_class=HTMLResponse)
def drift(request: Request, access: ReviewerAccess, db: DbSession,
          group: Annotated[str | None, Query(max_length=300)] = None) -> HTMLResponse:
    return render(request, "analysis/drift.html", pages.drift_page(db, access, _tabs(request, access), group or None))


@router.post("/projects/{project_id}/analysis/drift/run")
def run_drift(request: Request, access: AdminAccess, db: DbSession, storage: StorageDep) -> RedirectResponse:
    report = service.run_drift(db, storage=storage, project_id=access.project.id, actor=access.user)
    db.commit()
    return _back(request, f"/projects/{access.project.id}/analysis/drift",
                 f"Drift computed: {report.n_flagged} drifted batches/slices, "
                 f"{report.report['raised_priority']} images moved forward in the queue")


@router.post("/projects/{project_id}/analysis/drift/reference")
def set_reference(request: Request, access: AdminAccess, db: DbSession,
                  batch_id: Annotated[int, Form()]) -> RedirectResponse:
    batch = service.set_reference_batch(db, project_id=access.project.id, batch_id=batch_id, actor=access.user)
    db.commit()
    return _back(request, f"/projects/{access.project.id}/analysis/drift",
                 f"Reference batch is now {batch.name}; run drift again")


@router.get("/projects/{project_id}/analysis/label-issues", response_class=HTMLResponse)
def label_issues(request: Request, access: ReviewerAccess, db: DbSession, model: ModelQuery = None,
                 rank_by: RankBy = "self_confidence") -> HTMLResponse:
    page = pages.label_issues_page(db, access, _tabs(request, access), model=model or None, rank_by=rank_by)
    return render(request, "analysis/label_issues.html", page)


@router.post("/projects/{project_id}/analysis/predictions", response_class=HTMLResponse)
async def import_predictions(request: Request, access: AdminAccess, db: DbSession,
                             file: UploadFile, model: Annotated[str, Form(max_length=120)] = "") -> Response:
    try:
        result = service.import_predictions(db, project_id=access.project.id, data=await file.read(),
                                            model_name=model or None, file_name=file.filename or "",
                                            content_type=file.content_type or "", actor=access.user)
    except Invalid as exc:  # the whole file is checked before any write: show the named row again
        page = pages.label_issues_page(db, access, _tabs(request, access), model=None, rank_by="self_confidence",
                                        error=exc.message)
        return render(request, "analysis/label_issues.html", page, status_code=422)
    db.commit()
    return _back(request, f"/projects/{access.project.id}/analysis/label-issues",
                 f"Imported {result.rows} predictions of the model")


@router.post("/projects/{project_id}/analysis/label-issues/send")
def send_issues(request: Request, access: ReviewerAccess, db: DbSession,
                model: Annotated[str, Form(max_length=120)] = "",
                rank_by: Annotated[RankBy, Form()] = "self_confidence") -> RedirectResponse:
    result = service.send_to_review(db, project_id=access.project.id, actor=access.user, model_name=model or None,
                                    rank_by=rank_by)
    db.commit()
    return _back(request, f"/projects/{access.project.id}/analysis/label-issues",
                 f"Review queue: {result.created} new, {result.updated + result.reopened} updated, "
                 f"{result.kept_settled} already settled, {result.closed} closed")


@router.post("/projects/{project_id}/analysis/augment")
def augment(request: Request, access: AdminAccess, db: DbSession, storage: StorageDep,
            class_name: Annotated[str, Form(max_length=80)],
            per_image: Annotated[int, Form(ge=1, le=MAX_PER_IMAGE)] = 2,
            seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0) -> RedirectResponse:
    result = service.augment_class(db, storage=storage, settings=settings_of(request), project=access.project,
                                   class_name=class_name, per_image=per_image, seed=seed, actor=access.user)
    db.commit()
    return _back(request, f"/projects/{access.project.id}/analysis",
                 f"Augmented {result.sources} {result.class_name} images: {result.created} new copies"
                 + (f", {result.existing} already there" if result.existing else ""))
