"""Job status: JSON for scripts and the progress partial, and a small page per job."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth.deps import InspectorAccess, ProjectAccess
from app.core.db import DbSession
from app.core.templating import render
from app.jobs import service
from app.jobs.models import Job
from app.jobs.service import JobView
from app.projects.models import Project

router = APIRouter()


@dataclass
class JobPage:
    project: Project
    job: JobView
    may_cancel: bool = False


@dataclass
class JobListPage:
    project: Project
    jobs: list[JobView]


@router.get("/api/v1/projects/{project_id}/jobs/{job_id}", tags=["jobs"])
def job_status(job_id: int, access: InspectorAccess, db: DbSession) -> JobView:
    """A job's state, progress (0..1), message and result; 404 for a job the caller may not see."""
    job = service.get_project_job(db, project_id=access.project.id, job_id=job_id, user=access.user,
                                  role=access.role)
    return service.job_view(job)


@router.get("/api/v1/projects/{project_id}/jobs", tags=["jobs"])
def job_list(access: InspectorAccess, db: DbSession) -> list[JobView]:
    """The project's 50 newest jobs (reviewers see all, others the ones they started)."""
    jobs = service.recent_jobs(db, project_id=access.project.id, user=access.user, role=access.role)
    return [service.job_view(job) for job in jobs]


@router.post("/api/v1/projects/{project_id}/jobs/{job_id}/cancel", tags=["jobs"])
def cancel(job_id: int, access: InspectorAccess, db: DbSession) -> JobView:
    """Cancel a job (whoever started it, or a project admin): a queued job ends at once (state
    cancelled), a running one gets `cancel_requested` and ends cancelled at its next progress report.
    409 once it has finished."""
    job = _cancel(db, job_id, access)
    return service.job_view(job)


@router.get("/projects/{project_id}/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: int, access: InspectorAccess, db: DbSession) -> HTMLResponse:
    job = service.get_project_job(db, project_id=access.project.id, job_id=job_id, user=access.user,
                                  role=access.role)
    page = JobPage(project=access.project, job=service.job_view(job),
                   may_cancel=service.may_cancel(job, access.user, access.role))
    return render(request, "jobs/job.html", page)


@router.post("/projects/{project_id}/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_from_page(job_id: int, access: InspectorAccess, db: DbSession) -> RedirectResponse:
    _cancel(db, job_id, access)
    return RedirectResponse(f"/projects/{access.project.id}/jobs/{job_id}", status_code=303)


def _cancel(db: DbSession, job_id: int, access: ProjectAccess) -> Job:
    job = service.get_project_job(db, project_id=access.project.id, job_id=job_id, user=access.user,
                                  role=access.role)
    job = service.cancel_job(db, job, user=access.user, role=access.role)
    db.commit()
    return job


@router.get("/projects/{project_id}/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, access: InspectorAccess, db: DbSession) -> HTMLResponse:
    jobs = service.recent_jobs(db, project_id=access.project.id, user=access.user, role=access.role)
    page = JobListPage(project=access.project, jobs=[service.job_view(job) for job in jobs])
    return render(request, "jobs/list.html", page)
