"""Cancelling jobs: a queued job ends at once, a running one at its next progress report (its work
dropped, never retried), and a dead worker's job is still retried unless a person cancelled it."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.auth.models import Role
from app.cli import root
from app.core import audit
from app.core.audit import AuditEvent
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden
from app.jobs import queue, service
from app.jobs.models import Job, JobState
from app.jobs.registry import JobContext, job_kind
from app.jobs.runner import Worker
from app.training.cancel import check
from tests.factories import make_member, make_project
from tests.jobs.conftest import GATE, RUNS
from tests.jobs.test_runner import enqueue, job, wait_for


def _note_cancel(db: Session, cancelled: Job) -> None:
    audit.record(db, action="test.cancelled", object_type="job", object_id=cancelled.id)


@job_kind("test.fold_loop", title="Training folds", max_attempts=3, on_cancel=_note_cancel)
def fold_loop(ctx: JobContext) -> dict[str, Any]:
    """Like engine.train: asks should_stop() between fits and reports no progress meanwhile."""
    RUNS.append(ctx.job_id)
    audit.record(ctx.db, action="test.work", object_type="job", object_id=ctx.job_id)
    for _ in range(3000):
        check(ctx.should_stop)
        time.sleep(0.01)
    return {"finished": True}


@job_kind("test.gated_crash", title="Crashing after the gate", max_attempts=3, on_cancel=_note_cancel)
def gated_crash(ctx: JobContext) -> None:
    RUNS.append(ctx.job_id)
    GATE.wait(timeout=30)
    raise RuntimeError("boom")


def actions(sessions: sessionmaker[Session], action: str) -> list[int | None]:
    with sessions() as db:
        return list(db.scalars(select(AuditEvent.object_id).where(AuditEvent.action == action)))


def cancel(sessions: sessionmaker[Session], job_id: int) -> Job:
    with sessions() as db:
        found = db.get(Job, job_id)
        assert found is not None
        done = service.cancel_job(db, found, user=None)
        db.commit()
        return done


def test_a_queued_job_ends_at_once_and_never_runs(sessions: sessionmaker[Session],
                                                  make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.fold_loop")
    assert cancel(sessions, job_id).state == JobState.cancelled
    assert make_worker().run(once=True) == 0
    ended = job(sessions, job_id)
    assert (ended.state, ended.attempts, RUNS) == (JobState.cancelled, 0, [])
    assert ended.finished_at is not None and ended.cancel_requested_at is not None
    assert actions(sessions, "test.cancelled") == [job_id]  # the kind's hook ran with it
    with pytest.raises(Conflict):
        cancel(sessions, job_id)


def test_a_running_diagnostic_job_is_cancelled_mid_way(sessions: sessionmaker[Session],
                                                       make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "diagnostics.sleep", seconds=60, steps=600, token="never")
    worker = make_worker()
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    wait_for(lambda: job(sessions, job_id).progress > 0)
    flagged = cancel(sessions, job_id)
    assert (flagged.state, service.job_view(flagged).cancel_requested) == (JobState.running, True)
    thread.join(timeout=30)
    assert not thread.is_alive()
    ended = job(sessions, job_id)
    assert (ended.state, ended.attempts, ended.message) == (JobState.cancelled, 1, "cancelled")
    assert 0 < ended.progress < 0.99 and ended.finished_at is not None
    assert actions(sessions, "jobs.diagnostic") == []  # its work was not committed
    assert make_worker().run(once=True) == 0  # and it is not run again
    view = service.job_view(ended)
    assert view.finished and view.cancel_url is None


def test_should_stop_ends_work_that_reports_no_progress(sessions: sessionmaker[Session],
                                                        make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.fold_loop")
    worker = make_worker()
    thread = threading.Thread(target=worker.run, kwargs={"once": True})
    thread.start()
    wait_for(lambda: [job_id] == RUNS)
    cancel(sessions, job_id)
    thread.join(timeout=30)  # the heartbeat sees the request; should_stop() then says so
    assert not thread.is_alive()
    assert job(sessions, job_id).state == JobState.cancelled
    assert actions(sessions, "test.work") == []  # rolled back
    assert actions(sessions, "test.cancelled") == [job_id]  # committed with the cancelled state


def test_a_cancelled_job_that_fails_is_not_retried(sessions: sessionmaker[Session],
                                                   make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.gated_crash")
    thread = threading.Thread(target=make_worker().run, kwargs={"once": True})
    thread.start()
    wait_for(lambda: [job_id] == RUNS)
    cancel(sessions, job_id)
    GATE.set()
    thread.join(timeout=30)
    ended = job(sessions, job_id)
    assert (ended.state, ended.attempts) == (JobState.cancelled, 1)
    assert actions(sessions, "test.cancelled") == [job_id]


def test_a_dead_workers_job_is_retried_unless_cancelled(sessions: sessionmaker[Session],
                                                        make_worker: Callable[..., Worker]) -> None:
    kept = enqueue(sessions, "test.count", n=1)
    dropped = enqueue(sessions, "test.fold_loop")
    with sessions() as db, db.begin():  # two claims whose worker then dies (no heartbeat, no result)
        assert queue.claim(db, worker_id="killed", kinds=["test.count", "test.fold_loop"]) is not None
        assert queue.claim(db, worker_id="killed", kinds=["test.count", "test.fold_loop"]) is not None
    cancel(sessions, dropped)
    reaper = make_worker()
    with sessions() as db, db.begin():
        db.execute(Job.__table__.update().values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    reaper.next_reap = 0
    reaper.reap()
    assert job(sessions, dropped).state == JobState.cancelled
    assert actions(sessions, "test.cancelled") == [dropped]
    assert job(sessions, kept).state == JobState.queued
    assert reaper.run(once=True) == 1
    done = job(sessions, kept)
    assert (done.state, done.attempts, done.result, RUNS) == (JobState.done, 2, {"n": 1}, [kept])


def test_a_stopping_worker_ends_a_cancelled_job_instead_of_handing_it_back(
        sessions: sessionmaker[Session], make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.gated")
    worker = make_worker(job_heartbeat_seconds=30.0, job_stale_seconds=120.0)  # no beat sees the flag first
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: job(sessions, job_id).state == JobState.running)
    with sessions() as db, db.begin():
        assert queue.request_cancel(db, job_id)
    worker.stop(grace=0)
    GATE.set()
    thread.join(timeout=20)
    ended = job(sessions, job_id)
    assert (ended.state, ended.worker_id) == (JobState.cancelled, None)


def test_who_may_cancel(db: Session) -> None:
    project = make_project(db)
    starter, reviewer = make_member(db, project, Role.inspector), make_member(db, project, Role.reviewer)
    admin = make_member(db, project, Role.admin)
    mine = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=starter)
    theirs = service.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=reviewer)
    with pytest.raises(Forbidden):
        service.cancel_job(db, mine, user=reviewer, role=Role.reviewer)
    assert mine.state == JobState.queued and mine.cancel_requested_at is None
    assert service.cancel_job(db, mine, user=starter, role=Role.inspector).state == JobState.cancelled
    assert service.cancel_job(db, theirs, user=admin, role=Role.admin).state == JobState.cancelled
    logged = db.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "job.cancel")).all()
    assert sorted(logged) == sorted([mine.id, theirs.id])


def test_cancel_from_the_cli(cli_env: object, sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions, "diagnostics.sleep")
    result = CliRunner().invoke(root, ["jobs", "cancel", str(job_id)])
    assert result.exit_code == 0, result.output
    assert '"state": "cancelled"' in result.output
    again = CliRunner().invoke(root, ["jobs", "cancel", str(job_id)])
    assert again.exit_code == 1 and "already ended" in again.output
    assert CliRunner().invoke(root, ["jobs", "cancel", "999999"]).exit_code == 1
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Job).where(Job.state == JobState.cancelled)) == 1
