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

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """The progress callback for a service called outside a job."""


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


JobFunction = Callable[[JobContext], "dict[str, Any] | None"]


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str  # "Recomputing consistency": shown on the job page
    run: JobFunction
    max_attempts: int = 3


KINDS: dict[str, JobKind] = {}


def job_kind(name: str, *, title: str, max_attempts: int = 3) -> Callable[[JobFunction], JobFunction]:
    """Register the decorated function as the kind `name` (names are unique)."""

    def register(run: JobFunction) -> JobFunction:
        if name in KINDS and KINDS[name].run is not run:
            raise ValueError(f"job kind {name!r} is registered twice")
        KINDS[name] = JobKind(name=name, title=title, run=run, max_attempts=max_attempts)
        return run

    return register


def load_kinds() -> dict[str, JobKind]:
    """Every kind of the product (importing app.jobs.kinds registers them)."""
    import app.jobs.kinds  # noqa: F401

    return KINDS


def title_of(kind: str) -> str:
    known = load_kinds().get(kind)
    return known.title if known else kind
