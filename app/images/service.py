"""Images in the database and in storage, kept in step: no row without its file, no file left behind
by a row that was not stored.

Order of writes: the original and the thumbnail are written first under their content keys (atomic
writes, idempotent: the same bytes give the same key), then the row is inserted inside a savepoint.
If the insert fails, the files are removed unless a committed row refers to them (a concurrent
upload of the same bytes into the same project won the unique constraint and keeps them).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.config import Settings
from app.core.errors import ConcordError, NotFound, TooLarge
from app.core.faults import fault_point
from app.core.storage import Storage, StorageUnavailable
from app.images import ingest, validation
from app.images.ingest import Prepared, Refusal
from app.images.models import Image, UploadBatch
from app.labeling import overlap
from app.projects.models import Project

log = logging.getLogger("concord.images")


class IngestStatus(StrEnum):
    stored = "stored"
    duplicate = "duplicate"
    refused = "refused"


@dataclass
class IngestResult:
    file_name: str
    status: IngestStatus
    image: Image | None = None
    reason: str | None = None
    status_code: int | None = None  # for a refusal: the HTTP status of its reason

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "file_name": self.file_name,
            "status": str(self.status),
            "image_id": self.image.id if self.image else None,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.status_code is not None:
            body["status_code"] = self.status_code
        return body


def limits_of(settings: Settings) -> validation.Limits:
    return validation.Limits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels)


def storage_keys(project_id: int, sha256: str, fmt: str) -> tuple[str, str]:
    """(original key, thumbnail key): ours, from the content, never from the uploader's name."""
    stem = f"p{project_id}/{sha256[:2]}/{sha256}"
    return f"images/{stem}.{validation.extension(fmt)}", f"thumbs/{stem}.jpg"


def start_batch(db: Session, *, project: Project, name: str, source: str, creator: User | None) -> UploadBatch:
    batch = UploadBatch(
        project_id=project.id,
        name=name[:200] or source,
        source=source,
        created_by_id=creator.id if creator else None,
        stats={},
    )
    db.add(batch)
    db.flush()
    return batch


def get_batch(db: Session, *, project_id: int, batch_id: int) -> UploadBatch:
    batch = db.get(UploadBatch, batch_id)
    if batch is None or batch.project_id != project_id:
        raise NotFound("upload batch not found", field="batch_id")
    return batch


def count_images(db: Session, project_id: int) -> int:
    return db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project_id)) or 0


def check_quota(db: Session, *, project: Project, settings: Settings, incoming: int) -> None:
    """Raises TooLarge when `incoming` more images would pass the project's image quota."""
    if incoming > settings.max_files_per_request:
        raise TooLarge(f"{incoming} files in one request; the limit is {settings.max_files_per_request}", field="files")
    have = count_images(db, project.id)
    if have + incoming > settings.max_images_per_project:
        raise TooLarge(
            f"the project holds {have:,} images; {incoming} more would pass its quota of "
            f"{settings.max_images_per_project:,}",
            field="files",
        )


def find_duplicate(db: Session, *, project_id: int, sha256: str) -> Image | None:
    return db.scalar(select(Image).where(Image.project_id == project_id, Image.sha256 == sha256))


def store_prepared(
    db: Session,
    *,
    storage: Storage,
    project: Project,
    batch: UploadBatch | None,
    prepared: Prepared,
    augmented_from_id: int | None = None,
    augmentation: dict[str, Any] | None = None,
    files_written: bool = False,
) -> IngestResult:
    """Store one verified image (files, then row, in a savepoint); flushes, never commits.
    `files_written`: the caller already wrote the files under their keys (app.images.bulk)."""
    existing = find_duplicate(db, project_id=project.id, sha256=prepared.sha256)
    if existing is not None:
        return IngestResult(
            prepared.file_name,
            IngestStatus.duplicate,
            existing,
            reason=f"the same image is already in the project (image {existing.id})",
        )
    key, thumb_key = storage_keys(project.id, prepared.sha256, prepared.format)
    try:
        if not files_written:
            storage.put_file(key, prepared.source)
            storage.put_bytes(thumb_key, prepared.thumbnail)
            fault_point("upload.file_written")
    except (OSError, StorageUnavailable) as exc:
        discard_unreferenced(db, storage, [key, thumb_key])
        why = exc.message if isinstance(exc, StorageUnavailable) else exc.strerror or str(exc)
        return IngestResult(
            prepared.file_name,
            IngestStatus.refused,
            reason=f"could not be stored ({why})",
            status_code=507 if isinstance(exc, OSError) else 503,
        )
    image = Image(
        project_id=project.id,
        batch_id=batch.id if batch else None,
        sha256=prepared.sha256,
        file_name=prepared.file_name,
        format=prepared.format,
        width=prepared.width,
        height=prepared.height,
        size_bytes=prepared.size,
        storage_key=key,
        thumbnail_key=thumb_key,
        meta=prepared.meta,
        phash=prepared.signature,
        labels_wanted=0,
        slots_taken=0,
        priority=0,
        augmented_from_id=augmented_from_id,
        augmentation=augmentation,
    )
    savepoint = db.begin_nested()
    try:
        db.add(image)
        db.flush()
        image.labels_wanted = overlap.initial_labels_wanted(project, image)
        db.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        winner = find_duplicate(db, project_id=project.id, sha256=prepared.sha256)
        if winner is None:  # not a duplicate after all (a vanished project, a broken reference)
            discard_unreferenced(db, storage, [key, thumb_key])
            raise
        return IngestResult(
            prepared.file_name,
            IngestStatus.duplicate,
            winner,
            reason=f"the same image is already in the project (image {winner.id})",
        )
    except BaseException:
        savepoint.rollback()
        discard_unreferenced(db, storage, [key, thumb_key])
        raise
    return IngestResult(prepared.file_name, IngestStatus.stored, image)


def images_added(db: Session, *, project_id: int) -> None:
    """New images change the project's near-duplicate groups: the consistency service searches them
    again in the background (labels do not change them; see app.consistency.recompute)."""
    from app.consistency import service as consistency_service

    consistency_service.schedule_duplicates(db, project_id=project_id)


def refused(refusal: Refusal) -> IngestResult:
    return IngestResult(refusal.file_name, IngestStatus.refused, reason=refusal.reason, status_code=refusal.status_code)


def store_image_bytes(
    db: Session,
    *,
    storage: Storage,
    settings: Settings,
    project: Project,
    data: bytes,
    file_name: str,
    meta: dict[str, Any] | None = None,
    batch: UploadBatch | None = None,
    augmented_from_id: int | None = None,
    augmentation: dict[str, Any] | None = None,
) -> IngestResult:
    """Verify and store an image given as bytes (augmentation, tests); flushes, never commits.
    A refused image comes back as an IngestResult with status `refused`; nothing is stored."""
    tmp_dir = settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="bytes-", suffix=".bin") as handle:
        handle.write(data)
        handle.flush()
        try:
            prepared = ingest.prepare(Path(handle.name), file_name=file_name, limits=limits_of(settings), meta=meta)
        except ConcordError as exc:
            return IngestResult(
                ingest.display_name(file_name), IngestStatus.refused, reason=exc.message, status_code=exc.status_code
            )
        return store_prepared(
            db,
            storage=storage,
            project=project,
            batch=batch,
            prepared=prepared,
            augmented_from_id=augmented_from_id,
            augmentation=augmentation,
        )


def discard_unreferenced(db: Session, storage: Storage, keys: Sequence[str]) -> None:
    """Delete the files under `keys` that no stored row refers to (cleanup after a failed insert or
    a failed commit). Storage errors are logged, never raised: the caller is already failing."""
    if not keys:
        return
    try:
        used = set(db.scalars(select(Image.storage_key).where(Image.storage_key.in_(keys))))
        used |= set(db.scalars(select(Image.thumbnail_key).where(Image.thumbnail_key.in_(keys))))
    except Exception:  # the database is what failed: keep the files (fsck removes true orphans)
        log.exception("could not check references of %s; files kept", keys)
        return
    for key in keys:
        if key not in used:
            try:
                storage.delete(key)
            except (OSError, StorageUnavailable):
                log.exception("could not remove %s", key)


def keys_of(results: Sequence[IngestResult]) -> list[str]:
    """The storage keys written for newly stored images (what to discard if the commit fails)."""
    keys: list[str] = []
    for result in results:
        if result.status == IngestStatus.stored and result.image is not None:
            keys.append(result.image.storage_key)
            if result.image.thumbnail_key:
                keys.append(result.image.thumbnail_key)
    return keys


def record_batch_stats(batch: UploadBatch, results: Sequence[IngestResult]) -> None:
    counts = {status.value: 0 for status in IngestStatus}
    for result in results:
        counts[result.status.value] += 1
    stats = dict(batch.stats or {})
    for status, n in counts.items():
        stats[status] = int(stats.get(status, 0)) + n
    batch.stats = stats


def get_image(db: Session, *, project_id: int, image_id: int) -> Image:
    """The project's image; another project's id is NotFound."""
    image = db.get(Image, image_id)
    if image is None or image.project_id != project_id:
        raise NotFound("image not found")
    return image


def images_page(
    db: Session, *, project_id: int, after_id: int = 0, limit: int = 100, batch_id: int | None = None
) -> Sequence[Image]:
    query = select(Image).where(Image.project_id == project_id, Image.id > after_id)
    if batch_id is not None:
        query = query.where(Image.batch_id == batch_id)
    return db.scalars(query.order_by(Image.id).limit(limit)).all()


def recent_batches(db: Session, *, project_id: int, limit: int = 10) -> Sequence[UploadBatch]:
    return db.scalars(
        select(UploadBatch).where(UploadBatch.project_id == project_id).order_by(UploadBatch.id.desc()).limit(limit)
    ).all()
