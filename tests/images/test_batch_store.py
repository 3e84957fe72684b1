"""Storing an upload's images as one batch (app/images/batch_store.py): the rows go in with one INSERT,
and every outcome is the one the file-by-file path gives (stored, duplicate in the project or in the
batch, refused by the storage), including a collision with a parallel upload of the same bytes."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core.storage import LocalStorage
from app.images import batch_store, ingest
from app.images.models import Image
from app.images.validation import Limits
from app.labeling import overlap
from tests.factories import image_bytes, make_project

LIMITS = Limits(max_bytes=5_000_000, max_pixels=4_000_000)


def prepared(tmp_path: Path, n: int, name: str | None = None) -> ingest.Prepared:
    path = tmp_path / f"src-{n}-{name or ''}.png"
    path.write_bytes(image_bytes(colour=(n % 256, 40, 90)))
    return ingest.prepare(path, file_name=name or f"img_{n}.png", limits=LIMITS)


def test_a_batch_goes_in_with_one_insert_and_the_file_by_file_outcomes(db: Session, tmp_path: Path) -> None:
    project = make_project(db, labels_per_image=1)
    project.qa_fraction, project.qa_labels_per_image = 0.5, 3  # half the images want 3 labels, by id
    storage = LocalStorage(tmp_path / "media")
    first = batch_store.store_many(db, storage=storage, project=project, batch=None,
                                   items=[prepared(tmp_path, 0)])
    items = [prepared(tmp_path, n) for n in range(1, 21)]
    items.insert(5, prepared(tmp_path, 3, "again.png"))  # the same bytes twice in one batch
    items.append(prepared(tmp_path, 0, "old.png"))  # already in the project
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.startswith("INSERT INTO images"):
            inserts.append(statement)

    connection = db.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        results = batch_store.store_many(db, storage=storage, project=project, batch=None, items=items)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(inserts) == 1  # twenty rows, one round trip (the file-by-file path made twenty)
    assert [r.status for r in results] == ["stored"] * 5 + ["duplicate"] + ["stored"] * 15 + ["duplicate"]
    assert results[5].image is results[2].image and results[-1].image is first[0].image  # n=3 is items[2]
    assert db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project.id)) == 21
    for result in results[:5]:
        image = result.image
        assert image is not None and storage.exists(image.storage_key) and storage.exists(image.thumbnail_key)
        assert image.labels_wanted == overlap.initial_labels_wanted(project, image)  # the QA draw on its id
    assert {r.image.labels_wanted for r in results if r.image is not None} == {1, 3}


def test_a_file_the_storage_refuses_is_refused_alone(db: Session, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(db)
    storage = LocalStorage(tmp_path / "media")
    items = [prepared(tmp_path, n) for n in range(4)]
    items.append(prepared(tmp_path, 2, "copy.png"))
    bad = items[2].source
    original = storage.put_file

    def full_disk(key: str, source: Path) -> None:
        if source == bad:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(key, source)

    monkeypatch.setattr(storage, "put_file", full_disk)
    results = batch_store.store_many(db, storage=storage, project=project, batch=None, items=items)
    assert [r.status for r in results] == ["stored", "stored", "refused", "stored", "refused"]
    assert results[2].status_code == 507 and results[4].reason == results[2].reason
    assert db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project.id)) == 3
    stored_keys = set(storage.keys())
    assert {r.image.thumbnail_key for r in results if r.image is not None} <= stored_keys
    assert len([k for k in stored_keys if k.startswith("images/")]) == 3  # nothing left of the refused one


def test_a_collision_with_a_parallel_upload_is_settled_image_by_image(db: Session, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(db)
    storage = LocalStorage(tmp_path / "media")
    items = [prepared(tmp_path, n) for n in range(3)]
    write = batch_store._write_files

    def meanwhile(*args: object, **kwargs: object) -> object:
        written = write(*args, **kwargs)  # type: ignore[arg-type]
        # another request stores items[1] now, after our duplicate lookup and before our insert
        other = items[1]
        db.add(Image(project_id=project.id, sha256=other.sha256, file_name="theirs.png", format=other.format,
                     width=other.width, height=other.height, size_bytes=other.size, storage_key="images/x.png",
                     labels_wanted=1, slots_taken=0, priority=0, meta={}))
        db.flush()
        return written

    monkeypatch.setattr(batch_store, "_write_files", meanwhile)
    results = batch_store.store_many(db, storage=storage, project=project, batch=None, items=items)
    assert [r.status for r in results] == ["stored", "duplicate", "stored"]
    assert results[1].image is not None and results[1].image.file_name == "theirs.png"
    assert db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project.id)) == 3
