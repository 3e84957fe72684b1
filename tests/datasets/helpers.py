"""Shared by the export tests: freeze a scene, export a version, read the archive back."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets import service
from app.datasets.models import DatasetExport, DatasetItem, DatasetVersion
from app.datasets.runner import run_export
from app.datasets.schemas import ExportFormat, ExportOptions, FreezeIn
from app.images.models import Image


def freeze(db: Session, scene: Any, name: str = "v1", **filter_args: Any) -> DatasetVersion:
    return service.freeze_version(db, project=scene.project, spec=FreezeIn(name=name, filter=filter_args),
                                  user=scene.admin)


def export(db: Session, storage: Any, version: DatasetVersion, fmt: str, *, images: bool = False,
           tmp_dir: Path | None = None, **options: Any) -> DatasetExport:
    return run_export(db, storage=storage, version=version, fmt=ExportFormat(fmt), include_images=images,
                      user_id=None, tmp_dir=tmp_dir, options=ExportOptions(**options))


def archive(storage: Any, made: DatasetExport) -> zipfile.ZipFile:
    with storage.open(made.storage_key) as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def truth(db: Session, version: DatasetVersion) -> dict[int, tuple[DatasetItem, Image]]:
    """The database's view of the version: image id -> (item, image)."""
    rows = db.execute(select(DatasetItem, Image).join(Image, Image.id == DatasetItem.image_id)
                      .where(DatasetItem.version_id == version.id)).all()
    return {item.image_id: (item, image) for item, image in rows}


def names(version: DatasetVersion) -> dict[int, str]:
    return {c["id"]: c["name"] for c in version.datasheet["classes"]}


def manifest(zf: zipfile.ZipFile) -> dict[int, dict[str, str]]:
    """images.csv of an archive: image id -> its row (path in the archive, file_name as uploaded, ...)."""
    return {int(r["image_id"]): r for r in csv.DictReader(io.StringIO(zf.read("images.csv").decode()))}


def stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
