"""The hostile-input suite's world: one project, its people, an open assignment and an open conflict,
served by an app whose data directory belongs to the test, so "nothing stored" can be checked as
(row counts of every table, files in media storage, files in the temporary directory) before == after.
"""
from __future__ import annotations

import tracemalloc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.db import get_session
from app.core.storage import LocalStorage
from app.images.models import Image
from app.labeling.models import Assignment, AssignmentState
from app.main import create_app
from app.projects.models import LabelClass, Project
from tests.conftest import make_test_settings
from tests.factories import (
    class_named,
    login_client,
    make_conflict,
    make_final_label,
    make_image,
    make_member,
    make_project,
)
from tests.security.walk import row_counts
from tests.support.databases import engine_url

# Default limits except a small per-request file count and project quota, so those cases are cheap.
LIMITS = {"max_files_per_request": 5, "max_images_per_project": 20}


@dataclass(frozen=True)
class Stored:
    """Everything a request could have stored."""

    rows: dict[str, int]
    media: tuple[str, ...]
    tmp: tuple[str, ...]


def files_under(root: Path) -> tuple[str, ...]:
    return tuple(sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())) if root.exists() else ()


def stored(db: Session, app: FastAPI) -> Stored:
    settings = app.state.settings
    return Stored(row_counts(db), files_under(settings.media_dir), files_under(settings.data_dir / "tmp"))


def assert_nothing_stored(db: Session, app: FastAPI, before: Stored) -> None:
    after = stored(db, app)
    changed = {t: (before.rows[t], after.rows[t]) for t in before.rows if before.rows[t] != after.rows[t]}
    assert not changed, f"rows were stored: {changed}"
    assert after.media == before.media, f"media files were stored: {set(after.media) - set(before.media)}"
    assert after.tmp == before.tmp, f"temporary files were left: {set(after.tmp) - set(before.tmp)}"


@dataclass(frozen=True)
class Streamed:
    status: int
    body: bytes
    peak_traced_mb: float  # the peak of Python allocations while the request ran (client side excluded)
    chunks_read: int  # how much of the body the app read before answering


def stream_post(app: FastAPI, path: str, chunks: Iterable[bytes], headers: dict[str, str]) -> Streamed:
    """POST a body chunk by chunk straight into the ASGI app, as a server would pass it on: unlike the
    test client, nothing buffers the whole body, so memory measured is the app's own, and reading stops
    where the app stops asking."""
    source = iter(chunks)
    read = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        if answer["status"]:
            return {"type": "http.disconnect"}
        chunk = next(source, None)
        read += 1
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    tracemalloc.start()
    try:
        anyio.run(app, scope, receive, send)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return Streamed(answer["status"], answer["body"], peak / 2**20, read)


@pytest.fixture(scope="session")
def _hostile_app(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(make_test_settings(engine_url(engine), tmp_path_factory.mktemp("hostile"), **LIMITS))


@pytest.fixture
def hostile_app(_hostile_app: FastAPI, db: Session, tmp_path: Path) -> Iterator[FastAPI]:
    """The app with a data directory (media, temporary files) of this test's own, on the test's session."""
    settings = _hostile_app.state.settings.model_copy(update={"data_dir": tmp_path / "data"})
    _hostile_app.state.settings = settings
    _hostile_app.state.storage = LocalStorage(settings.media_dir)
    _hostile_app.dependency_overrides[get_session] = lambda: db
    yield _hostile_app
    _hostile_app.dependency_overrides.clear()


@dataclass
class Scene:
    db: Session
    app: FastAPI
    project: Project
    admin: User
    reviewer: User
    inspector: User
    image: Image
    assignment: Assignment
    conflict_id: int
    conflict_version: int
    scratch: LabelClass
    foreign_class: LabelClass  # a class of another project
    clients: dict[str, TestClient]

    def client(self, role: str) -> TestClient:
        return self.clients[role]

    def anonymous(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver")

    def api(self, path: str) -> str:
        return f"/api/v1/projects/{self.project.id}{path}"

    def stored(self) -> Stored:
        return stored(self.db, self.app)

    def stream(self, who: str, path: str, chunks: Iterable[bytes], headers: dict[str, str]) -> Streamed:
        """POST `chunks` as `who` (a role, or "anonymous") straight into the app (see `stream_post`)."""
        sent = {**headers, "accept": "application/json"}
        if who != "anonymous":
            client = self.clients[who]
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            sent["x-csrf-token"] = client.headers["x-csrf-token"]
        return stream_post(self.app, path, chunks, sent)

    def assert_nothing_stored(self, before: Stored) -> None:
        assert_nothing_stored(self.db, self.app, before)


@pytest.fixture
def scene(db: Session, hostile_app: FastAPI) -> Scene:
    project = make_project(db, name="Hostile line")
    people = {role: make_member(db, project, role, password=None) for role in (Role.admin, Role.reviewer,
                                                                               Role.inspector)}
    image = make_image(db, project, width=640, height=480, labels_wanted=1)
    assignment = Assignment(project_id=project.id, image_id=image.id, labeler_id=people[Role.inspector].id,
                            state=AssignmentState.open)
    image.slots_taken = 1
    db.add(assignment)
    disputed = make_image(db, project, width=320, height=240)
    conflict = make_conflict(db, disputed)
    make_final_label(db, make_image(db, project, width=320, height=240), class_named(db, project, "dent"))
    foreign = class_named(db, make_project(db, name="Another line"), "scratch")
    db.flush()
    clients = {}
    for role, user in people.items():
        client = TestClient(hostile_app, base_url="http://testserver")
        login_client(db, hostile_app, client, user)
        clients[str(role)] = client
    db.flush()
    return Scene(db, hostile_app, project, people[Role.admin], people[Role.reviewer], people[Role.inspector], image,
                 assignment, conflict.id, conflict.version, class_named(db, project, "scratch"), foreign,
                 clients)
