"""Jobs inside the app process: on SQLite (one machine, no `concord worker` to run) the app starts a
runner thread with its lifespan and stops it on shutdown. CONCORD_JOBS_IN_APP turns it on or off
explicitly (on Postgres the default is off: run `concord worker` processes).

The thread never shares a session with a request; its control writes use their own short-timeout
engine, and it holds SQLite's write lock only while a job's work runs between checkpoints.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.config import Settings
from app.jobs.runner import Worker

log = logging.getLogger("concord.jobs")
STOP_WAIT_SECONDS = 10.0


def runs_in_app(settings: Settings) -> bool:
    return settings.is_sqlite if settings.jobs_in_app is None else settings.jobs_in_app


class InAppRunner:
    def __init__(self, app: FastAPI) -> None:
        state = app.state
        # SQLite: the app's own engine, so the job's writes join the app's fair write queue
        # (app/core/db_guards.py). Postgres: an engine of its own, without the web requests' deadline.
        shared = state.engine if state.settings.is_sqlite else None
        self.worker = Worker.for_database(state.settings, state.storage, work_engine=shared)
        self.thread = threading.Thread(target=self._run, name="concord-jobs", daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run()
        except Exception:  # never take the app down; the reaper requeues what was running
            log.exception("the in-app job runner stopped")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop(grace=0)
        self.thread.join(timeout=STOP_WAIT_SECONDS)
        self.worker.close()


@asynccontextmanager
async def in_app_jobs(app: FastAPI) -> AsyncIterator[None]:
    """FastAPI lifespan: run jobs in a thread of this process while it serves (see runs_in_app)."""
    runner = InAppRunner(app) if runs_in_app(app.state.settings) else None
    app.state.job_runner = runner
    if runner is not None:
        runner.start()
    try:
        yield
    finally:
        if runner is not None:
            runner.stop()
