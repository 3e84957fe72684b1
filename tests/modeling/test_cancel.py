"""A cancelled training job leaves its run cancelled, with nothing of its work stored."""
from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobState
from app.modeling import service
from app.modeling.models import RunPrediction, RunState
from tests.modeling.conftest import run_jobs
from tests.modeling.scene import Scene, freeze


def test_a_queued_run_is_cancelled_with_its_job(db: Session, app: FastAPI, scene: Scene) -> None:
    run = service.start_run(db, project_id=scene.project.id, version_id=freeze(db, scene).id, user=scene.admin)
    job = db.get_one(Job, run.job_id)
    jobs_service.cancel_job(db, job, user=scene.admin, role=None)
    db.refresh(run)
    assert (job.state, run.state, run.error) == (JobState.cancelled, RunState.cancelled, "cancelled")
    assert run_jobs(db, app) == 0


def test_a_run_cancelled_while_training_stores_nothing(db: Session, app: FastAPI, scene: Scene) -> None:
    run = service.start_run(db, project_id=scene.project.id, version_id=freeze(db, scene).id, user=scene.admin)
    job = db.get_one(Job, run.job_id)
    # The request arrives as the worker claims the job: the run stops at its first progress report.
    job.cancel_requested_at = utcnow()
    db.flush()
    assert run_jobs(db, app) == 1
    db.refresh(job)
    db.refresh(run)
    assert (job.state, job.attempts, run.state) == (JobState.cancelled, 1, RunState.cancelled)
    assert run.artifact_key is None and run.metrics == {} and run.finished_at is not None
    count = db.scalar(select(func.count()).select_from(RunPrediction).where(RunPrediction.run_id == run.id))
    assert count == 0
    assert service.effective_state(run, job) == (RunState.cancelled, "cancelled")
