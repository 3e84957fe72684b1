"""The queue's state changes under leases, on SQLite and Postgres with real commits."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import utcnow
from app.core.errors import Invalid
from app.jobs import queue, service
from app.jobs.models import Job, JobState


def enqueue(sessions: sessionmaker[Session], kind: str = "test.count", **payload: object) -> int:
    with sessions() as db:
        job = service.enqueue(db, kind=kind, payload=dict(payload))
        db.commit()
        return job.id


def claim(sessions: sessionmaker[Session], worker: str = "w1",
          kinds: tuple[str, ...] = ("test.count",)) -> queue.Lease | None:
    with sessions() as db, db.begin():
        return queue.claim(db, worker_id=worker, kinds=list(kinds))


def step(sessions: sessionmaker[Session], fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with sessions() as db, db.begin():
        return fn(db, *args, **kwargs)


def job(sessions: sessionmaker[Session], job_id: int) -> Job:
    with sessions() as db:
        found = db.get(Job, job_id)
        assert found is not None
        return found


def test_claim_runs_oldest_first_and_counts_attempts(sessions: sessionmaker[Session]) -> None:
    first, second = enqueue(sessions, n=1), enqueue(sessions, n=2)
    lease = claim(sessions)
    assert lease is not None and (lease.job_id, lease.attempt, lease.payload) == (first, 1, {"n": 1})
    current = job(sessions, first)
    assert (current.state, current.worker_id, current.attempts) == (JobState.running, "w1", 1)
    assert current.heartbeat_at is not None and current.started_at is not None
    assert claim(sessions, "w2").job_id == second  # type: ignore[union-attr]
    assert claim(sessions, "w3") is None


def test_only_known_kinds_are_claimed(sessions: sessionmaker[Session]) -> None:
    enqueue(sessions, kind="test.gated")
    assert claim(sessions, kinds=("test.count",)) is None
    assert claim(sessions, kinds=("test.count", "test.gated")) is not None


def test_unknown_kinds_are_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as db, pytest.raises(Invalid):
        service.enqueue(db, kind="no.such.kind")


def test_complete_and_progress_need_the_lease(sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions)
    lease = claim(sessions)
    assert lease is not None
    assert step(sessions, queue.checkpoint, lease, fraction=0.4, message="40%")
    assert (job(sessions, job_id).progress, job(sessions, job_id).message) == (0.4, "40%")
    stranger = queue.Lease(**{**lease.__dict__, "worker_id": "w2"})
    assert not step(sessions, queue.checkpoint, stranger, fraction=0.9, message="not mine")
    assert not step(sessions, queue.complete, stranger, {"x": 1})
    assert step(sessions, queue.complete, lease, {"x": 2})
    done = job(sessions, job_id)
    assert (done.state, done.progress, done.result) == (JobState.done, 1.0, {"x": 2})
    assert not step(sessions, queue.complete, lease, {"x": 3})  # never twice
    assert job(sessions, job_id).result == {"x": 2}


def test_a_dead_workers_job_is_requeued_and_its_lease_fenced(sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions)
    dead = claim(sessions, "dead")
    assert dead is not None
    assert step(sessions, queue.requeue_stale, stale_after=timedelta(seconds=60)) == (0, 0)  # still fresh
    later = utcnow() + timedelta(seconds=61)
    assert step(sessions, queue.requeue_stale, stale_after=timedelta(seconds=60), now=later) == (1, 0)
    assert job(sessions, job_id).state == JobState.queued
    retry = claim(sessions, "alive")
    assert retry is not None and retry.attempt == 2
    # The dead worker wakes up: every write under its old lease is refused.
    assert not step(sessions, queue.heartbeat, dead)
    assert not step(sessions, queue.complete, dead, {"by": "dead"})
    assert step(sessions, queue.complete, retry, {"by": "alive"})
    final = job(sessions, job_id)
    assert (final.state, final.attempts, final.result) == (JobState.done, 2, {"by": "alive"})


def test_out_of_attempts_a_stale_job_fails(sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions)
    for _ in range(3):  # max_attempts of test.count
        assert claim(sessions) is not None
        later = utcnow() + timedelta(seconds=61)
        step(sessions, queue.requeue_stale, stale_after=timedelta(seconds=60), now=later)
    final = job(sessions, job_id)
    assert (final.state, final.attempts) == (JobState.failed, 3)
    assert "stopped responding" in final.message


def test_a_failure_is_retried_after_a_pause_then_given_up(sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions)
    lease = claim(sessions)
    assert step(sessions, queue.fail, lease, message="boom", retry=True) == JobState.queued
    pending = job(sessions, job_id)
    assert pending.run_after is not None and pending.run_after > utcnow()
    assert claim(sessions) is None  # not due yet
    with sessions() as db, db.begin():
        db.get(Job, job_id).run_after = utcnow()  # type: ignore[union-attr]
    again = claim(sessions)
    assert again is not None and again.attempt == 2
    assert step(sessions, queue.fail, again, message="refused", retry=False) == JobState.failed
    assert (job(sessions, job_id).state, job(sessions, job_id).message) == (JobState.failed, "refused")


def test_a_handed_back_job_keeps_its_attempts(sessions: sessionmaker[Session]) -> None:
    job_id = enqueue(sessions)
    lease = claim(sessions)
    assert step(sessions, queue.release, lease)
    assert (job(sessions, job_id).state, job(sessions, job_id).attempts) == (JobState.queued, 0)
    assert claim(sessions).attempt == 1  # type: ignore[union-attr]


def test_enqueue_rolls_back_with_its_transaction(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        service.enqueue(db, kind="test.count")
        db.rollback()
    assert claim(sessions) is None
