"""Job tests: real commits on a fresh database of each kind, and a few job kinds made for tests."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.db import make_sessionmaker
from app.core.errors import NotFound
from app.core.storage import LocalStorage
from app.jobs.registry import JobContext, job_kind
from app.jobs.runner import Worker, control_engine, transactions
from tests.support.databases import engine_url

GATE = threading.Event()  # test.gated waits on it
RUNS: list[int] = []  # job ids, once per execution of test.count


@job_kind("test.count", title="Counting", max_attempts=3)
def count_run(ctx: JobContext) -> dict[str, Any]:
    RUNS.append(ctx.job_id)
    ctx.progress(0.5, "half way")
    return {"n": ctx.payload.get("n")}


@job_kind("test.gated", title="Waiting for the test", max_attempts=3)
def gated(ctx: JobContext) -> dict[str, Any]:
    RUNS.append(ctx.job_id)
    if not GATE.wait(timeout=30):
        raise TimeoutError("the test never opened the gate")
    ctx.progress(0.9, "after the gate")
    return {"ok": True}


@job_kind("test.swallow", title="Swallowing errors", max_attempts=3)
def swallow(ctx: JobContext) -> dict[str, Any]:
    RUNS.append(ctx.job_id)
    GATE.wait(timeout=30)
    with contextlib.suppress(Exception):  # a careless job function: it must still be stopped
        ctx.progress(0.9, "after the gate")
    return {"swallowed": True}


@job_kind("test.crash", title="Crashing", max_attempts=2)
def crash(ctx: JobContext) -> None:
    RUNS.append(ctx.job_id)
    raise RuntimeError("boom")


@job_kind("test.refuse", title="Refusing", max_attempts=3)
def refuse(ctx: JobContext) -> None:
    RUNS.append(ctx.job_id)
    raise NotFound("the project is gone")


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RUNS.clear()
    GATE.clear()
    yield
    GATE.set()


def settings_for(engine: Engine, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": engine_url(engine), "data_dir": tmp_path, "job_heartbeat_seconds": 0.2,
                              "job_stale_seconds": 1.0, "job_poll_seconds": 0.05, **overrides}
    return Settings(**values)


@pytest.fixture
def sessions(fresh_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(fresh_engine)


@pytest.fixture
def make_worker(fresh_engine: Engine, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    made: list[Worker] = []

    def make(**overrides: Any) -> Worker:
        settings = settings_for(fresh_engine, tmp_path, **overrides)
        control = control_engine(settings.database_url)
        worker = Worker(control=transactions(make_sessionmaker(control)), work_session=make_sessionmaker(fresh_engine),
                        storage=LocalStorage(tmp_path / "media"), settings=settings)
        worker.engines = [control]
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()
        worker.close()
