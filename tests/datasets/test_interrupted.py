"""An export that dies halfway leaves nothing that looks complete, and a rerun gives the same bytes (#42)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.core.storage import LocalStorage
from app.datasets.export_context import ExportContext
from app.datasets.exporting import export_key
from app.datasets.models import DatasetExport
from app.datasets.runner import progress_key, read_progress
from app.datasets.schemas import ExportFormat
from tests.datasets.bulk import seed
from tests.datasets.helpers import export, freeze
from tests.datasets.scene import build_scene
from tests.support.databases import engine_url
from tests.support.live_server import REPO_ROOT


def test_a_failure_halfway_stores_nothing_and_the_rerun_matches(db: Session, monkeypatch, tmp_path: Path) -> None:
    # Its own storage: the session's is shared, and an identical archive left by another test would
    # make "nothing stored" depend on the order the tests ran in.
    storage = LocalStorage(tmp_path / "media")
    tmp_path = tmp_path / "tmp"
    tmp_path.mkdir()
    scene = build_scene(db, images=30, storage=storage)
    version = freeze(db, scene)
    clean = export(db, storage, version, "coco", images=True)
    sha, key = clean.sha256, clean.storage_key
    storage.delete(key)
    db.delete(clean)
    db.flush()
    calls = {"n": 0}
    original = ExportContext.tick

    def dying(self: ExportContext, count: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # in the middle of the second split's records
            raise OSError("disk went away")
        original(self, count)

    monkeypatch.setattr(ExportContext, "tick", dying)
    with pytest.raises(OSError):
        export(db, storage, version, "coco", images=True, tmp_dir=tmp_path)
    assert db.scalar(select(func.count()).select_from(DatasetExport)) == 0
    assert not [k for k in storage.keys(export_key(version, ExportFormat.coco, True)) if k.endswith(".zip")]
    assert read_progress(storage, progress_key(version, ExportFormat.coco, True))["state"] == "failed"
    assert list(tmp_path.iterdir()) == []  # the half-written archive is gone too
    monkeypatch.setattr(ExportContext, "tick", original)
    again = export(db, storage, version, "coco", images=True)
    assert (again.sha256, again.storage_key) == (sha, key)


@pytest.mark.slow
def test_a_killed_export_process_leaves_no_archive_and_a_rerun_gives_the_same_hash(fresh_engine: Engine,
                                                                                 tmp_path: Path) -> None:
    with Session(fresh_engine, expire_on_commit=False) as db:
        seeded = seed(db, images=20_000, name="kill")
        db.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(CONCORD_DATABASE_URL=engine_url(fresh_engine), CONCORD_DATA_DIR=str(tmp_path / "data"))

    def concord(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, check=True)

    concord("dataset", "freeze", str(seeded.project_id), "--name", "v1")
    storage = LocalStorage(tmp_path / "data" / "media")
    command = [sys.executable, "-m", "app.cli", "export", str(seeded.project_id), "--version", "1", "--format", "yolo",
               "--out", str(tmp_path / "first.zip")]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        progress = [k for k in storage.keys("exports/") if k.endswith(".progress.json")]
        state = read_progress(storage, progress[0]) if progress else None
        if state and state["state"] == "running" and 0 < state["done"] < state["total"] * 0.7:
            process.send_signal(signal.SIGKILL)
            killed_at = state["done"] / state["total"]
            break
        time.sleep(0.01)
    process.wait()
    assert killed_at is not None, "the export finished before it could be killed; make the data larger"
    assert not [k for k in storage.keys("exports/") if k.endswith(".zip")]
    assert not (tmp_path / "first.zip").exists()
    with Session(fresh_engine) as db:
        assert db.scalar(select(func.count()).select_from(DatasetExport)) == 0
    # The killed process is gone: its "running" progress no longer blocks a new try.
    first = json.loads(concord("export", str(seeded.project_id), "--version", "1", "--format", "yolo",
                               "--out", str(tmp_path / "first.zip")).stdout)
    second = json.loads(concord("export", str(seeded.project_id), "--version", "1", "--format", "yolo",
                                "--out", str(tmp_path / "second.zip")).stdout)
    assert first["sha256"] == second["sha256"]
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
