"""Shared by the crash tests (#39): a world to crash in, an HTTP client that survives a dead server, and
`concord fsck` run the way an operator runs it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from app.auth import service as auth_service
from app.auth import tokens
from app.auth.models import Role
from app.cli import root
from app.core.config import get_settings
from app.core.db import make_sessionmaker
from app.core.storage import LocalStorage
from app.images.models import Image
from app.labeling.models import Annotation
from tests.factories import class_named, make_project
from tests.support.databases import engine_url


@dataclass(frozen=True)
class World:
    project_id: int
    ok_class_id: int
    admin_token: str
    labeler_token: str
    labeler_id: int


def seed(engine: Engine, *, labels_per_image: int = 1) -> World:
    with make_sessionmaker(engine)() as db:
        project = make_project(db, labels_per_image=labels_per_image)
        admin = auth_service.create_user(db, email="admin@example.com", display_name="Admin", password=None)
        labeler = auth_service.create_user(db, email="labeler@example.com", display_name="Labeler", password=None)
        auth_service.set_membership(db, project_id=project.id, user=admin, role=Role.admin, actor=None)
        auth_service.set_membership(db, project_id=project.id, user=labeler, role=Role.inspector, actor=None)
        world = World(project.id, class_named(db, project, "ok").id,
                      tokens.create_token(db, user=admin, name="crash", actor=None)[1],
                      tokens.create_token(db, user=labeler, name="crash", actor=None)[1], labeler.id)
        db.commit()
    return world


def client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def upload(http: httpx.Client, world: World, name: str, data: bytes) -> httpx.Response:
    return http.post(f"/api/v1/projects/{world.project_id}/images", files=[("files", (name, data, "image/png"))])


def next_assignment(http: httpx.Client, world: World) -> dict[str, Any] | None:
    got = http.post(f"/api/v1/projects/{world.project_id}/assignments/next", json={})
    assert got.status_code == 200, got.text
    return got.json()["assignment"]  # type: ignore[no-any-return]


def submit(http: httpx.Client, world: World, assignment_id: int, key: str) -> httpx.Response:
    return http.post(f"/api/v1/projects/{world.project_id}/assignments/{assignment_id}/annotation",
                     json={"label_class_id": world.ok_class_id, "idempotency_key": key})


def cut_off(call: Any) -> None:
    """`call()` must die with the server: no answer at all (the connection is dropped)."""
    with pytest.raises(httpx.TransportError):
        call()


def fsck(engine: Engine, data_dir: Path, monkeypatch: pytest.MonkeyPatch, *, fix: bool) -> dict[str, Any]:
    """`concord fsck [--fix] --min-age 0 --json` against the server's database and data dir."""
    with monkeypatch.context() as env:
        env.setenv("CONCORD_DATABASE_URL", engine_url(engine))
        env.setenv("CONCORD_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        try:
            done = CliRunner().invoke(root, ["fsck", *(["--fix"] if fix else []), "--min-age", "0", "--json"])
        finally:
            get_settings.cache_clear()
    assert done.exit_code in (0, 1), done.output
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def images_with(engine: Engine, sha256: str) -> list[int]:
    with make_sessionmaker(engine)() as db:
        return list(db.scalars(select(Image.id).where(Image.sha256 == sha256)))


def annotations_with(engine: Engine, key: str) -> list[int]:
    with make_sessionmaker(engine)() as db:
        return list(db.scalars(select(Annotation.id).where(Annotation.idempotency_key == key)))


def count(engine: Engine, model: Any) -> int:
    with make_sessionmaker(engine)() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def media(data_dir: Path) -> set[str]:
    return set(LocalStorage(data_dir / "media").keys())


def staged(data_dir: Path) -> list[str]:
    tmp = data_dir / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
