"""The Worker: runs, retries, heartbeats, and never lets a job's work commit twice."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.audit import AuditEvent
from app.core.db import utcnow
from app.jobs import queue, service
from app.jobs.models import Job, JobState
from app.jobs.runner import Worker
from tests.jobs.conftest import GATE, RUNS


def enqueue(sessions: sessionmaker[Session], kind: str, **payload: object) -> int:
    with sessions() as db:
        job_id = service.enqueue(db, kind=kind, payload=dict(payload)).id
        db.commit()
        return job_id


def job(sessions: sessionmaker[Session], job_id: int) -> Job:
    with sessions() as db:
        return db.get(Job, job_id)  # type: ignore[return-value]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_job_runs_to_its_result(sessions: sessionmaker[Session], make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.count", n=7)
    assert make_worker().run(once=True) == 1
    done = job(sessions, job_id)
    assert (done.state, done.result, done.progress, done.attempts) == (JobState.done, {"n": 7}, 1.0, 1)
    assert [job_id] == RUNS


def test_a_crash_is_retried_then_failed(sessions: sessionmaker[Session], make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.crash")
    worker = make_worker()
    worker.run(once=True)
    pending = job(sessions, job_id)
    assert pending.state == JobState.queued and "RuntimeError: boom" in pending.message
    with sessions() as db, db.begin():
        db.get(Job, job_id).run_after = utcnow()  # type: ignore[union-attr]  # skip the back-off pause
    worker.run(once=True)
    failed = job(sessions, job_id)
    assert (failed.state, failed.attempts, RUNS) == (JobState.failed, 2, [job_id, job_id])


def test_a_refusal_is_not_retried(sessions: sessionmaker[Session], make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "test.refuse")
    make_worker().run(once=True)
    failed = job(sessions, job_id)
    assert (failed.state, failed.attempts, failed.message) == (JobState.failed, 1, "the project is gone")


def test_the_diagnostic_job_commits_its_work_once(sessions: sessionmaker[Session],
                                                  make_worker: Callable[..., Worker]) -> None:
    job_id = enqueue(sessions, "diagnostics.sleep", seconds=0.05, steps=3, token="t-1")
    make_worker().run(once=True)
    with sessions() as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "jobs.diagnostic")).all()
    assert [(r.object_id, r.data["token"]) for r in rows] == [(job_id, "t-1")]


def test_heartbeats_keep_a_long_quiet_job_alive(sessions: sessionmaker[Session],
                                                make_worker: Callable[..., Worker]) -> None:
    # test.gated reports no progress until the gate opens; stale_seconds is 1, heartbeats every 0.2 s.
    job_id = enqueue(sessions, "test.gated")
    busy, reaper = make_worker(), make_worker()
    thread = threading.Thread(target=busy.run, kwargs={"once": True})
    thread.start()
    wait_for(lambda: job(sessions, job_id).state == JobState.running)
    for _ in range(6):  # 3 s: three times the stale limit
        reaper.next_reap = 0
        reaper.reap()
        assert job(sessions, job_id).state == JobState.running
        time.sleep(0.5)
    GATE.set()
    thread.join(timeout=20)
    done = job(sessions, job_id)
    assert (done.state, done.attempts, RUNS) == (JobState.done, 1, [job_id])


def test_a_worker_that_lost_its_lease_drops_its_work(sessions: sessionmaker[Session],
                                                     make_worker: Callable[..., Worker]) -> None:
    # A worker stalls past the stale limit (heartbeats off, as if frozen); another takes the job over.
    job_id = enqueue(sessions, "test.gated")
    frozen, healthy = make_worker(), make_worker()
    frozen.heartbeat_seconds = None
    thread = threading.Thread(target=frozen.run, kwargs={"once": True})
    thread.start()
    wait_for(lambda: job(sessions, job_id).state == JobState.running)
    with sessions() as db, db.begin():
        requeued = queue.requeue_stale(db, stale_after=timedelta(seconds=1), now=utcnow() + timedelta(seconds=5))
    assert requeued == (1, 0)
    GATE.set()  # both may now finish their run of the job; only the lease holder's result counts
    thread.join(timeout=20)
    healthy.run(once=True)
    done = job(sessions, job_id)
    assert (done.state, done.attempts) == (JobState.done, 2)
    assert [job_id, job_id] == RUNS
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Job).where(Job.state == JobState.running)) == 0


@pytest.mark.parametrize("kind", ["test.gated", "test.swallow"])
def test_stop_hands_the_running_job_back(sessions: sessionmaker[Session], make_worker: Callable[..., Worker],
                                         kind: str) -> None:
    job_id = enqueue(sessions, kind)
    worker = make_worker()
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: job(sessions, job_id).state == JobState.running)
    worker.stop(grace=0)
    GATE.set()  # the job reaches its checkpoint and is interrupted there
    thread.join(timeout=20)
    assert not thread.is_alive()
    back = job(sessions, job_id)
    assert (back.state, back.attempts, back.worker_id) == (JobState.queued, 0, None)
