"""The home page (my projects) and each project's overview page."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.analysis import service as analysis_service
from app.auth.deps import CurrentUser, InspectorAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.core.templating import render
from app.projects import service
from app.projects.models import LabelClass, Project
from app.projects.navigation import NavLink, sections_for
from app.projects.stats import ProjectStats, project_stats

router = APIRouter()


@dataclass
class HomePage:
    projects: Sequence[Project]


@dataclass
class ProjectPage:
    project: Project
    role: Role
    stats: ProjectStats
    classes: Sequence[LabelClass]
    sections: list[NavLink]
    drift: analysis_service.DriftSummary | None = None  # drifted batches/slices of the latest drift run


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser, db: DbSession) -> HTMLResponse:
    return render(request, "projects/home.html", HomePage(projects=service.projects_for(db, user)))


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, access: InspectorAccess, db: DbSession) -> HTMLResponse:
    page = ProjectPage(
        project=access.project,
        role=access.role,
        stats=project_stats(db, access.project.id),
        classes=service.classes_of(db, access.project.id),
        sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        drift=analysis_service.drift_summary(db, access.project.id),
    )
    return render(request, "projects/project.html", page)
