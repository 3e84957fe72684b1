"""Reliability #39: fsck finds rows pointing to missing files and files no row references, and
--fix removes the orphans (never a file younger than the in-flight grace period)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.db import make_engine, make_sessionmaker, utcnow
from app.core.migrate import upgrade
from app.core.storage import LocalStorage, Storage
from app.files.fsck import fsck
from tests.factories import make_image, make_project

LATER = timedelta(hours=2)  # "now" for the check, so every file counts as old


def stored_image(db: Session, storage: Storage, project, key: str, *, thumb: str | None = None):  # type: ignore[no-untyped-def]
    image = make_image(db, project)
    image.storage_key = key
    storage.put_bytes(key, key.encode())
    if thumb:
        image.thumbnail_key = thumb
        storage.put_bytes(thumb, b"thumb")
    db.flush()
    return image


def test_missing_files_and_orphans_are_found_and_orphans_removed(db: Session, storage: Storage) -> None:
    project = make_project(db)
    kept = stored_image(db, storage, project, "images/p1/aa/kept.png", thumb="thumbs/p1/aa/kept.jpg")
    lost = stored_image(db, storage, project, "images/p1/bb/lost.png")
    storage.delete(lost.storage_key)
    storage.put_bytes("images/p1/cc/orphan.png", b"no row")
    storage.put_bytes("exports/orphan.zip", b"no row either")

    report = fsck(db, storage=storage, now=utcnow() + LATER)
    assert [(m.key, m.where, m.row_id) for m in report.missing] == [(lost.storage_key, "images.storage_key", lost.id)]
    assert sorted(report.orphans) == ["exports/orphan.zip", "images/p1/cc/orphan.png"]
    assert report.removed == 0 and storage.exists("images/p1/cc/orphan.png")  # without --fix nothing changes

    fixed = fsck(db, storage=storage, fix=True, now=utcnow() + LATER)
    assert fixed.removed == 2
    assert sorted(storage.keys()) == [kept.storage_key, kept.thumbnail_key]
    again = fsck(db, storage=storage, fix=True, now=utcnow() + LATER)
    assert again.orphans == [] and len(again.missing) == 1 and again.removed == 0


def test_a_fresh_orphan_may_be_an_upload_in_flight(db: Session, storage: Storage) -> None:
    storage.put_bytes("images/p1/dd/in-flight.png", b"row not committed yet")
    report = fsck(db, storage=storage, fix=True)  # now: the file is seconds old
    assert report.young_orphans == 1 and report.orphans == [] and report.removed == 0
    assert storage.exists("images/p1/dd/in-flight.png")


def test_shared_keys_are_kept(db: Session, storage: Storage) -> None:
    project = make_project(db)
    first = stored_image(db, storage, project, "images/p1/ee/same.png")
    second = make_image(db, project)
    second.storage_key = first.storage_key
    db.flush()
    report = fsck(db, storage=storage, fix=True, now=utcnow() + LATER)
    assert report.clean and storage.exists(first.storage_key)


def test_half_written_temp_files_are_removed(tmp_path: Path, db: Session) -> None:
    storage = LocalStorage(tmp_path / "media")
    (storage.root / "images").mkdir()
    temp = storage.root / "images" / ".tmp-abc123"
    temp.write_bytes(b"half a file")
    old = (utcnow() - LATER).timestamp()
    os.utime(temp, (old, old))
    report = fsck(db, storage=storage, fix=True)
    assert report.temp_files == ["images/.tmp-abc123"] and not temp.exists()


def test_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'concord.db'}"
    engine = make_engine(url)
    upgrade(engine, "head")
    storage = LocalStorage(tmp_path / "media")
    with make_sessionmaker(engine)() as db:
        project = make_project(db)
        lost = stored_image(db, storage, project, "images/p1/ff/lost.png")
        db.commit()
    engine.dispose()
    storage.delete(lost.storage_key)
    storage.put_bytes("images/p1/ff/orphan.png", b"x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(CONCORD_DATABASE_URL=url, CONCORD_DATA_DIR=str(tmp_path))
    concord = str(Path(sys.executable).parent / "concord")
    done = subprocess.run([concord, "fsck", "--fix", "--min-age", "0", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # a row still points to a missing file
    report = json.loads(done.stdout)
    assert report["orphans"] == ["images/p1/ff/orphan.png"] and report["removed"] == 1
    assert [m["key"] for m in report["missing"]] == ["images/p1/ff/lost.png"]
    assert not storage.exists("images/p1/ff/orphan.png")


def test_an_exports_progress_file_is_not_an_orphan(db: Session, storage: Storage) -> None:
    storage.put_bytes("exports/p1/v1/coco.zip.progress.json", b"{}")
    report = fsck(db, storage=storage, fix=True, now=utcnow() + LATER)
    assert report.orphans == [] and storage.exists("exports/p1/v1/coco.zip.progress.json")
