"""The database connection fails under a request (reliability #41), through a fault-injecting TCP proxy
between the app and Postgres: the connection is cut mid-transaction, slowed, or blackholed. Each time
the request gets a 503/504 (or, when only slowed, its normal answer) within the time budget, nothing of
it is half-stored, the pool is back at its baseline, and the next request succeeds."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from app.auth import tokens
from app.auth.models import Role
from app.core.db import make_sessionmaker
from app.images.models import Image
from app.labeling.models import Assignment
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import make_image, make_member, make_project
from tests.reliability.proxy import FaultProxy
from tests.support.databases import engine_url, fresh_database

pytestmark = pytest.mark.slow
BUDGET = 10.0  # seconds a request may take before the database's trouble must show as a 503/504


@dataclass
class Rig:
    app: FastAPI
    engine: Engine  # direct, for checking
    proxy: FaultProxy
    project_id: int
    token: str

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver", raise_server_exceptions=False,
                          headers={"Authorization": f"Bearer {self.token}"})

    def claim(self, client: TestClient) -> httpx.Response:
        return client.post(f"/api/v1/projects/{self.project_id}/assignments/next", json={})

    def consistent(self) -> bool:
        """Every image's slot count equals its open or done assignments: no half-written claim."""
        with make_sessionmaker(self.engine)() as db:
            held = db.scalar(select(func.count()).select_from(Assignment).where(Assignment.state.in_(["open", "done"])))
            taken = db.scalar(select(func.sum(Image.slots_taken)))
            return held == (taken or 0)


@pytest.fixture
def rig(engine: Engine, tmp_path: Path) -> Iterator[Rig]:
    if engine.dialect.name != "postgresql":
        pytest.skip("the proxy sits in front of Postgres's TCP port (SQLite has no connection to cut)")
    with fresh_database("postgres", tmp_path) as fresh:
        with make_sessionmaker(fresh)() as db:
            project = make_project(db, labels_per_image=1)
            for _ in range(5):
                make_image(db, project, labels_wanted=1)
            inspector = make_member(db, project, Role.inspector, password=None)
            raw = tokens.create_token(db, user=inspector, name="faults", actor=None, max_days=90)[1]
            project_id = project.id
            db.commit()
        url = make_url(engine_url(fresh))
        proxy = FaultProxy((url.host or "127.0.0.1", url.port or 5432))
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        app = create_app(make_test_settings(proxied, tmp_path / "data", jobs_in_app=False))
        try:
            yield Rig(app, fresh, proxy, project_id, raw)
        finally:
            proxy.close()
            app.state.engine.dispose()


def timed(rig: Rig, fault: str) -> tuple[httpx.Response | None, float]:
    """A claim made while `fault` happens; (its answer or None if none came within the budget, seconds)."""
    answer: list[httpx.Response] = []
    client = rig.client()
    worker = threading.Thread(target=lambda: answer.append(rig.claim(client)), daemon=True)
    started = time.monotonic()
    worker.start()
    if fault == "reset":
        time.sleep(1.0)
        rig.proxy.reset()
    worker.join(BUDGET)
    return (answer[0] if answer else None), time.monotonic() - started


def recovers(rig: Rig) -> None:
    rig.proxy.mode = "pass"
    baseline = rig.app.state.engine.pool.checkedout()
    response = rig.claim(rig.client())
    assert response.status_code == 200, response.text
    assert rig.app.state.engine.pool.checkedout() == baseline == 0
    assert rig.consistent()


def test_a_connection_cut_mid_transaction_is_a_503_and_the_next_request_succeeds(rig: Rig) -> None:
    assert rig.claim(rig.client()).status_code == 200  # the pool holds a live connection now
    rig.proxy.mode, rig.proxy.delay = "delay", 0.3  # slow enough that the cut lands inside the request
    answer, _seconds = timed(rig, "reset")
    assert answer is not None, f"no answer within {BUDGET} s"
    assert answer.status_code in (503, 504), answer.text
    assert answer.json()["message"] and answer.headers.get("retry-after")
    recovers(rig)


def test_a_slow_database_still_answers_within_the_budget(rig: Rig) -> None:
    rig.proxy.mode, rig.proxy.delay = "delay", 0.2  # every answer from Postgres 200 ms late
    answer, _seconds = timed(rig, "slow")
    assert answer is not None and answer.status_code in (200, 503, 504), answer
    recovers(rig)


def test_a_blackholed_database_is_a_503_within_the_budget(rig: Rig) -> None:
    assert rig.claim(rig.client()).status_code == 200
    rig.proxy.mode = "blackhole"
    try:
        answer, _seconds = timed(rig, "blackhole")
        assert answer is not None, f"no answer within {BUDGET} s: the request hangs on the database"
        assert answer.status_code in (503, 504)
    finally:
        rig.proxy.reset()  # frees the hanging request (its connection errors out)
        time.sleep(0.5)
    recovers(rig)
