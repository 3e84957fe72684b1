"""`concord worker` (runs background jobs) and `concord jobs list | cancel | selftest`."""
from __future__ import annotations

import json
import logging
import signal
import time
import uuid
from types import FrameType

import typer
from sqlalchemy import select

from app.cli import _common
from app.core.errors import ConfigError
from app.core.startup import check_schema, connect
from app.core.storage import make_storage

jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)


def worker(
    once: bool = typer.Option(False, "--once", help="Run what is queued, then exit"),
    grace: float = typer.Option(5.0, help="On SIGTERM, seconds a running job may take to finish before "
                                          "it is handed back at its next checkpoint"),
    kinds: str = typer.Option("", help="Comma-separated job kinds to run (default: all)"),
) -> None:
    """Run background jobs from the database queue until stopped (SIGTERM/SIGINT stop it gracefully)."""
    from app.jobs.runner import Worker

    settings = _common.settings()
    try:
        engine = connect(settings)
        check_schema(engine)
        engine.dispose()
        storage = make_storage(settings)
        runner = Worker.for_database(settings, storage, kinds=[k for k in kinds.split(",") if k] or None)
    except ConfigError as exc:
        _common.fail(str(exc), code=2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        already = runner.stopping.is_set()
        runner.stop(grace=0 if already else grace)
        _common.console.print(f"worker {runner.worker_id}: stopping ({signal.Signals(signum).name})")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _common.console.print(f"worker {runner.worker_id}: running {', '.join(sorted(runner.kinds))}")
    try:
        ran = runner.run(once=once)
    finally:
        runner.close()
    _common.console.print(f"worker {runner.worker_id}: stopped after {ran} jobs")


@jobs_app.command("list")
def list_jobs(
    state: str = typer.Option("", help="Only jobs in this state (queued, running, done, failed, cancelled)"),
    limit: int = typer.Option(20, min=1, max=1000),
) -> None:
    """The newest jobs, as JSON lines."""
    from app.jobs.models import Job
    from app.jobs.service import job_view

    with _common.session() as db:
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if state:
            query = query.where(Job.state == state)
        for job in db.scalars(query):
            view = job_view(job)
            typer.echo(json.dumps({k: v for k, v in view.as_json().items() if k not in ("status_url",)}))


@jobs_app.command("cancel")
def cancel(job_id: int = typer.Argument(..., help="The job's id (see `concord jobs list`)")) -> None:
    """Cancel a job: a queued one ends at once, a running one at its next progress report."""
    from app.core.errors import ConcordError
    from app.jobs import service
    from app.jobs.models import Job

    with _common.session() as db:
        job = db.get(Job, job_id)
        if job is None:
            _common.fail(f"no job {job_id}")
        try:
            job = service.cancel_job(db, job, user=None)
        except ConcordError as exc:
            _common.fail(exc.message)
        db.commit()
        typer.echo(json.dumps({"job": job.id, "state": job.state, "cancel_requested": True}))


@jobs_app.command("selftest")
def selftest(
    seconds: float = typer.Option(1.0, help="How long the test job sleeps"),
    wait: float = typer.Option(60.0, help="Seconds to wait for a worker to finish it"),
) -> None:
    """Queue a harmless job and wait until a worker has run it (checks that workers are alive)."""
    from app.jobs import service
    from app.jobs.models import Job, JobState

    with _common.session() as db:
        job = service.enqueue(db, kind="diagnostics.sleep",
                              payload={"seconds": seconds, "steps": 4, "token": uuid.uuid4().hex})
        db.commit()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            db.expire_all()
            current = db.get(Job, job.id)
            if current is not None and current.state in service.FINISHED:
                typer.echo(json.dumps({"job": job.id, "state": current.state, "attempts": current.attempts}))
                raise typer.Exit(0 if current.state == JobState.done else 1)
            db.rollback()
            time.sleep(0.5)
    _common.fail(f"job {job.id} was not run within {wait:.0f}s: is a worker running (`concord worker`)?")


def register(root: typer.Typer) -> None:
    root.command("worker")(worker)
    root.add_typer(jobs_app, name="jobs")
