"""Exporting a version: a deterministic zip streamed to a temporary file, then stored atomically.

Memory stays flat: items are read page by page and written entry by entry (label files as they
are produced, images copied in chunks). The archive only reaches storage, under a key carrying
its SHA-256, once complete; the DatasetExport row that makes it visible is added after that. A
crash at any point leaves at most a temporary file, never something that looks like an export.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.db import read_only_session
from app.core.errors import Conflict
from app.core.storage import Storage
from app.datasets import datasheet
from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem, Progress, frozen_classes
from app.datasets.formats import FORMATS
from app.datasets.formats._cells import CsvRows, cell
from app.datasets.models import DatasetExport, DatasetVersion
from app.datasets.names import NameBook
from app.datasets.schemas import WRITER_VERSION, ExportFormat, ExportOptions
from app.projects.models import Project

CHUNK = 1024 * 1024


def export_key(version: DatasetVersion, fmt: ExportFormat, include_images: bool, sha256: str = "") -> str:
    """Where an export is stored (with its SHA-256) or its progress is kept (without)."""
    # The content hash in the folder keeps files of a deleted version (whose id a database may reuse)
    # from ever passing for this one's.
    folder = f"exports/{version.project_id}/{version.id}-{version.content_hash[:12]}"
    base = f"{folder}/{fmt.value}{'-images' if include_images else ''}"
    return f"{base}-{sha256[:16]}.zip" if sha256 else base


def find_export(db: Session, version: DatasetVersion, fmt: ExportFormat, include_images: bool) -> DatasetExport | None:
    """The export row of this version, format and images choice, whatever its options (one at a time)."""
    return db.scalar(select(DatasetExport).where(DatasetExport.version_id == version.id,
                                                 DatasetExport.format == fmt.value,
                                                 DatasetExport.include_images.is_(include_images)))


def is_current(export: DatasetExport | None, storage: Storage, options: dict[str, Any] | None = None) -> bool:
    """Whether `export` is complete in storage, made by this writer, and (when given) with these options."""
    if export is None or (export.options or {}).get("writer") != WRITER_VERSION:
        return False
    return (options is None or export.options == options) and storage.exists(export.storage_key)


def export_version(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                   include_images: bool, user_id: int | None, progress: Progress | None = None,
                   tmp_dir: Path | None = None, options: ExportOptions | None = None) -> DatasetExport:
    """The stored export of `version` in `fmt` with `options`, made now unless a complete one is stored.

    `progress(done, total)` is called every thousand items; the caller may end its read transaction
    there (the version is immutable). Raises Conflict when an included image is missing or altered.
    A new export of the same format and images choice replaces the row of one made with other
    options (its file is deleted after the caller commits).
    """
    stored = (options or ExportOptions()).stored(fmt)
    existing = find_export(db, version, fmt, include_images)
    if is_current(existing, storage, stored):
        assert existing is not None
        return existing
    project = db.get(Project, version.project_id)
    assert project is not None
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".zip.part", dir=tmp_dir)
    tmp = Path(tmp_name)
    try:
        # The items stream through a reader of their own: on SQLite, `db` would hold the write lock
        # (and every labeler's submit) for the whole export.
        with (read_only_session(db) as reader, os.fdopen(fd, "w+b") as handle,
              NameBook(tmp_dir) as names):
            ctx = ExportContext(db=reader, version=version, project_name=project.name, include_images=include_images,
                                classes=frozen_classes(version), progress=progress, options=stored)
            ctx.total = (FORMATS[fmt].PASSES + 2 + (1 if include_images else 0)) * ctx.items_count
            if progress is not None:
                progress(0, ctx.total)  # lets the caller end its transaction before the long read
            ctx.build_names(names)
            _write_archive(ctx, storage, fmt, handle)
        sha256, size = _digest(tmp)
        key = export_key(version, fmt, include_images, sha256)
        storage.put_file(key, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    if progress is not None:
        progress(ctx.total, ctx.total)
    return _record(db, existing, version=version, fmt=fmt, include_images=include_images, key=key, sha256=sha256,
                   size=size, user_id=user_id, options=stored)


def _record(db: Session, existing: DatasetExport | None, *, version: DatasetVersion, fmt: ExportFormat,
            include_images: bool, key: str, sha256: str, size: int, user_id: int | None,
            options: dict[str, Any]) -> DatasetExport:
    from app.files.service import delete_files_later

    row = existing or DatasetExport(version_id=version.id, format=fmt.value, include_images=include_images)
    replaced = existing.storage_key if existing is not None and existing.storage_key != key else None
    row.storage_key, row.sha256, row.size_bytes, row.created_by_id = key, sha256, size, user_id
    row.options = options
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        # Someone else stored the same export meanwhile: the bytes are the same (deterministic).
        row = find_export(db, version, fmt, include_images)  # type: ignore[assignment]
        assert row is not None
        return row
    if replaced is not None:
        delete_files_later(db, keys=[replaced], project_id=version.project_id)
    audit.record(db, action="dataset.exported", actor_id=user_id, project_id=version.project_id,
                 object_type="dataset_version", object_id=version.id,
                 data={"format": fmt.value, "include_images": include_images, "sha256": sha256, "options": options})
    db.flush()
    return row


def _write_archive(ctx: ExportContext, storage: Storage, fmt: ExportFormat, handle: BinaryIO) -> None:
    module = FORMATS[fmt]
    out = Archive(handle)
    try:
        out.add_text("datasheet.json", datasheet.to_json(ctx.version, ctx.project_name))
        out.add_text("datasheet.md", datasheet.to_markdown(ctx.version, ctx.project_name))
        out.add_text("README.txt", _readme(ctx, fmt))
        _manifest(ctx, out, module)
        module.write(ctx, out)
        if ctx.include_images:
            for item in ctx.items(boxes=False):
                name = module.image_name(ctx, item)
                if name is not None:
                    _copy_image(storage, item, out, name)
    except BaseException:
        out.abort()
        raise
    out.close()


def _manifest(ctx: ExportContext, out: Archive, module: Any) -> None:
    """`images.csv`: every image of the version, where it is (or would be) in the archive, its hash, and
    the Concord route that serves it."""
    with out.text("images.csv", large=ctx.large) as f:
        rows = CsvRows(f)
        rows.row(["image_id", "path", "split", "class", "sha256", "width", "height", "file_name", "url"])
        for item in ctx.items(boxes=False):
            rows.row([item.image_id, module.image_name(ctx, item) or "", item.split,
                      cell(ctx.class_name(item.class_id)), item.sha256, item.width, item.height, cell(item.file_name),
                      f"/projects/{ctx.version.project_id}/images/{item.image_id}/file"])
        rows.flush()


def _copy_image(storage: Storage, item: ExportItem, out: Archive, name: str) -> None:
    digest = hashlib.sha256()
    try:
        source = storage.open(item.storage_key)
    except FileNotFoundError as exc:
        raise Conflict(f"image {item.image_id} is missing from storage; the export was not made") from exc
    with source, out.binary(name) as target:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            target.write(chunk)
    if digest.hexdigest() != item.sha256:
        raise Conflict(f"image {item.image_id} in storage does not match its recorded SHA-256; the export was not made")


def _digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


def _readme(ctx: ExportContext, fmt: ExportFormat) -> str:
    module = FORMATS[fmt]
    version = ctx.version
    where = ("Images are included at the paths named in images.csv." if ctx.include_images else
             "Images are not included: images.csv gives each one's Concord id and SHA-256, and the path it "
             "would have here; fetch them from Concord by id and check them by hash.")
    return (f"Concord dataset export\n\nProject: {' '.join(ctx.project_name.split())}\n"
            f"Version: {version.number} ({' '.join(version.name.split())})\nContent hash: {version.content_hash}\n"
            f"Format: {fmt.value}\n\n{(module.__doc__ or '').strip()}\n\n{where}\n"
            "datasheet.md and datasheet.json describe the data (Datasheets for Datasets).\n")


def copy_to(storage: Storage, export: DatasetExport, target: Path) -> None:
    """Copy a stored export to a local path, atomically (the CLI's --out)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with storage.open(export.storage_key) as source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
