"""Exports and freezes as background jobs: the plain functions job kinds call, and how pages and
the API start them.

Both follow the jobs contract (app/jobs/registry.py): they never commit, `progress` may commit, and
they are safe to re-run. `export_job`: progress commits between pages (the version is immutable) and
the bytes are deterministic; an export already stored is returned at once. `freeze_job`: progress is
only called while nothing is written yet, so the version commits with the job's completion, under
its lease, or not at all; a run that finds the version its own request already made returns it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.storage import Storage
from app.datasets.models import DatasetExport, DatasetVersion
from app.datasets.runner import ProgressFile, progress_key, run_export
from app.datasets.schemas import ExportFormat, ExportOptions, ExportOut, ExportStatus, FreezeIn, FreezeQueued
from app.jobs.models import Job
from app.projects.models import Project

JOB_KIND = "datasets.export"
FREEZE_JOB_KIND = "datasets.freeze"
RACE_TRIES = 3  # a freeze that raced another freeze of the project is tried again this often


def download_url(version: DatasetVersion, export: DatasetExport, *, api: bool = False) -> str:
    images = "1" if export.include_images else "0"
    return (f"{'/api/v1' if api else ''}/projects/{version.project_id}/datasets/{version.id}/exports/"
            f"{export.format}/download?include_images={images}")


def export_job(db: Session, *, storage: Storage, project_id: int, version_id: int, format: str,
               include_images: bool, user_id: int | None = None, options: dict[str, Any] | None = None,
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
                        release=db.commit, options=ExportOptions.model_validate(options or {}))
    return {"export_id": export.id, "sha256": export.sha256, "size_bytes": export.size_bytes,
            "url": download_url(version, export)}


def job_available(kind: str = JOB_KIND) -> bool:
    """Whether the job kind is registered (a deployment without it does the work in the request)."""
    from app.jobs.registry import load_kinds

    return kind in load_kinds()


def enqueue_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                   include_images: bool, user: User, options: ExportOptions | None = None) -> int:
    """Queue the export as a job (runs after the caller commits); returns the job id."""
    from app.jobs import service as jobs

    job = jobs.enqueue(db, kind=JOB_KIND, project_id=version.project_id, created_by=user,
                       payload={"project_id": version.project_id, "version_id": version.id, "format": fmt.value,
                                "include_images": include_images,
                                "options": (options or ExportOptions()).model_dump(mode="json")})
    ProgressFile(storage, progress_key(version, fmt, include_images)).finish("queued", message=f"job {job.id}")
    return job.id


def start_export(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                 include_images: bool, user: User, wait: bool, options: ExportOptions | None = None,
                 release: Callable[[], None] | None = None) -> DatasetExport | int:
    """The export if it is stored with these options or made now (`wait`, or no job runner), else the
    id of the queued job."""
    from app.datasets.exporting import find_export, is_current

    options = options or ExportOptions()
    existing = find_export(db, version, fmt, include_images)
    if is_current(existing, storage, options.stored(fmt)):
        assert existing is not None
        return existing
    if not wait and job_available():
        return enqueue_export(db, storage=storage, version=version, fmt=fmt, include_images=include_images, user=user,
                              options=options)
    return run_export(db, storage=storage, version=version, fmt=fmt, include_images=include_images, user_id=user.id,
                      release=release, options=options)


def export_status(db: Session, *, storage: Storage, version: DatasetVersion, fmt: ExportFormat,
                  include_images: bool, api: bool = False) -> ExportStatus:
    from app.datasets.exporting import find_export, is_current
    from app.datasets.runner import read_progress

    existing = find_export(db, version, fmt, include_images)
    if is_current(existing, storage):
        assert existing is not None
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


def version_url(version: DatasetVersion) -> str:
    return f"/projects/{version.project_id}/datasets/{version.id}"


def freeze_job(db: Session, *, project_id: int, spec: dict[str, Any], user_id: int | None, requested_at: str,
               progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Freeze, or find the version this request already made (a duplicated job); returns
    {"version_id", "number", "content_hash", "items", "url"}. Raises NotFound for a deleted project,
    and what freeze_version raises (a refusal fails the job for good)."""
    from app.auth.models import User
    from app.core.errors import NotFound
    from app.datasets.freeze import FreezeRace, freeze_version

    project = db.get(Project, project_id)
    if project is None:
        raise NotFound("the project is gone")
    wanted = FreezeIn.model_validate(spec)
    user = db.get(User, user_id) if user_id is not None else None
    for attempt in range(1, RACE_TRIES + 1):
        version = _made_for(db, project_id, wanted, user_id, datetime.fromisoformat(requested_at))
        if version is None:
            try:
                version = freeze_version(db, project=project, spec=wanted, user=user, progress=progress)
            except FreezeRace:
                if attempt == RACE_TRIES:
                    raise
                continue
        return {"version_id": version.id, "number": version.number, "content_hash": version.content_hash,
                "items": version.counts.get("items", 0), "url": version_url(version)}
    raise AssertionError("unreachable")


def _made_for(db: Session, project_id: int, spec: FreezeIn, user_id: int | None,
              requested_at: datetime) -> DatasetVersion | None:
    """The version of the spec's name if the same request made it: same author and spec, frozen after
    the request was made. (Another version of that name is left to freeze_version to refuse.)"""
    found = db.scalar(select(DatasetVersion).where(DatasetVersion.project_id == project_id,
                                                   DatasetVersion.name == spec.name))
    if found is None or found.created_by_id != user_id or found.created_at < requested_at:
        return None
    same = (found.description == spec.description and found.filter == spec.filter.model_dump(mode="json")
            and found.split_spec == spec.split.model_dump(mode="json"))
    return found if same else None


def start_freeze(db: Session, *, project: Project, spec: FreezeIn, user: User, inline_max: int) -> DatasetVersion | Job:
    """The version frozen now (`spec.wait`, no job runner, or at most `inline_max` decided labels), else
    the queued job. Everything that can be refused up front (foreign classes, a taken name, a freeze of
    that name already queued with other settings) is refused here, before anything is queued; the same
    freeze queued twice (a double submit) gives the job already queued."""
    from app.core.db import utcnow
    from app.core.errors import Conflict
    from app.datasets.freeze import check_freeze, decided_labels, freeze_version
    from app.jobs import service as jobs

    check_freeze(db, project=project, spec=spec)
    if spec.wait or not job_available(FREEZE_JOB_KIND) or decided_labels(db, project.id) <= inline_max:
        return freeze_version(db, project=project, spec=spec, user=user)
    payload_spec = spec.model_dump(mode="json")
    for pending in jobs.pending_jobs(db, project_id=project.id, kind=FREEZE_JOB_KIND):
        queued = pending.payload.get("spec", {})
        if queued.get("name") == spec.name:
            if queued == payload_spec and pending.created_by_id == user.id:
                return pending
            raise Conflict(f"a version named {spec.name!r} is being frozen already", field="name")
    return jobs.enqueue(db, kind=FREEZE_JOB_KIND, project_id=project.id, created_by=user,
                        payload={"spec": payload_spec, "requested_at": utcnow().isoformat()})


def freeze_queued(job: Job) -> FreezeQueued:
    from app.jobs.service import job_view

    view = job_view(job)
    return FreezeQueued(state=view.state, job_id=view.id, status_url=view.status_url, page_url=view.page_url)
