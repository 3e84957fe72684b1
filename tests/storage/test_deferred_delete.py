"""Files are deleted by a job after the rows that referenced them are gone (reliability #43: a failed
delete is retried later, a failed store leaves nothing behind)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import utcnow
from app.core.s3storage import S3Storage
from app.core.storage import Storage, StorageUnavailable
from app.files.service import delete_files_later
from app.jobs.models import Job, JobState
from app.jobs.runner import run_queued
from tests.factories import make_image, make_project
from tests.support.s3 import make_s3_storage


def requested_later(db: Session, job: Job | None) -> Job:
    """As if the rows were deleted two minutes after the files were stored (fresh files are kept:
    see app.files.service.stored_since)."""
    assert job is not None
    job.payload = {**job.payload, "requested_at": (utcnow() + timedelta(minutes=2)).isoformat()}
    db.flush()
    return job


def run_jobs(db: Session, storage: Storage, tmp_path: Path) -> int:
    return run_queued(db, storage=storage, settings=Settings(data_dir=tmp_path), kinds=["files.delete"])


def test_files_go_after_the_commit_and_referenced_ones_stay(db: Session, storage: Storage, tmp_path: Path) -> None:
    project = make_project(db)
    keep = make_image(db, project)
    keep.storage_key = "images/p1/aa/shared.png"
    for key in ("images/p1/aa/shared.png", "images/p1/bb/gone.png", "thumbs/p1/bb/gone.jpg"):
        storage.put_bytes(key, b"x")
    job = requested_later(db, delete_files_later(db, keys=["images/p1/aa/shared.png", "images/p1/bb/gone.png",
                                                       "thumbs/p1/bb/gone.jpg"]))
    assert job.kind == "files.delete"
    assert storage.exists("images/p1/bb/gone.png")  # nothing happens before the job runs
    assert run_jobs(db, storage, tmp_path) == 1
    db.refresh(job)
    assert (job.state, job.result) == (JobState.done, {"deleted": 2, "kept": 1})
    assert sorted(storage.keys()) == ["images/p1/aa/shared.png"]


def test_a_rolled_back_deletion_deletes_nothing(db: Session, storage: Storage, tmp_path: Path) -> None:
    storage.put_bytes("images/p1/cc/x.png", b"x")
    nested = db.begin_nested()
    delete_files_later(db, keys=["images/p1/cc/x.png"])
    nested.rollback()
    assert run_jobs(db, storage, tmp_path) == 0
    assert storage.exists("images/p1/cc/x.png")


def test_a_key_stored_again_after_the_request_is_kept(db: Session, storage: Storage, tmp_path: Path) -> None:
    job = delete_files_later(db, keys=["images/p1/dd/again.png"])
    assert job is not None
    storage.put_bytes("images/p1/dd/again.png", b"uploaded again, row not committed yet")
    run_jobs(db, storage, tmp_path)
    assert storage.exists("images/p1/dd/again.png")


def test_nothing_to_delete_queues_nothing(db: Session) -> None:
    assert delete_files_later(db, keys=[]) is None


def broken(storage: S3Storage, operation: str) -> None:
    def fail(**_: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://object-store")

    storage.client.meta.events.register(f"before-call.s3.{operation}", fail, unique_id="test-failure")


def healed(storage: S3Storage, operation: str) -> None:
    storage.client.meta.events.unregister(f"before-call.s3.{operation}", unique_id="test-failure")


def test_a_failed_s3_delete_is_retried(db: Session, s3_endpoint: str, tmp_path: Path) -> None:
    storage = make_s3_storage(s3_endpoint, tmp_path)
    storage.put_bytes("images/p1/ee/x.png", b"x")
    job = requested_later(db, delete_files_later(db, keys=["images/p1/ee/x.png"]))
    broken(storage, "DeleteObject")
    run_jobs(db, storage, tmp_path)
    db.refresh(job)
    assert (job.state, job.attempts) == (JobState.queued, 1)  # queued again, after a pause
    assert "did not answer" in job.message and storage.exists("images/p1/ee/x.png")
    healed(storage, "DeleteObject")
    job.run_after = None  # skip the pause
    db.flush()
    run_jobs(db, storage, tmp_path)
    db.refresh(job)
    assert (job.state, job.attempts) == (JobState.done, 2)
    assert not storage.exists("images/p1/ee/x.png")


def test_a_failed_s3_put_stores_nothing(s3_endpoint: str, tmp_path: Path) -> None:
    storage = make_s3_storage(s3_endpoint, tmp_path)
    broken(storage, "PutObject")
    with pytest.raises(StorageUnavailable) as failure:
        storage.put_bytes("images/p1/ff/x.png", b"x")
    assert failure.value.status_code == 503 and "object-store" not in failure.value.message
    healed(storage, "PutObject")
    assert list(storage.keys()) == []


def test_an_unreachable_store_is_a_clean_503(tmp_path: Path) -> None:
    from tests.support.live_server import free_port
    from tests.support.s3 import s3_settings

    storage = S3Storage.from_settings(Settings(**s3_settings(f"http://127.0.0.1:{free_port()}", tmp_path)))
    with pytest.raises(StorageUnavailable):
        storage.put_bytes("images/x.png", b"x")
    with pytest.raises(StorageUnavailable):
        storage.exists("images/x.png")
