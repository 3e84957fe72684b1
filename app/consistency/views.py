"""The agreement page (reviewers and admins) and its recompute button (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth.deps import AdminAccess, ReviewerAccess
from app.consistency import pages, service
from app.core.db import DbSession
from app.core.flash import redirect_with_flash
from app.core.templating import render
from app.projects.navigation import sections_for

router = APIRouter()


@router.get("/projects/{project_id}/agreement", response_class=HTMLResponse)
def agreement(request: Request, access: ReviewerAccess, db: DbSession) -> HTMLResponse:
    sections = sections_for(request.app, project_id=access.project.id, role=access.role)
    return render(request, "consistency/agreement.html", pages.agreement_page(db, access, sections))


@router.post("/projects/{project_id}/agreement/recompute")
def recompute(request: Request, access: AdminAccess, db: DbSession) -> RedirectResponse:
    """Queue the global recompute (or run it here when no job runner is configured)."""
    project_id = access.project.id
    job = service.schedule_recompute(db, project_id=project_id, created_by=access.user)
    if job is None:
        summary = service.recompute_project(db, project_id=project_id)
        db.commit()
        message = f"Recomputed: alpha {summary['alpha']:.3f}" if summary["alpha"] is not None else "Recomputed"
        return redirect_with_flash(request, f"/projects/{project_id}/agreement", message)
    db.commit()
    message = f"Recompute queued as job {job.id}; the figures refresh when it is done"
    return redirect_with_flash(request, f"/projects/{project_id}/agreement", message)
