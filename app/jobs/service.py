"""Enqueue jobs and read their state, for the pages and the API of every domain.

`enqueue` adds a row in the caller's transaction: the job exists (and runs) only if the caller
commits, so a rolled-back request never leaves a job behind.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core import audit
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.jobs import queue
from app.jobs.models import Job, JobState
from app.jobs.registry import cancelled_job, load_kinds, title_of

FINISHED = (JobState.done, JobState.failed, JobState.cancelled)

# Set after a transaction that enqueued a job commits: wakes this process's idle runners at once
# (only a hint; every runner also polls the table, which is the truth).
JOB_ADDED = threading.Event()


def enqueue(db: Session, *, kind: str, project_id: int | None = None, payload: dict[str, Any] | None = None,
            created_by: User | None = None, run_after: datetime | None = None) -> Job:
    """A queued job of a registered kind; raises Invalid for an unknown kind."""
    known = load_kinds().get(kind)
    if known is None:
        raise Invalid(f"unknown job kind {kind!r}", field="kind")
    job = Job(kind=kind, project_id=project_id, payload=payload or {}, state=JobState.queued, progress=0.0,
              message="queued", attempts=0, max_attempts=known.max_attempts, run_after=run_after,
              created_by_id=created_by.id if created_by else None)
    db.add(job)
    db.flush()
    if not event.contains(db, "after_commit", _wake_runners):
        event.listen(db, "after_commit", _wake_runners)
    return job


def _wake_runners(_session: Session) -> None:
    JOB_ADDED.set()


def get_project_job(db: Session, *, project_id: int, job_id: int, user: User, role: Role) -> Job:
    """The job, if it belongs to the project and the caller may see it: reviewers and admins see
    every job of the project, other members only the jobs they started. NotFound otherwise."""
    job = db.scalar(select(Job).where(Job.id == job_id, Job.project_id == project_id))
    if job is None or not _may_see(job, user, role):
        raise NotFound("job not found")
    return job


def may_cancel(job: Job, user: User, role: Role) -> bool:
    return role.rank >= Role.admin.rank or (job.created_by_id is not None and job.created_by_id == user.id)


def cancel_job(db: Session, job: Job, *, user: User | None, role: Role | None = None) -> Job:
    """Cancel a job: a queued one ends at once, a running one is flagged and its worker stops it at its
    next progress report (its work is rolled back). `role` None: a site operator (the CLI).
    Forbidden unless the caller started the job or is a project admin; Conflict once it has finished.
    The caller commits."""
    if role is not None and (user is None or not may_cancel(job, user, role)):
        raise Forbidden("only whoever started the job, or a project admin, may cancel it")
    if queue.cancel_queued(db, job.id):
        cancelled_job(db, load_kinds().get(job.kind), job.id)
        outcome = "cancelled"
    elif queue.request_cancel(db, job.id):
        outcome = "requested"
    else:
        db.refresh(job)
        raise Conflict(f"the job has already ended ({job.state})", detail={"state": job.state})
    audit.record(db, action="job.cancel", actor_id=user.id if user else None, project_id=job.project_id,
                 object_type="job", object_id=job.id, data={"kind": job.kind, "outcome": outcome})
    db.flush()
    db.refresh(job)
    return job


def pending_jobs(db: Session, *, project_id: int, kind: str) -> list[Job]:
    """The project's queued and running jobs of `kind`, oldest first."""
    return list(db.scalars(select(Job).where(Job.project_id == project_id, Job.kind == kind,
                                             Job.state.in_((JobState.queued, JobState.running))).order_by(Job.id)))


def recent_jobs(db: Session, *, project_id: int, user: User, role: Role, limit: int = 50) -> list[Job]:
    query = select(Job).where(Job.project_id == project_id).order_by(Job.id.desc()).limit(limit)
    if role.rank < Role.reviewer.rank:
        query = query.where(Job.created_by_id == user.id)
    return list(db.scalars(query))


def _may_see(job: Job, user: User, role: Role) -> bool:
    return role.rank >= Role.reviewer.rank or job.created_by_id == user.id


@dataclass
class JobView:
    """What pages and the API show of a job."""

    id: int
    kind: str
    title: str
    state: str
    progress: float
    message: str
    result: dict[str, Any] | None
    result_url: str | None  # a local link the job produced (an export to download, ...)
    attempts: int
    max_attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    status_url: str  # the JSON endpoint the progress partial polls
    page_url: str
    cancel_requested: bool = False  # a person asked to cancel it; a running job stops at its next report
    cancel_url: str | None = None  # POST here to cancel (None once finished)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def job_view(job: Job) -> JobView:
    base = f"/projects/{job.project_id}/jobs/{job.id}"
    result_url = (job.result or {}).get("url")
    return JobView(
        id=job.id, kind=job.kind, title=title_of(job.kind), state=job.state, progress=job.progress,
        message=job.message, result=job.result, result_url=_local_link(result_url), attempts=job.attempts,
        max_attempts=job.max_attempts, created_at=job.created_at.isoformat(), started_at=_iso(job.started_at),
        finished_at=_iso(job.finished_at), status_url=f"/api/v1{base}", page_url=base,
        cancel_requested=job.cancel_requested_at is not None,
        cancel_url=None if job.state in FINISHED else f"/api/v1{base}/cancel",
    )


def _local_link(url: Any) -> str | None:
    """Only a path on this site becomes a link (never another origin)."""
    if isinstance(url, str) and url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
