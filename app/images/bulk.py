"""Many files from disk (CLI imports): verified in worker processes, written to storage by the caller's
process, so the database transaction that follows holds only rows (no pixel work, no file copies)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.storage import Storage
from app.images import ingest
from app.images.ingest import Prepared, Refusal
from app.images.service import storage_keys
from app.images.validation import Limits


@dataclass(frozen=True)
class Source:
    path: Path
    file_name: str
    meta: dict[str, Any] = field(default_factory=dict)


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


def _prepare(job: tuple[Source, Limits]) -> Prepared | Refusal:
    source, limits = job
    return ingest.prepare_or_refuse(source.path, file_name=source.file_name, limits=limits, meta=source.meta)


def prepare_many(sources: Iterable[Source], *, limits: Limits, workers: int = 1) -> Iterator[Prepared | Refusal]:
    """Prepare each source, in order; `workers` > 1 decodes in that many processes."""
    jobs = ((source, limits) for source in sources)
    if workers <= 1:
        yield from map(_prepare, jobs)
        return
    with _pool(workers) as pool:
        yield from pool.map(_prepare, jobs, chunksize=4)


def _pool(workers: int) -> Executor:
    # fork: workers start at once and only ever run Pillow (never the parent's database connections).
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def write_files(storage: Storage, *, project_id: int, prepared: Prepared) -> Prepared:
    """Write the original and the thumbnail under their content keys; the thumbnail bytes are then
    dropped from what is kept in memory. Raises OSError / StorageUnavailable (nothing to undo: the
    keys are content addresses that no row names yet)."""
    key, thumb_key = storage_keys(project_id, prepared.sha256, prepared.format)
    storage.put_file(key, prepared.source)
    storage.put_bytes(thumb_key, prepared.thumbnail)
    return replace(prepared, thumbnail=b"")
