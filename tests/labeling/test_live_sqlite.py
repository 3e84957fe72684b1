"""Reliability #38 over HTTP: 8 labelers at once against a live server on SQLite (the embedded
default, one writer at a time): no 5xx ("database is locked"), and the queue's invariants hold."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select

from app.auth import service as auth_service
from app.auth import tokens
from app.auth.models import Role
from app.core.db import make_sessionmaker
from app.images.models import Image
from app.labeling.models import Annotation
from tests.factories import class_named, make_project
from tests.support.databases import fresh_database
from tests.support.live_server import live_server

LABELERS, IMAGES = 8, 40


@pytest.mark.slow
def test_eight_writers_on_sqlite_get_no_server_errors(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as engine:
        with make_sessionmaker(engine)() as db:
            project = make_project(db, labels_per_image=2)
            db.execute(insert(Image), [{"project_id": project.id, "sha256": f"{n:064x}", "file_name": f"{n}.jpg",
                                        "format": "JPEG", "width": 640, "height": 480, "size_bytes": 1,
                                        "storage_key": f"x/{n}.jpg", "meta": {}, "labels_wanted": 2,
                                        "slots_taken": 0, "priority": 0} for n in range(IMAGES)])
            keys = []
            for n in range(LABELERS):
                user = auth_service.create_user(db, email=f"w{n}@example.com", display_name=f"W{n}", password=None)
                auth_service.set_membership(db, project_id=project.id, user=user, role=Role.inspector, actor=None)
                keys.append(tokens.create_token(db, user=user, name="t", actor=None, max_days=90)[1])
            ok, project_id = class_named(db, project, "ok").id, project.id
            db.commit()
        statuses: Counter[int] = Counter()
        acknowledged: list[int] = []
        with live_server(engine, tmp_path / "data") as server:
            barrier = threading.Barrier(LABELERS)

            def labeler(token: str) -> None:
                api = f"/api/v1/projects/{project_id}"
                with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"},
                                  timeout=60) as http:
                    barrier.wait()
                    while True:
                        got = http.post(f"{api}/assignments/next", json={})
                        statuses[got.status_code] += 1
                        assignment = got.json().get("assignment") if got.status_code == 200 else None
                        if assignment is None:
                            return
                        saved = http.post(f"{api}/assignments/{assignment['id']}/annotation",
                                          json={"label_class_id": ok, "idempotency_key": uuid.uuid4().hex})
                        statuses[saved.status_code] += 1
                        if saved.status_code == 200:
                            acknowledged.append(saved.json()["id"])

            threads = [threading.Thread(target=labeler, args=(key,)) for key in keys]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=240)
            assert "database is locked" not in server.log()
        assert set(statuses) == {200}, statuses
        with make_sessionmaker(engine)() as db:
            live = db.execute(select(Annotation.image_id, func.count()).group_by(Annotation.image_id)).all()
            assert sorted(n for _, n in live) == [2] * IMAGES
            assert sorted(acknowledged) == sorted(db.scalars(select(Annotation.id)))
