"""The job queue's state changes, each one statement guarded by the job's lease.

A claim hands a job to one worker under a lease (job id, worker id, attempt number). Every later
write for that job (heartbeat, progress, result, failure) is an UPDATE whose WHERE clause names the
lease and `state = 'running'`; a rowcount of 0 means the lease is gone: the job was declared dead
and handed to someone else, so this worker must drop its work uncommitted. That is what keeps a job
from running twice at once, and its result from being written twice.

Claiming: on Postgres the candidate row is picked with `FOR UPDATE SKIP LOCKED`, so concurrent
workers take different rows without waiting; on SQLite (no row locks, one writer at a time under
BEGIN IMMEDIATE) the same conditional UPDATE with its rowcount check decides.

These functions never commit. The runner (app.jobs.runner) wraps claim, heartbeat, failure and
requeue each in its own short transaction, on purpose: a claim must be visible to other workers at
once, and must never wait for (or be rolled back with) the long transaction doing the job's work.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Update, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs.models import Job, JobState

MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True)
class Lease:
    job_id: int
    worker_id: str
    attempt: int
    kind: str
    project_id: int | None
    payload: dict[str, Any]
    created_by_id: int | None
    max_attempts: int


def _fenced(lease: Lease, **values: Any) -> Update:
    """An UPDATE of the leased job that changes nothing once the lease is no longer held."""
    return (
        update(Job)
        .where(Job.id == lease.job_id, Job.worker_id == lease.worker_id, Job.attempts == lease.attempt,
               Job.state == JobState.running)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _update(db: Session, lease: Lease, **values: Any) -> bool:
    """One fenced UPDATE of the leased job; False when the lease is no longer held."""
    return _changed_one(db, _fenced(lease, **values))


def _changed_one(db: Session, statement: Update) -> bool:
    """Run an UPDATE meant for one row; whether it changed that row."""
    rowcount: int = db.execute(statement).rowcount  # type: ignore[attr-defined]
    return rowcount == 1


def claim(db: Session, *, worker_id: str, kinds: list[str], now: datetime | None = None) -> Lease | None:
    """Take the oldest due queued job of one of `kinds`, or None when there is none to take."""
    now = now or utcnow()
    candidate = db.scalar(
        select(Job.id)
        .where(Job.state == JobState.queued, Job.kind.in_(kinds), or_(Job.run_after.is_(None), Job.run_after <= now))
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if candidate is None:
        return None
    taken = db.execute(
        update(Job)
        .where(Job.id == candidate, Job.state == JobState.queued)
        .values(state=JobState.running, worker_id=worker_id, attempts=Job.attempts + 1, heartbeat_at=now,
                started_at=now, finished_at=None)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = db.execute(
        select(Job.kind, Job.project_id, Job.payload, Job.attempts, Job.created_by_id, Job.max_attempts)
        .where(Job.id == candidate)
    ).one()
    return Lease(job_id=candidate, worker_id=worker_id, attempt=row.attempts, kind=row.kind,
                 project_id=row.project_id, payload=dict(row.payload or {}), created_by_id=row.created_by_id,
                 max_attempts=row.max_attempts)


class Held(StrEnum):
    """What a heartbeat or a checkpoint learnt about its lease."""

    held = "held"
    lost = "lost"  # declared dead and handed to someone else
    cancel = "cancel"  # still ours, but a person asked to cancel the job

    def __bool__(self) -> bool:
        return self is not Held.lost


def _touch(db: Session, lease: Lease, **values: Any) -> Held:
    """A fenced UPDATE that also reads the job's cancel request in the same statement."""
    row = db.execute(_fenced(lease, **values).returning(Job.cancel_requested_at)).first()
    if row is None:
        return Held.lost
    return Held.held if row[0] is None else Held.cancel


def heartbeat(db: Session, lease: Lease) -> Held:
    return _touch(db, lease, heartbeat_at=utcnow())


def checkpoint(db: Session, lease: Lease, *, fraction: float, message: str) -> Held:
    """Record progress (and a heartbeat) in the job's own transaction, which the caller commits."""
    return _touch(db, lease, progress=min(max(fraction, 0.0), 1.0), message=message[:2000], heartbeat_at=utcnow())


def cancelled(db: Session, lease: Lease) -> bool:
    """End the running job as cancelled (a person asked; its work was dropped or stopped early)."""
    now = utcnow()
    return _update(db, lease, state=JobState.cancelled, heartbeat_at=now, finished_at=now, message="cancelled")


def cancel_queued(db: Session, job_id: int) -> bool:
    """A queued job ends at once; False when it is no longer queued (a worker took it meanwhile)."""
    now = utcnow()
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.queued)
        .values(state=JobState.cancelled, cancel_requested_at=now, finished_at=now, worker_id=None,
                message="cancelled before it started")
        .execution_options(synchronize_session=False)
    )
    return _changed_one(db, statement)


def request_cancel(db: Session, job_id: int) -> bool:
    """Flag a running job: its worker stops it at its next progress report. False when not running."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.running)
        .values(cancel_requested_at=func.coalesce(Job.cancel_requested_at, utcnow()))
        .execution_options(synchronize_session=False)
    )
    return _changed_one(db, statement)


def complete(db: Session, lease: Lease, result: dict[str, Any] | None) -> bool:
    """Mark the job done in the transaction holding its work: both commit together, or neither."""
    now = utcnow()
    return _update(db, lease, state=JobState.done, progress=1.0, result=result, heartbeat_at=now,
                   finished_at=now, message="done")


def fail(db: Session, lease: Lease, *, message: str, retry: bool) -> str | None:
    """Queue the job again after a pause (attempts left and `retry`, and nobody asked to cancel it),
    else fail it; the new state, None when the lease was lost."""
    now = utcnow()
    if retry and lease.attempt < lease.max_attempts:
        pause = min(timedelta(seconds=5 * 2 ** (lease.attempt - 1)), MAX_BACKOFF)
        wanted = Job.cancel_requested_at.is_not(None)  # a person asked to stop it: no retry
        retried = f"attempt {lease.attempt} failed, retrying: {message}"[:2000]
        return db.scalar(_fenced(lease, state=case((wanted, JobState.cancelled), else_=JobState.queued),
                                 worker_id=None, run_after=now + pause, finished_at=case((wanted, now), else_=None),
                                 message=case((wanted, "cancelled"), else_=retried)).returning(Job.state))
    held = _update(db, lease, state=JobState.failed, finished_at=now, message=message[:2000])
    return JobState.failed if held else None


def release(db: Session, lease: Lease) -> bool:
    """Hand the job back untouched (a worker shutting down); the attempt does not count. A job a
    person asked to cancel ends cancelled instead."""
    wanted = Job.cancel_requested_at.is_not(None)
    return _update(db, lease, state=case((wanted, JobState.cancelled), else_=JobState.queued), worker_id=None,
                   attempts=lease.attempt - 1, finished_at=case((wanted, utcnow()), else_=None),
                   message=case((wanted, "cancelled"), else_="handed back by a stopping worker; waiting for another"))


def cancel_stale(db: Session, *, stale_after: timedelta, now: datetime | None = None) -> list[tuple[int, str]]:
    """Dead workers' jobs that a person asked to cancel end cancelled (never run again): their
    (id, kind)."""
    now = now or utcnow()
    ended = db.execute(
        update(Job)
        .where(Job.state == JobState.running, Job.heartbeat_at < now - stale_after,
               Job.cancel_requested_at.is_not(None))
        .values(state=JobState.cancelled, worker_id=None, finished_at=now, message="cancelled")
        .returning(Job.id, Job.kind)
        .execution_options(synchronize_session=False)
    ).all()
    return [(row.id, row.kind) for row in ended]


def requeue_stale(db: Session, *, stale_after: timedelta, now: datetime | None = None) -> tuple[int, int]:
    """Jobs whose worker stopped heartbeating: queued again, or failed when out of attempts (or
    cancelled, when a person asked: see cancel_stale).

    Returns (requeued, failed). On Postgres a live worker's checkpoint holds the row lock, and the
    WHERE clause is re-checked after it commits with a fresh heartbeat, so a live job is never taken.
    """
    now = now or utcnow()
    cancel_stale(db, stale_after=stale_after, now=now)
    stale = and_(Job.state == JobState.running, Job.heartbeat_at < now - stale_after)
    failed = db.execute(
        update(Job)
        .where(stale, Job.attempts >= Job.max_attempts)
        .values(state=JobState.failed, worker_id=None, finished_at=now,
                message="its worker stopped responding on the last attempt; giving up")
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    requeued = db.execute(
        update(Job)
        .where(stale)
        .values(state=JobState.queued, worker_id=None, run_after=None,
                message="its worker stopped responding; queued again")
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(requeued), int(failed)
