"""Deleting files safely: after the rows that referenced them are gone, never before.

A file is deleted by a job (kind `files.delete`) enqueued in the same transaction that deletes its
rows: if that transaction rolls back, nothing is deleted; if it commits, the job runs afterwards and
retries while the object store fails (reliability #43). A key some row still references (content-
addressed keys can be shared) is kept.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.storage import Storage, StoredObject, check_key
from app.files.references import referenced
from app.jobs import service as jobs
from app.jobs.models import Job
from app.jobs.registry import Progress, no_progress

CLOCK_MARGIN = timedelta(seconds=60)


def delete_files_later(db: Session, *, keys: Iterable[str], project_id: int | None = None) -> Job | None:
    """Queue the deletion of `keys` to run after the caller commits; None when there is nothing."""
    wanted = sorted({check_key(key) for key in keys if key})
    if not wanted:
        return None
    payload = {"keys": wanted, "requested_at": utcnow().isoformat()}
    return jobs.enqueue(db, kind="files.delete", project_id=project_id, payload=payload)


@dataclass
class DeleteReport:
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # referenced by a row, or stored again meanwhile


def delete_unreferenced(db: Session, *, storage: Storage, keys: list[str], requested_at: datetime,
                        progress: Progress = no_progress) -> DeleteReport:
    """Delete each key no row references and nobody stored again after `requested_at` (an upload of
    the same content re-stores the key before its row commits). A storage failure raises
    StorageUnavailable; a rerun skips what is already gone (deleting a missing key is no error)."""
    report = DeleteReport()
    in_use = referenced(db, keys)
    for done, key in enumerate(keys, start=1):
        if key in in_use or stored_since(storage, key, requested_at):
            report.kept.append(key)
        else:
            storage.delete(key)
            report.deleted.append(key)
        progress(done / len(keys), f"{done} of {len(keys)} files")
    return report


def stored_since(storage: Storage, key: str, moment: datetime) -> bool:
    """Whether `key` exists and may have been written after `moment`. Errs towards "yes" (keeping a
    file fsck can still remove): S3 stamps whole seconds, and the store's clock may lag ours."""
    entry = entry_of(storage, key)
    return entry is not None and entry.modified >= moment - CLOCK_MARGIN


def entry_of(storage: Storage, key: str) -> StoredObject | None:
    return next((e for e in storage.entries(key) if e.key == key), None)
