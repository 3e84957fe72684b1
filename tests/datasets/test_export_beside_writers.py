"""An export running on SQLite leaves the write lock free: labelers go on submitting while it streams
(reliability #48: labeling during a large export)."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.storage import LocalStorage
from app.datasets import jobs, service
from app.datasets.export_context import TICK, ExportContext
from app.datasets.runner import run_export
from app.datasets.schemas import ExportFormat, FreezeIn
from app.projects.models import Project
from tests.datasets.bulk import seed
from tests.support.databases import fresh_database


def another_writer_gets_in(path: Path) -> bool:
    """Whether a writer of another connection takes SQLite's write lock within 0.2 s."""
    connection = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["request", "job"])
def test_a_writer_gets_in_while_an_export_streams(path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_database("sqlite", tmp_path) as engine:
        file = Path(engine.url.database or "")
        with Session(engine, expire_on_commit=False) as db:
            seeded = seed(db, images=3000, name="beside")
            project = db.get_one(Project, seeded.project_id)
            admin = db.get_one(User, seeded.admin_id)
            version = service.freeze_version(db, project=project, spec=FreezeIn(name="v1", filter={}), user=admin)
            db.commit()
        storage = LocalStorage(tmp_path / "media")
        seen: list[bool] = []
        original = ExportContext.items

        def probing(self: ExportContext, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for n, item in enumerate(original(self, *args, **kwargs)):
                if n % TICK == TICK // 2:  # mid-page: between two progress reports, where a lock would sit
                    seen.append(another_writer_gets_in(file))
                yield item

        monkeypatch.setattr(ExportContext, "items", probing)

        with Session(engine, expire_on_commit=False) as db:
            db.scalar(select(Project.id))  # the caller has read already: its transaction is open
            if path == "request":
                mine = db.get_one(type(version), version.id)
                run_export(db, storage=storage, version=mine, fmt=ExportFormat.csv, include_images=False,
                           user_id=None, release=db.commit)
            else:
                jobs.export_job(db, storage=storage, project_id=seeded.project_id, version_id=version.id,
                                format="csv", include_images=False)
            db.commit()
        assert len(seen) >= 3 and all(seen), seen


def test_the_probe_sees_a_held_lock(tmp_path: Path) -> None:
    """The probe above can fail: a transaction of ours holds the lock, and it says so."""
    with fresh_database("sqlite", tmp_path) as engine, Session(engine) as db:
        db.scalar(select(Project.id))
        assert not another_writer_gets_in(Path(engine.url.database or ""))
        db.rollback()
        assert another_writer_gets_in(Path(engine.url.database or ""))

