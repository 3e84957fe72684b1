"""Model pages for reviewers and admins: the runs and the train form, a run, two runs compared."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from app.auth.deps import ProjectAccess, ReviewerAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.core.errors import NotFound
from app.core.templating import render
from app.modeling import pages
from app.modeling.models import ModelRun
from app.projects.navigation import NavLink, sections_for

router = APIRouter(tags=["models"])
BASE = "/projects/{project_id}/models"


def _sections(request: Request, access: ProjectAccess) -> list[NavLink]:
    return sections_for(request.app, project_id=access.project.id, role=access.role)


def _run(db: DbSession, project_id: int, run_id: int) -> ModelRun:
    run = db.scalar(select(ModelRun).where(ModelRun.project_id == project_id, ModelRun.id == run_id))
    if run is None:
        raise NotFound(f"no model run {run_id} in this project")
    return run


@router.get(BASE, response_class=HTMLResponse)
def runs(request: Request, access: ReviewerAccess, db: DbSession) -> HTMLResponse:
    page = pages.runs_page(db, access.project, _sections(request, access), may_train=access.at_least(Role.admin))
    return render(request, "modeling/runs.html", page)


@router.get(BASE + "/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: int, access: ReviewerAccess, db: DbSession,
        source: str = "evaluation") -> HTMLResponse:
    found = _run(db, access.project.id, run_id)
    page = pages.run_page(db, access.project, _sections(request, access), found, source=source,
                          may_train=access.at_least(Role.admin))
    return render(request, "modeling/run.html", page)
