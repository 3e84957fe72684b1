"""Running jobs: a Worker loop (claim, run, heartbeat, reap dead workers' jobs) used by
`concord worker` and by the thread the app starts on SQLite, and `run_queued` for tests and scripts.

Transactions (why the runner owns some): each claim, heartbeat, failure, hand-back and reap is its
own short transaction on a *control* session, so other workers see it at once and it never waits for
the job's work. The work runs in one *work* session; the job's progress checkpoints and its final
`complete()` commit there, so the result and the work commit together, under the lease. On SQLite the
work session is rolled back before any control write (one writer at a time: the control write would
otherwise wait for our own lock), and the control engine has a short busy timeout so an idle runner
never sits on a lock the app needs.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import ConcordError, ConfigError
from app.core.storage import Storage
from app.jobs import queue
from app.jobs.models import Job, JobState
from app.jobs.queue import Lease
from app.jobs.registry import JobContext, JobKind, cancelled_job, load_kinds
from app.jobs.service import JOB_ADDED
from app.training.cancel import Cancelled

log = logging.getLogger("concord.jobs")
T = TypeVar("T")
Control = Callable[[Callable[[Session], T]], T]

CHECKPOINT_SECONDS = 0.02  # progress() commits at most this often (and always at 100%): short write locks
CONTROL_BUSY_TIMEOUT_MS = 1000  # SQLite: a control write gives up (and retries later) after this


# Both are BaseExceptions, raised out of progress(): a job function's own `except Exception` (say,
# around one image of many) must not swallow them and carry on without its lease.
class JobLost(BaseException):
    """The lease is gone (the job was declared dead and requeued): drop the work uncommitted."""


class JobInterrupted(BaseException):
    """The worker is stopping: hand the job back at this checkpoint."""


class JobCancelled(BaseException):
    """A person cancelled the job: drop the work uncommitted and end it `cancelled`."""


def control_engine(url: str) -> Engine:
    engine = make_engine(url)
    if url.startswith("sqlite"):
        def short_wait(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={CONTROL_BUSY_TIMEOUT_MS}")

        event.listen(engine, "connect", short_wait)  # after make_engine's own pragmas
    return engine


def transactions(sessions: sessionmaker[Session]) -> Control[Any]:
    """Run each control step in its own transaction of `sessions`."""

    def run(step: Callable[[Session], T]) -> T:
        with sessions() as db, db.begin():
            return step(db)

    return run


def check_job_settings(settings: Settings) -> None:
    """Raises ConfigError when a live job could be taken for dead (heartbeats too rare)."""
    if settings.job_stale_seconds < 3 * settings.job_heartbeat_seconds:
        raise ConfigError("CONCORD_JOB_STALE_SECONDS", "must be at least three times CONCORD_JOB_HEARTBEAT_SECONDS "
                          f"({settings.job_heartbeat_seconds:g} s), or live jobs would be taken for dead")


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Execution:
    """One leased job being run: its progress callback and its heartbeat thread."""

    def __init__(self, lease: Lease, kind: JobKind, worker: Worker) -> None:
        self.lease, self.kind, self.worker = lease, kind, worker
        self.lost = threading.Event()
        self.cancel = threading.Event()  # a person asked to cancel; seen by a heartbeat or a checkpoint
        self.finished = threading.Event()
        self.last_checkpoint = time.monotonic()
        self.work: Session | None = None

    def progress(self, fraction: float, message: str) -> None:
        if self.lost.is_set():
            raise JobLost()
        if self.cancel.is_set():
            raise JobCancelled()
        if self.worker.interrupting():
            raise JobInterrupted()
        now = time.monotonic()
        if fraction < 1.0 and now - self.last_checkpoint < CHECKPOINT_SECONDS:
            return
        assert self.work is not None
        held = queue.checkpoint(self.work, self.lease, fraction=fraction, message=message)
        if held is queue.Held.lost:
            raise JobLost()
        if held is queue.Held.cancel:
            self.cancel.set()
            raise JobCancelled()
        self.work.commit()
        self.last_checkpoint = now

    def should_stop(self) -> bool:
        """For work between progress reports (training folds): True once the job is to end early."""
        return self.cancel.is_set() or self.lost.is_set() or self.worker.interrupting()

    def run(self) -> str:
        """Run the job to an outcome: done, queued (retry), failed, cancelled, released or lost."""
        beat = threading.Thread(target=self._beat, name=f"heartbeat-{self.lease.job_id}", daemon=True)
        if self.worker.heartbeat_seconds is not None:
            beat.start()
        try:
            with self.worker.work_session() as work:
                self.work = work
                return self._run_in(work)
        finally:
            self.finished.set()
            if beat.is_alive():
                beat.join(timeout=5)

    def _run_in(self, work: Session) -> str:
        lease, worker = self.lease, self.worker
        ctx = JobContext(db=work, job_id=lease.job_id, project_id=lease.project_id, payload=lease.payload,
                         storage=worker.storage, settings=worker.settings, created_by_id=lease.created_by_id,
                         progress=self.progress, should_stop=self.should_stop)
        try:
            try:
                result = self.kind.run(ctx)
            except Cancelled:  # training code stopped because should_stop() said so: say why
                raise self._stop_reason() from None
            json.dumps(result)  # a result that cannot be stored fails here, not at commit
            if not queue.complete(work, lease, result):
                raise JobLost()
            work.commit()
            return "done"
        except JobLost:
            work.rollback()
            log.warning("job %s: lease lost (declared dead meanwhile); work dropped", lease.job_id)
            return "lost"
        except JobCancelled:
            work.rollback()
            return self._cancel(work)
        except JobInterrupted:
            work.rollback()
            state = worker.control(self._release)
            return "released" if state == JobState.queued else state
        except ConcordError as exc:  # a refusal (not found, invalid...) is final; 5xx (storage down) is not
            work.rollback()
            return self._fail(exc.message, retry=exc.status_code >= 500)
        except (TypeError, ValueError) as exc:
            work.rollback()
            log.exception("job %s (%s) failed", lease.job_id, lease.kind)
            return self._fail(f"{type(exc).__name__}: {exc}", retry=False)
        except Exception as exc:
            work.rollback()
            log.exception("job %s (%s) failed", lease.job_id, lease.kind)
            return self._fail(f"{type(exc).__name__}: {exc}", retry=True)

    def _stop_reason(self) -> BaseException:
        if self.lost.is_set():
            return JobLost()
        if self.cancel.is_set():
            return JobCancelled()
        if self.worker.interrupting():
            return JobInterrupted()
        return RuntimeError("the work stopped early with nobody asking it to")

    def _cancel(self, work: Session) -> str:
        """A cancelled job's end, in its work session: the kind's own clean-up and the state together."""
        if not queue.cancelled(work, self.lease):
            work.rollback()
            return "lost"
        cancelled_job(work, self.kind, self.lease.job_id)
        work.commit()
        return "cancelled"

    def _release(self, db: Session) -> str:
        """Hand the job back (or end it cancelled, when a person asked); the state it is left in."""
        if not queue.release(db, self.lease):
            return "lost"
        return self._ended(db)

    def _fail(self, message: str, *, retry: bool) -> str:
        def step(db: Session) -> str:
            return self._ended(db) if queue.fail(db, self.lease, message=message, retry=retry) else "lost"

        state: str = self.worker.control(step)
        return state

    def _ended(self, db: Session) -> str:
        """The job's state after a fenced write; runs the kind's clean-up when it ended cancelled."""
        state = db.scalar(select(Job.state).where(Job.id == self.lease.job_id)) or "lost"
        if state == JobState.cancelled:
            cancelled_job(db, self.kind, self.lease.job_id)
        return state

    def _beat(self) -> None:
        interval = self.worker.heartbeat_seconds or 1.0
        while not self.finished.wait(interval):
            try:
                alive = self.worker.control(lambda db: queue.heartbeat(db, self.lease))
            except SQLAlchemyError as exc:  # SQLite busy (our own work holds the lock), a dropped connection
                level = logging.DEBUG if "locked" in str(exc) else logging.WARNING
                log.log(level, "job %s: heartbeat failed (%s); next beat", self.lease.job_id, exc)
                continue
            if alive is queue.Held.cancel:
                self.cancel.set()
            elif alive is queue.Held.lost:
                self.lost.set()
                return


class Worker:
    """Claims and runs jobs until stopped. `control` runs one step in its own transaction;
    `work_session` opens the session a job's work runs in."""

    def __init__(self, *, control: Control[Any], work_session: Callable[[], AbstractContextManager[Session]],
                 storage: Storage, settings: Settings, worker_id: str | None = None,
                 kinds: list[str] | None = None, heartbeat: bool = True) -> None:
        self.control, self.work_session = control, work_session
        self.storage, self.settings = storage, settings
        self.worker_id = worker_id or new_worker_id()
        self.kinds = load_kinds() if kinds is None else {k: v for k, v in load_kinds().items() if k in kinds}
        self.heartbeat_seconds = settings.job_heartbeat_seconds if heartbeat else None
        self.stopping = threading.Event()
        self.interrupt_at: float | None = None
        self.next_reap = 0.0
        self.engines: list[Engine] = []

    @classmethod
    def for_database(cls, settings: Settings, storage: Storage, *, work_engine: Engine | None = None,
                     **kwargs: Any) -> Worker:
        """A worker on the configured database; its engines are disposed by `close()` (a given
        `work_engine`, e.g. the app's, is left alone). Raises ConfigError for unsafe job timings."""
        check_job_settings(settings)
        control = control_engine(settings.database_url)
        owned = [control] if work_engine is not None else [control, make_engine(settings.database_url)]
        worker = cls(control=transactions(make_sessionmaker(control)),
                     work_session=make_sessionmaker(work_engine or owned[-1]), storage=storage, settings=settings,
                     **kwargs)
        worker.engines = owned
        return worker

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()

    def stop(self, *, grace: float = 0.0) -> None:
        """Claim nothing more; a running job is handed back at its first checkpoint after `grace` s."""
        deadline = time.monotonic() + grace
        self.interrupt_at = deadline if self.interrupt_at is None else min(self.interrupt_at, deadline)
        self.stopping.set()
        JOB_ADDED.set()

    def interrupting(self) -> bool:
        return self.interrupt_at is not None and time.monotonic() >= self.interrupt_at

    def run(self, *, once: bool = False) -> int:
        """Work until stopped (or, with `once`, until the queue is empty); the number of jobs run."""
        ran = 0
        while not self.stopping.is_set():
            try:
                if self.run_one():
                    ran += 1
                    continue
            except SQLAlchemyError as exc:  # the database went away, or SQLite is busy: try again
                busy = "locked" in str(exc)
                log.log(logging.DEBUG if busy else logging.WARNING, "job queue unavailable (%s); retrying", exc)
            if once:
                break
            JOB_ADDED.wait(self.settings.job_poll_seconds)
            JOB_ADDED.clear()
        return ran

    def run_one(self) -> bool:
        """Reap dead workers' jobs when due, then claim and run one job; False when none was due."""
        self.reap()
        kinds = list(self.kinds)
        lease = self.control(lambda db: queue.claim(db, worker_id=self.worker_id, kinds=kinds))
        if lease is None:
            return False
        outcome = Execution(lease, self.kinds[lease.kind], self).run()
        log.info("job %s (%s) attempt %s: %s", lease.job_id, lease.kind, lease.attempt, outcome)
        return True

    def reap(self) -> None:
        now = time.monotonic()
        if now < self.next_reap:
            return
        self.next_reap = now + max(self.settings.job_stale_seconds / 4, 0.5)
        stale_after = timedelta(seconds=self.settings.job_stale_seconds)

        def cancel(db: Session) -> None:
            for job_id, kind in queue.cancel_stale(db, stale_after=stale_after):
                cancelled_job(db, self.kinds.get(kind) or load_kinds().get(kind), job_id)

        self.control(cancel)
        requeued, failed = self.control(lambda db: queue.requeue_stale(db, stale_after=stale_after))
        if requeued or failed:
            log.warning("jobs of dead workers: %s queued again, %s failed", requeued, failed)


def run_queued(db: Session, *, storage: Storage, settings: Settings, kinds: list[str] | None = None) -> int:
    """Run every due queued job now, inside `db` (tests, scripts): no threads, no other connection.
    Commits `db` at each step, like a worker would; returns the number of jobs run."""

    def control(step: Callable[[Session], T]) -> T:
        result = step(db)
        db.commit()
        db.expire_all()  # the steps are bulk UPDATEs: loaded Job objects must be read again
        return result

    worker = Worker(control=control, work_session=lambda: nullcontext(db), storage=storage, settings=settings,
                    kinds=kinds, heartbeat=False, worker_id="inline:" + secrets.token_hex(3))
    worker.next_reap = float("inf")  # nothing can be stale inside one session
    return worker.run(once=True)
