"""Jobs in real processes: the app's own runner thread on SQLite, and `concord worker` stopping
gracefully on SIGTERM."""
from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from app.auth.models import Role
from app.auth.tokens import create_token
from app.core.audit import AuditEvent
from app.core.db import make_sessionmaker
from app.jobs import service as jobs
from app.jobs.models import Job, JobState
from tests.factories import make_member, make_project
from tests.support.live_server import live_server
from tests.support.workers import FAST_JOBS, START_TIMEOUT, start_worker, wait_until

pytestmark = pytest.mark.slow


def state(engine: Engine, job_id: int) -> Job:
    with make_sessionmaker(engine)() as db:
        job = db.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        return job


def test_on_sqlite_the_app_runs_jobs_itself(fresh_engine: Engine, tmp_path: Path) -> None:
    if fresh_engine.dialect.name != "sqlite":
        pytest.skip("on Postgres jobs run in `concord worker` processes")
    with make_sessionmaker(fresh_engine)() as db:
        project = make_project(db)
        reviewer = make_member(db, project, Role.reviewer)
        _, token = create_token(db, user=reviewer, name="test", actor=reviewer, max_days=90)
        job = jobs.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=reviewer,
                           payload={"seconds": 0.5, "steps": 5, "token": uuid.uuid4().hex})
        db.commit()
    with live_server(fresh_engine, tmp_path / "app", env=FAST_JOBS, start_timeout=START_TIMEOUT) as server:
        url = f"{server.base_url}/api/v1/projects/{project.id}/jobs/{job.id}"
        headers = {"Authorization": f"Bearer {token}"}
        wait_until(lambda: httpx.get(url, headers=headers).json()["state"] == "done", timeout=60, what="the job")
        body = httpx.get(url, headers=headers).json()
        assert (body["progress"], body["attempts"], body["result"]["steps"]) == (1.0, 1, 5)


def test_sigterm_hands_the_running_job_back(fresh_engine: Engine, tmp_path: Path) -> None:
    with make_sessionmaker(fresh_engine)() as db:
        job_id = jobs.enqueue(db, kind="diagnostics.sleep", payload={"seconds": 60, "steps": 120}).id
        db.commit()
    worker = start_worker(fresh_engine, tmp_path / "worker", args=("--grace", "0.5"))
    try:
        wait_until(lambda: state(fresh_engine, job_id).progress > 0, timeout=60, what="the job to start")
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=30) == 0, worker.log()
    finally:
        if worker.process.poll() is None:
            worker.kill()
    back = state(fresh_engine, job_id)
    assert (back.state, back.attempts, back.worker_id) == (JobState.queued, 0, None), worker.log()
    assert "handed back" in back.message


def test_after_a_worker_kill_a_cancelled_job_ends_and_the_other_is_retried(fresh_engine: Engine,
                                                                            tmp_path: Path) -> None:
    tokens = {"cancel": uuid.uuid4().hex, "retry": uuid.uuid4().hex}
    with make_sessionmaker(fresh_engine)() as db:
        cancelled = jobs.enqueue(db, kind="diagnostics.sleep",
                                 payload={"seconds": 120, "steps": 240, "token": tokens["cancel"]}).id
        retried = jobs.enqueue(db, kind="diagnostics.sleep",
                               payload={"seconds": 20, "steps": 200, "token": tokens["retry"]}).id
        db.commit()
    killed = [start_worker(fresh_engine, tmp_path / f"killed-{i}", name=f"killed-{i}") for i in range(2)]
    try:
        for job_id in (cancelled, retried):
            wait_until(lambda job_id=job_id: state(fresh_engine, job_id).progress > 0, timeout=START_TIMEOUT,
                       what=f"job {job_id} to start")
    finally:
        for worker in killed:
            worker.kill()
    assert state(fresh_engine, retried).state == JobState.running  # killed mid-way
    with make_sessionmaker(fresh_engine)() as db:
        flagged = jobs.cancel_job(db, db.get_one(Job, cancelled), user=None)
        db.commit()
        assert flagged.state == JobState.running  # its worker is gone: it ends when the job is reaped
    survivor = start_worker(fresh_engine, tmp_path / "survivor", name="survivor")
    try:
        wait_until(lambda: state(fresh_engine, retried).state == JobState.done, timeout=START_TIMEOUT + 60,
                   what="the killed job's retry")
    finally:
        survivor.kill()
    ended, done = state(fresh_engine, cancelled), state(fresh_engine, retried)
    assert (ended.state, ended.attempts) == (JobState.cancelled, 1), survivor.log()
    assert (done.state, done.attempts) == (JobState.done, 2), survivor.log()
    with make_sessionmaker(fresh_engine)() as db:
        written = db.scalars(select(AuditEvent).where(AuditEvent.action == "jobs.diagnostic")).all()
    assert [event.data["token"] for event in written] == [tokens["retry"]]
