"""Two uvicorn app processes and two `concord worker` processes on one Postgres:
labelers spread over both app processes never share a single-label slot, every job runs exactly
once, and a worker killed mid-job (SIGKILL) leads to one retry and one result."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.auth.tokens import create_token
from app.core.audit import AuditEvent
from app.core.db import make_sessionmaker
from app.images.models import Image
from app.jobs import service as jobs
from app.jobs.models import Job, JobState
from app.labeling.models import Annotation, Assignment
from tests.factories import class_named, make_image, make_member, make_project
from tests.support.workers import WorkerProcess, app_servers, wait_until, workers

pytestmark = pytest.mark.slow
LABELERS = 6
IMAGES = 40


def seed_labeling(sessions: sessionmaker[Session]) -> tuple[int, int, list[str]]:
    with sessions() as db:
        project = make_project(db, labels_per_image=1)
        for _ in range(IMAGES):
            make_image(db, project)
        tokens = []
        for _ in range(LABELERS):
            labeler = make_member(db, project, Role.inspector)
            tokens.append(create_token(db, user=labeler, name="scale test", actor=labeler, max_days=90)[1])
        ok = class_named(db, project, "ok").id
        db.commit()
        return project.id, ok, tokens


def label_until_done(base_urls: list[str], project_id: int, class_id: int, token: str,
                     barrier: threading.Barrier, log: list[tuple[str, int, int]], errors: list[str]) -> None:
    """One labeler: next → submit in a loop, each request to the next app process in turn. A request
    that times out or gets a 5xx on this overloaded box is sent again (next resumes the open
    assignment; submit carries an idempotency key); anything else is an error."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=60) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any] | None:
            for attempt in range(4):
                base = base_urls[(turn + attempt) % len(base_urls)]
                try:
                    answer = client.post(f"{base}/api/v1/projects/{project_id}{path}", json=body)
                except httpx.TimeoutException:
                    continue
                if answer.status_code < 500:
                    if answer.status_code != 200:
                        errors.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                        return None
                    return answer.json()  # type: ignore[no-any-return]
            errors.append(f"{path}: no answer after 4 tries")
            return None

        barrier.wait()
        turn = 0
        while True:
            turn += 1
            got = post("/assignments/next", {})
            if got is None or got["assignment"] is None:
                return
            assignment = got["assignment"]
            turn += 1
            sent = post(f"/assignments/{assignment['id']}/annotation",
                        {"label_class_id": class_id, "idempotency_key": uuid.uuid4().hex})
            if sent is None:
                return
            log.append((token[:6], assignment["image"]["id"], sent["id"]))


def test_two_apps_two_workers(postgres_engine: Engine, tmp_path: Path) -> None:
    sessions = make_sessionmaker(postgres_engine)
    project_id, class_id, tokens = seed_labeling(sessions)
    with app_servers(postgres_engine, tmp_path, 2) as apps, workers(postgres_engine, tmp_path, 2) as (w1, w2):
        labelers_never_share_a_slot(sessions, [a.base_url for a in apps], project_id, class_id, tokens)
        every_job_runs_exactly_once(sessions, w1, w2)
        a_killed_worker_means_one_retry_and_one_result(sessions, w1, w2)


def labelers_never_share_a_slot(sessions: sessionmaker[Session], urls: list[str], project_id: int, class_id: int,
                                tokens: list[str]) -> None:
    barrier, log, errors = threading.Barrier(LABELERS), [], []
    threads = [threading.Thread(target=label_until_done,
                                args=(urls[i % 2:] + urls[:i % 2], project_id, class_id, token, barrier, log, errors))
               for i, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    with sessions() as db:
        live = db.execute(select(Annotation.image_id, func.count()).where(Annotation.superseded_by_id.is_(None))
                          .group_by(Annotation.image_id)).all()
        assert len(live) == IMAGES and all(n == 1 for _, n in live)  # one label per single-label image
        done = Counter(db.scalars(select(Assignment.image_id).where(Assignment.state == "done")))
        assert len(done) == IMAGES and set(done.values()) == {1}
        overfull = select(func.count()).select_from(Image).where(Image.slots_taken > Image.labels_wanted)
        assert db.scalar(overfull) == 0
    assert len(log) == IMAGES and len({image for _, image, _ in log}) == IMAGES


def every_job_runs_exactly_once(sessions: sessionmaker[Session], w1: WorkerProcess, w2: WorkerProcess) -> None:
    tokens_by_job = enqueue_diagnostics(sessions, count=16, seconds=0.4)
    wait_until(lambda: finished(sessions, tokens_by_job) == len(tokens_by_job), timeout=120, what="jobs done")
    with sessions() as db:
        states = dict(db.execute(select(Job.id, Job.state).where(Job.id.in_(tokens_by_job))).all())
        assert set(states.values()) == {JobState.done}
        assert set(db.scalars(select(Job.attempts).where(Job.id.in_(tokens_by_job)))) == {1}
        assert audit_count(db, tokens_by_job.values()) == {token: 1 for token in tokens_by_job.values()}
        runners = {wid.split(":")[1] for wid in db.scalars(select(Job.worker_id).where(Job.id.in_(tokens_by_job)))}
        assert runners == {str(w1.pid), str(w2.pid)}, "both workers should have taken jobs"


def a_killed_worker_means_one_retry_and_one_result(sessions: sessionmaker[Session], w1: WorkerProcess,
                                                   w2: WorkerProcess) -> None:
    [(job_id, token)] = enqueue_diagnostics(sessions, count=1, seconds=6, steps=30).items()
    wait_until(lambda: progress_of(sessions, job_id) > 0.1, timeout=60, what="the long job to be under way")
    with sessions() as db:
        holder = str(db.scalar(select(Job.worker_id).where(Job.id == job_id)))
    victim, survivor = (w1, w2) if f":{w1.pid}:" in holder else (w2, w1)
    victim.kill()  # SIGKILL: no clean-up, no hand-back
    wait_until(lambda: state_of(sessions, job_id) == JobState.done, timeout=90, what="the retried job")
    with sessions() as db:
        job = db.get(Job, job_id)
        assert job is not None and job.result is not None
        assert (job.attempts, job.result["token"]) == (2, token)
        assert f":{survivor.pid}:" in str(job.worker_id)
        assert audit_count(db, [token]) == {token: 1}  # the killed attempt committed no result
    assert "dead workers" in survivor.log()


def enqueue_diagnostics(sessions: sessionmaker[Session], *, count: int, seconds: float,
                        steps: int = 4) -> dict[int, str]:
    with sessions() as db:
        made = {}
        for _ in range(count):
            token = uuid.uuid4().hex
            made[jobs.enqueue(db, kind="diagnostics.sleep", payload={"seconds": seconds, "steps": steps,
                                                                     "token": token}).id] = token
        db.commit()
        return made


def finished(sessions: sessionmaker[Session], ids: dict[int, str]) -> int:
    with sessions() as db:
        return int(db.scalar(select(func.count()).select_from(Job).where(
            Job.id.in_(ids), Job.state.in_([JobState.done, JobState.failed]))) or 0)


def progress_of(sessions: sessionmaker[Session], job_id: int) -> float:
    with sessions() as db:
        return float(db.scalar(select(Job.progress).where(Job.id == job_id)) or 0.0)


def state_of(sessions: sessionmaker[Session], job_id: int) -> str:
    with sessions() as db:
        return str(db.scalar(select(Job.state).where(Job.id == job_id)))


def audit_count(db: Session, tokens: Any) -> dict[str, int]:
    rows = db.scalars(select(AuditEvent.data).where(AuditEvent.action == "jobs.diagnostic")).all()
    wanted = set(tokens)
    return dict(Counter(row["token"] for row in rows if row.get("token") in wanted))
