"""Concurrent claims (threads behind a barrier, each with its own connection): every job is handed
to exactly one worker, on SQLite (conditional UPDATE) and Postgres (FOR UPDATE SKIP LOCKED)."""
from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import make_sessionmaker
from app.jobs import queue, service
from app.jobs.models import Job, JobState
from app.jobs.runner import control_engine, transactions
from tests.support.databases import engine_url

WORKERS = 8
JOBS = 24
ROUNDS = 5


def test_each_job_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    url = engine_url(sessions.kw["bind"])
    for _ in range(ROUNDS):
        with sessions() as db:
            ids = {service.enqueue(db, kind="test.count").id for _ in range(JOBS)}
            db.commit()
        barrier = threading.Barrier(WORKERS)
        claimed: list[tuple[str, int]] = []
        errors: list[BaseException] = []

        def work(name: str) -> None:
            engine = control_engine(url)
            run = transactions(make_sessionmaker(engine))
            try:
                barrier.wait()
                while (lease := run(lambda db: queue.claim(db, worker_id=name, kinds=["test.count"]))) is not None:
                    claimed.append((name, lease.job_id))
            except BaseException as exc:
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # SQLite may answer "database is locked" after the control engine's short wait; that is a
        # retryable miss, never a double claim.
        assert all("locked" in str(e) for e in errors), errors
        counts = Counter(job_id for _, job_id in claimed)
        assert all(n == 1 for n in counts.values()), counts
        assert set(counts) <= ids
        with sessions() as db, db.begin():  # finish the round: the rest, claimed by one worker
            while (lease := queue.claim(db, worker_id="sweeper", kinds=["test.count"])) is not None:
                counts[lease.job_id] += 1
            assert set(counts) == ids and all(n == 1 for n in counts.values())
            db.execute(update(Job).values(state=JobState.done))
