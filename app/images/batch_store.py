"""Many verified images stored at once (an upload, a folder import): one duplicate lookup for the
whole batch, the files written, every row inserted by one INSERT (the ids come back in the same round
trip) and their wanted label counts set by one executemany, all inside one savepoint.

Same outcomes as storing each image with service.store_prepared, file by file: a file already in the
project, or twice in the batch, is a duplicate; a file the storage refuses is refused (507/503) and
the others go in. If the batch meets a parallel upload of the same bytes (the unique (project, sha256)
constraint), it is rolled back and each image is stored on its own, which settles who won.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.core.db import utcnow
from app.core.faults import fault_point
from app.core.storage import Storage, StorageUnavailable
from app.images.ingest import Prepared
from app.images.models import Image, UploadBatch
from app.images.service import IngestResult, IngestStatus, discard_unreferenced, storage_keys, store_prepared
from app.labeling import overlap
from app.projects.models import Project


def store_many(db: Session, *, storage: Storage, project: Project, batch: UploadBatch | None,
               items: Sequence[Prepared]) -> list[IngestResult]:
    """One IngestResult per item, in order; flushes, never commits (see the module docstring)."""
    existing = {image.sha256: image for image in db.scalars(
        select(Image).where(Image.project_id == project.id, Image.sha256.in_({i.sha256 for i in items})))}
    results: list[IngestResult | None] = [None] * len(items)
    fresh: dict[str, tuple[int, Prepared]] = {}
    for n, item in enumerate(items):
        if item.sha256 in existing or item.sha256 in fresh:
            continue  # a duplicate: its result once the first copy has an id
        fresh[item.sha256] = (n, item)
    written = _write_files(db, storage, project.id, fresh, results)
    images = _insert(db, storage, project, batch, written)
    if images is None:  # a parallel upload of the same bytes: settle it image by image
        for n, item in written:
            results[n] = store_prepared(db, storage=storage, project=project, batch=batch, prepared=item,
                                        files_written=True)
    else:
        for (n, item), image in zip(written, images, strict=True):
            results[n] = IngestResult(item.file_name, IngestStatus.stored, image)
    stored = {r.image.sha256: r.image for r in results if r is not None and r.image is not None}
    for n, item in enumerate(items):
        if results[n] is not None:
            continue
        first = existing.get(item.sha256) or stored.get(item.sha256)
        if first is None:  # its first copy in this batch was refused: so is this one, for the same reason
            refusal = results[fresh[item.sha256][0]]
            assert refusal is not None
            results[n] = IngestResult(item.file_name, IngestStatus.refused, reason=refusal.reason,
                                      status_code=refusal.status_code)
        else:
            results[n] = IngestResult(item.file_name, IngestStatus.duplicate, first,
                                      reason=f"the same image is already in the project (image {first.id})")
    return [r for r in results if r is not None]


def _write_files(db: Session, storage: Storage, project_id: int, fresh: dict[str, tuple[int, Prepared]],
                 results: list[IngestResult | None]) -> list[tuple[int, Prepared]]:
    """Write each new image's original and thumbnail; a refusal is recorded in `results`."""
    written = []
    for n, item in fresh.values():
        key, thumb_key = storage_keys(project_id, item.sha256, item.format)
        try:
            storage.put_file(key, item.source)
            storage.put_bytes(thumb_key, item.thumbnail)
        except (OSError, StorageUnavailable) as exc:
            discard_unreferenced(db, storage, [key, thumb_key])
            why = exc.message if isinstance(exc, StorageUnavailable) else exc.strerror or str(exc)
            results[n] = IngestResult(item.file_name, IngestStatus.refused, reason=f"could not be stored ({why})",
                                      status_code=507 if isinstance(exc, OSError) else 503)
            continue
        written.append((n, item))
    if written:
        fault_point("upload.file_written")
    return written


def _insert(db: Session, storage: Storage, project: Project, batch: UploadBatch | None,
            written: list[tuple[int, Prepared]]) -> list[Image] | None:
    """The rows of the written images, inserted together; None (nothing inserted) when one of them
    collides with a parallel upload. Any other failure removes the written files and raises."""
    if not written:
        return []
    keys = [storage_keys(project.id, item.sha256, item.format) for _, item in written]
    rows = [{"project_id": project.id, "batch_id": batch.id if batch else None, "sha256": item.sha256,
             "file_name": item.file_name, "format": item.format, "width": item.width, "height": item.height,
             "size_bytes": item.size, "storage_key": key, "thumbnail_key": thumb_key, "meta": item.meta,
             "phash": item.signature, "labels_wanted": 0, "slots_taken": 0, "priority": 0, "created_at": utcnow()}
            for (_, item), (key, thumb_key) in zip(written, keys, strict=True)]
    savepoint = db.begin_nested()
    try:
        # one INSERT for the batch (insertmanyvalues; asking for the parameters' order would make
        # SQLite insert row by row), then the rows, matched back by their content hash
        ids = dict(db.execute(insert(Image).returning(Image.sha256, Image.id), rows).all())
        loaded = {i.sha256: i for i in db.scalars(select(Image).where(Image.id.in_(list(ids.values()))))}
        images = [loaded[item.sha256] for _, item in written]
        wanted = [overlap.initial_labels_wanted(project, image) for image in images]  # a draw on the id
        db.execute(update(Image), [{"id": i.id, "labels_wanted": w} for i, w in zip(images, wanted, strict=True)])
        for image, count in zip(images, wanted, strict=True):
            set_committed_value(image, "labels_wanted", count)
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        return None
    except BaseException:
        savepoint.rollback()
        discard_unreferenced(db, storage, [k for pair in keys for k in pair])
        raise
    return images
