"""Exports as background jobs: the plain function a job kind calls, and how pages start one.

`export_job` follows the jobs contract (app/jobs/registry.py): it never commits, `progress` may
commit (the version is immutable, so that is safe between pages), and it is safe to re-run (the
bytes are deterministic; an export already stored is returned at once).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.storage import Storage
from app.datasets.models import DatasetExport, DatasetVersion
from app.datasets.runner import ProgressFile, progress_key, run_export
from app.datasets.schemas import ExportFormat, ExportOut, ExportStatus

JOB_KIND = "datasets.export"


def download_url(version: DatasetVersion, export: DatasetExport, *, api: bool = False) -> str:
    images = "1" if export.include_images else "0"
    return (f"{'/api/v1' if api else ''}/projects/{version.project_id}/datasets/{version.id}/exports/"
            f"{export.format}/download?include_images={images}")


def export_job(db: Session, *, storage: Storage, project_id: int, version_id: int, format: str,
               include_images: bool, user_id: int | None = None,
               progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Make (or find) the export; returns {"export_id", "sha256", "size_bytes", "url"}."""
    from app.datasets.service import get_version

    version = get_version(db, project_id, version_id)

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(done / total if total else 0.0, f"{done:,} of {total:,} item reads")

    # release: the job's reads so far end before the long export read (on SQLite a transaction holds
    # the write lock); the job writes nothing until the export is made
    export = run_export(db, storage=storage, version=version, fmt=ExportFormat(format),
                        include_images=include_images, user_id=user_id, on_progress=report, exclusive=False,
                        release=db.commit)
    return {"export_id": export.id, "sha256": export.sha256, "size_bytes": export.size_bytes,
            "url": download_url(version, export)}


def job_available() -> bool:
    """Whether the job kind is registered (a deployment without it makes exports in the request)."""
    from app.jobs.registry import load_kinds

    return JOB_KIND in load_kinds()


def enqueue_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                   include_images: bool, user: User) -> int:
    """Queue the export as a job (runs after the caller commits); returns the job id."""
    from app.jobs import service as jobs

    job = jobs.enqueue(db, kind=JOB_KIND, project_id=version.project_id, created_by=user,
                       payload={"project_id": version.project_id, "version_id": version.id, "format": fmt.value,
                                "include_images": include_images})
    ProgressFile(storage, progress_key(version, fmt, include_images)).finish("queued", message=f"job {job.id}")
    return job.id


def start_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                 include_images: bool, user: User, wait: bool,
                 release: Callable[[], None] | None = None) -> DatasetExport | int:
    """The export if it is stored or made now (`wait`, or no job runner), else the id of the queued job."""
    from app.datasets.exporting import find_export

    existing = find_export(db, version, fmt, include_images)
    if existing is not None and storage.exists(existing.storage_key):
        return existing
    if not wait and job_available():
        return enqueue_export(db, storage=storage, version=version, fmt=fmt, include_images=include_images, user=user)
    return run_export(db, storage=storage, version=version, fmt=fmt, include_images=include_images, user_id=user.id,
                      release=release)


def export_status(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                  include_images: bool, api: bool = False) -> ExportStatus:
    from app.datasets.exporting import find_export
    from app.datasets.runner import read_progress

    existing = find_export(db, version, fmt, include_images)
    if existing is not None and storage.exists(existing.storage_key):
        return ExportStatus(state="done", done=1, total=1, export=export_out(version, existing, api=api))
    progress = read_progress(storage, progress_key(version, fmt, include_images))
    if progress is None or progress["state"] == "done":
        return ExportStatus(state="none")
    return ExportStatus(state=progress["state"], done=progress.get("done", 0), total=progress.get("total", 0),
                        message=progress.get("message", ""))


def export_out(version: DatasetVersion, export: DatasetExport, *, api: bool = False) -> ExportOut:
    out = ExportOut.model_validate(export)
    out.download_url = download_url(version, export, api=api)
    return out
