"""Which columns hold storage keys. A table that starts keeping files adds its column here, so
fsck and deferred deletes know the file is in use."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.datasets.models import DatasetExport
from app.images.models import Image
from app.modeling.models import ModelRun

STORAGE_COLUMNS: list[tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]] = [
    # (primary key, key column)
    (Image.id, Image.storage_key),
    (Image.id, Image.thumbnail_key),
    (DatasetExport.id, DatasetExport.storage_key),
    (ModelRun.id, ModelRun.artifact_key),
    (ModelRun.id, ModelRun.backbone_key),
]
BATCH = 500
# Bookkeeping files kept beside real ones (an export's progress), never referenced by a row: fsck
# leaves them alone rather than calling them orphans.
SIDECAR_SUFFIXES = (".progress.json",)
# Files a person uploaded that no row names until they are used (an admin's ONNX backbone before its
# first run): never orphans, they are the person's to delete.
UPLOADED = re.compile(r"models/\d+/backbones/[0-9a-f]{64}\.onnx")


def referenced(db: Session, keys: Iterable[str]) -> set[str]:
    """The subset of `keys` that some row still references (sidecar files count as referenced)."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = {key for key in wanted if key.endswith(SIDECAR_SUFFIXES) or UPLOADED.fullmatch(key)}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start:start + BATCH]
        for _pk, column in STORAGE_COLUMNS:
            found.update(db.scalars(select(column).where(column.in_(chunk)).distinct()))
    return found


def all_references(db: Session, *, batch: int = BATCH) -> Iterator[tuple[str, str, int]]:
    """(key, "table.column", row id) for every row that references a file, streamed by id."""
    for pk, column in STORAGE_COLUMNS:
        where = f"{column.class_.__tablename__}.{column.key}"
        last = 0
        while True:
            rows = db.execute(
                select(pk, column).where(pk > last, column.is_not(None)).order_by(pk).limit(batch)
            ).all()
            for row_id, key in rows:
                yield key, where, row_id
            if len(rows) < batch:
                break
            last = rows[-1][0]
