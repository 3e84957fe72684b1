"""One upload (page, API) or import (CLI): many files, each stored, reported as a duplicate, or
refused with its reason, while the good files of the batch go in.

Two steps, so that no database transaction is open while pixels are decoded (on SQLite every
transaction holds the write lock): `prepared_files` stages, verifies and thumbnails every file
without touching the database; `store_files` then writes them and their rows quickly. The caller
commits, and calls `discard_written` if that commit fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.config import Settings
from app.core.errors import ConcordError, Invalid
from app.core.storage import Storage
from app.images import batch_store, ingest, service
from app.images.ingest import Prepared, Refusal
from app.images.models import UploadBatch
from app.images.service import IngestResult, IngestStatus
from app.projects.models import Project

MAX_META_KEYS = 50
MAX_META_TEXT = 200
# Decoding is what an upload costs in memory (its body streams to disk): 4 bytes a pixel, 240 MB for an
# image at the default pixel limit. Requests run in a pool of 40 threads, so without a bound 20 uploads
# at once decode 20 images at once; decoding is CPU-bound, so more decodes than cores would not end
# sooner anyway. Every decode of the process runs in this one pool of DECODE_SLOT_COUNT threads:
# memory grows with its size, not with the uploads in flight (reliability #48), and one upload's files
# are decoded on every core at once (Pillow and numpy release the GIL while they work) while the
# request goes on staging the next ones.
DECODE_SLOT_COUNT = min(4, max(2, os.cpu_count() or 2))
_decoders = ThreadPoolExecutor(max_workers=DECODE_SLOT_COUNT, thread_name_prefix="decode")


@dataclass
class UploadReport:
    batch: UploadBatch | None  # None: every file was refused and no batch was given (nothing is stored)
    results: list[IngestResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in IngestStatus}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    def status_code(self) -> int:
        """200 when anything was stored or recognised; else the refusals' common status (or 422)."""
        refusals = {r.status_code for r in self.results if r.status == IngestStatus.refused}
        if not self.results or len(refusals) == 0 or any(r.status != IngestStatus.refused for r in self.results):
            return 200
        only = refusals.pop() if len(refusals) == 1 else None
        return only or 422

    def as_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch.id if self.batch else None,
            "counts": self.counts(),
            "results": [r.as_json() for r in self.results],
        }


@contextmanager
def prepared_files(
    files: Sequence[tuple[str | None, BinaryIO]], *, settings: Settings, meta: dict[str, Any] | None = None
) -> Iterator[list[Prepared | Refusal]]:
    """Stage and verify each (name, stream); yields one Prepared or Refusal per file, in order.
    The staged copies are removed when the block ends."""
    limits = service.limits_of(settings)
    pending: list[Future[Prepared] | Refusal] = []
    with _cleanup() as staged_paths:
        try:
            for name, stream in files:
                try:
                    path, sha256, size = ingest.stage(stream, tmp_dir=settings.data_dir / "tmp",
                                                      max_bytes=limits.max_bytes)
                except ConcordError as exc:
                    pending.append(Refusal(ingest.display_name(name), exc.status_code, exc.message))
                    continue
                staged_paths.append(path)
                pending.append(_decoders.submit(ingest.prepare, path, file_name=name or "", limits=limits,
                                                sha256=sha256, size=size, meta=meta))
            yield [_outcome(item, name) for item, (name, _) in zip(pending, files, strict=True)]
        finally:
            for item in pending:  # never remove a staged file a decoder still reads
                if isinstance(item, Future):
                    item.cancel() or item.exception()


def _outcome(item: Future[Prepared] | Refusal, name: str | None) -> Prepared | Refusal:
    if isinstance(item, Refusal):
        return item
    try:
        return item.result()
    except ConcordError as exc:
        return Refusal(ingest.display_name(name), exc.status_code, exc.message)


@contextmanager
def _cleanup() -> Iterator[list[Path]]:
    paths: list[Path] = []
    try:
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def store_files(
    db: Session,
    *,
    storage: Storage,
    settings: Settings,
    project: Project,
    user: User | None,
    items: Sequence[Prepared | Refusal],
    batch: UploadBatch | None = None,
    batch_name: str = "",
    source: str = "upload",
) -> UploadReport:
    """Write the prepared files and their rows (never commits). Raises TooLarge over the quota
    before anything is written."""
    service.check_quota(
        db, project=project, settings=settings, incoming=sum(1 for item in items if isinstance(item, Prepared))
    )
    started = batch is None and any(isinstance(item, Prepared) for item in items)  # all refused: no row at all
    if started:
        batch = service.start_batch(
            db, project=project, name=batch_name or f"{source} of {len(items)} files", source=source, creator=user
        )
    report = UploadReport(batch=batch)
    good = [item for item in items if isinstance(item, Prepared)]
    stored = iter(batch_store.store_many(db, storage=storage, project=project, batch=batch, items=good))
    report.results = [service.refused(item) if isinstance(item, Refusal) else next(stored) for item in items]
    if started and batch is not None and all(r.status == IngestStatus.refused for r in report.results):
        db.delete(batch)  # every prepared file failed to store (a full disk, storage down): no row either
        db.flush()
        report.batch = batch = None
    if batch is not None:
        service.record_batch_stats(batch, report.results)
    if any(r.status == IngestStatus.stored for r in report.results):
        service.images_added(db, project_id=project.id)
    return report


def discard_written(db: Session, storage: Storage, report: UploadReport | None) -> None:
    """After a failed commit: remove the files this report wrote that no committed row uses."""
    if report is not None:
        db.rollback()
        service.discard_unreferenced(db, storage, service.keys_of(report.results))


def parse_meta(text: str | None) -> dict[str, Any]:
    """Metadata for every file of an upload, as a JSON object of short scalar values."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise Invalid('meta must be a JSON object, e.g. {"line": "L1"}', field="meta") from None
    if not isinstance(value, dict) or len(value) > MAX_META_KEYS:
        raise Invalid(f"meta must be a JSON object of at most {MAX_META_KEYS} keys", field="meta")
    return clean_meta(value, field="meta")


def clean_meta(value: dict[Any, Any], *, field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        key = str(key).strip()[:MAX_META_TEXT]
        if not key:
            continue
        if item is not None and not isinstance(item, str | int | float | bool):
            raise Invalid(f"metadata value of {key!r} must be text or a number", field=f"{field}.{key}")
        out[key] = item.strip()[:MAX_META_TEXT] if isinstance(item, str) else item
    return out
