"""Job kinds: a name, a title for pages, and the plain service function that does the work.

A kind's function receives a JobContext and returns a JSON-able dict (the job's result) or None.
It never commits. `ctx.progress(fraction, message)` reports progress and MAY COMMIT the work done so
far (a checkpoint: it keeps SQLite's write lock short and proves the worker alive), so call it only
between consistent steps. A job whose worker died is run again from the start, so a function must
be safe to re-run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.storage import Storage
from app.jobs.models import Job

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """The progress callback for a service called outside a job."""


def never_stop() -> bool:
    return False


@dataclass
class JobContext:
    db: Session
    job_id: int
    project_id: int | None
    payload: dict[str, Any]
    storage: Storage
    settings: Settings
    created_by_id: int | None = None
    progress: Progress = field(default=no_progress)
    # True once the job is to end early (a person cancelled it, the worker stops): for long work that
    # reports progress rarely, e.g. `engine.train(should_stop=...)`. progress() stops the job itself.
    should_stop: Callable[[], bool] = field(default=never_stop)


JobFunction = Callable[[JobContext], "dict[str, Any] | None"]
# Runs in the transaction that ends a job `cancelled` (queued or running): the domain marks what the
# job was for (a model run, say) as cancelled too. The job's own work was rolled back before.
CancelHook = Callable[[Session, Job], None]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str  # "Recomputing consistency": shown on the job page
    run: JobFunction
    max_attempts: int = 3
    on_cancel: CancelHook | None = None


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, *, title: str, max_attempts: int = 3,
             on_cancel: CancelHook | None = None) -> Callable[[JobFunction], JobFunction]:
    """Register the decorated function as the kind `name` (names are unique)."""

    def register(run: JobFunction) -> JobFunction:
        if name in KINDS and KINDS[name].run is not run:
            raise ValueError(f"job kind {name!r} is registered twice")
        KINDS[name] = JobKind(name=name, title=title, run=run, max_attempts=max_attempts, on_cancel=on_cancel)
        return run

    return register


def cancelled_job(db: Session, kind: JobKind | None, job_id: int) -> None:
    """Run the kind's cancel hook for a job that has just been ended `cancelled` in `db`."""
    if kind is None or kind.on_cancel is None:
        return
    job = db.get(Job, job_id, populate_existing=True)
    if job is not None:
        kind.on_cancel(db, job)


def load_kinds() -> dict[str, JobKind]:
    """Every kind of the product (importing app.jobs.kinds registers them)."""
    import app.jobs.kinds  # noqa: F401

    return KINDS


def title_of(kind: str) -> str:
    known = load_kinds().get(kind)
    return known.title if known else kind
