"""Dataset versions: what pages, the API, the CLI and jobs call. Every lookup is scoped to a project.

Services never commit; the caller owns the transaction.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Invalid, NotFound
from app.core.paging import page_after
from app.core.storage import Storage
from app.datasets.diff import VersionDiff, diff_versions
from app.datasets.exporting import export_version, find_export, is_current
from app.datasets.freeze import freeze_version
from app.datasets.models import DatasetExport, DatasetItem, DatasetVersion
from app.datasets.schemas import ExportFormat

__all__ = [
    "diff",
    "export_version",
    "find_version",
    "freeze_version",
    "get_export",
    "get_version",
    "items_page",
    "list_exports",
    "list_versions",
]

MAX_PAGE = 1000


def list_versions(db: Session, project_id: int) -> Sequence[DatasetVersion]:
    return db.scalars(select(DatasetVersion).where(DatasetVersion.project_id == project_id)
                      .order_by(DatasetVersion.number.desc())).all()


def get_version(db: Session, project_id: int, version_id: int) -> DatasetVersion:
    """Raises NotFound for an unknown id or another project's version."""
    version = db.get(DatasetVersion, version_id)
    if version is None or version.project_id != project_id:
        raise NotFound("dataset version not found")
    return version


def find_version(db: Session, project_id: int, ref: str) -> DatasetVersion:
    """A version by number (`3`, `v3`) or by name."""
    number = ref[1:] if ref[:1] in {"v", "V"} and ref[1:].isdigit() else ref
    query = select(DatasetVersion).where(DatasetVersion.project_id == project_id)
    found = db.scalar(query.where(DatasetVersion.number == int(number))) if number.isdigit() else None
    found = found or db.scalar(query.where(DatasetVersion.name == ref))
    if found is None:
        raise NotFound(f"no dataset version {ref!r} in this project")
    return found


def diff(db: Session, project_id: int, *, before_id: int, after_id: int) -> VersionDiff:
    before, after = get_version(db, project_id, before_id), get_version(db, project_id, after_id)
    if before.id == after.id:
        raise Invalid("choose two different versions", field="b")
    return diff_versions(db, before=before, after=after)


def list_exports(db: Session, version: DatasetVersion) -> Sequence[DatasetExport]:
    return db.scalars(select(DatasetExport).where(DatasetExport.version_id == version.id)
                      .order_by(DatasetExport.format, DatasetExport.include_images)).all()


def get_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
               include_images: bool) -> DatasetExport:
    """The stored export; NotFound when it was never made or its file is gone (make it again)."""
    found = find_export(db, version, fmt, include_images)
    if found is None or not is_current(found, storage):
        raise NotFound("this export has not been made yet")
    return found


def items_page(db: Session, version: DatasetVersion, *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """Items in image id order after `after` (keyset paging for scripts)."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1 to {MAX_PAGE}", field="limit")
    rows = db.scalars(page_after(select(DatasetItem).where(DatasetItem.version_id == version.id),
                                 DatasetItem.image_id, after, limit)).all()
    names = {c["id"]: c["name"] for c in version.datasheet.get("classes", [])}
    return [{"image_id": r.image_id, "class_id": r.label_class_id, "class": names.get(r.label_class_id),
             "boxes": r.boxes, "split": r.split, "source": r.source, "confidence": r.confidence} for r in rows]
