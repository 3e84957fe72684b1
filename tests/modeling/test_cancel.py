"""A cancelled training job leaves its run cancelled, with nothing of its work stored."""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs import service as jobs_service
from app.jobs.kinds import modeling_cancelled, modeling_train
from app.jobs.models import Job, JobState
from app.jobs.registry import JobContext
from app.modeling import service
from app.modeling.models import RunPrediction, RunState
from app.training.cancel import Cancelled
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


def test_training_stopped_between_fits_ends_the_job_cancelled(db: Session, app: FastAPI, scene: Scene) -> None:
    run = service.start_run(db, project_id=scene.project.id, version_id=freeze(db, scene).id, user=scene.admin)
    job = db.get_one(Job, run.job_id)
    ctx = JobContext(db=db, job_id=job.id, project_id=job.project_id, payload=job.payload,
                     storage=app.state.storage, settings=app.state.settings, should_stop=lambda: True)
    with pytest.raises(Cancelled):  # the runner then rolls the work back and ends the job cancelled
        modeling_train(ctx)
    assert run.state == RunState.cancelled
    run.state = RunState.running  # as committed at the job's last checkpoint
    modeling_cancelled(db, job)
    assert (run.state, run.error, run.artifact_key) == (RunState.cancelled, "cancelled", None)
