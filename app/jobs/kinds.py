"""Every job kind of the product: each adapts a job's payload to a domain's plain service function.

Domain services are imported inside the adapters, so a worker loads a domain only when it runs one
of its jobs (and this module imports nothing that imports it back).
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core import audit
from app.core.db import utcnow
from app.jobs.models import Job
from app.jobs.registry import JobContext, job_kind


@job_kind("files.delete", title="Deleting files", max_attempts=8)
def delete_files(ctx: JobContext) -> dict[str, Any]:
    from app.files.service import delete_unreferenced

    report = delete_unreferenced(ctx.db, storage=ctx.storage, keys=list(ctx.payload["keys"]),
                                 requested_at=datetime.fromisoformat(ctx.payload["requested_at"]),
                                 progress=ctx.progress)
    return {"deleted": len(report.deleted), "kept": len(report.kept)}


@job_kind("diagnostics.sleep", title="Checking the workers", max_attempts=3)
def diagnostics_sleep(ctx: JobContext) -> dict[str, Any]:
    """Sleeps `seconds` in `steps` checkpoints, then leaves one audit row (action "jobs.diagnostic")
    carrying the payload's `token`: `concord jobs selftest` and the scale tests count those rows to
    prove each job's work commits exactly once."""
    steps = max(int(ctx.payload.get("steps", 10)), 1)
    seconds = min(float(ctx.payload.get("seconds", 1.0)), 600.0)
    for step in range(steps):
        time.sleep(seconds / steps)
        ctx.progress((step + 1) / steps * 0.99, f"step {step + 1} of {steps}")
    audit.record(ctx.db, action="jobs.diagnostic", project_id=ctx.project_id, object_type="job",
                 object_id=ctx.job_id, data={"token": ctx.payload.get("token"), "steps": steps})
    return {"steps": steps, "token": ctx.payload.get("token")}


@job_kind("datasets.export", title="Exporting a dataset version", max_attempts=3)
def dataset_export(ctx: JobContext) -> dict[str, Any]:
    from app.datasets.jobs import export_job

    payload = ctx.payload
    return export_job(ctx.db, storage=ctx.storage, project_id=int(payload["project_id"]),
                      version_id=int(payload["version_id"]), format=str(payload["format"]),
                      include_images=bool(payload["include_images"]), user_id=ctx.created_by_id,
                      options=payload.get("options"), progress=ctx.progress)


@job_kind("datasets.freeze", title="Freezing a dataset version", max_attempts=3)
def dataset_freeze(ctx: JobContext) -> dict[str, Any]:
    from app.datasets.jobs import freeze_job

    return freeze_job(ctx.db, project_id=_project_id(ctx), spec=dict(ctx.payload["spec"]),
                      user_id=ctx.created_by_id, requested_at=str(ctx.payload["requested_at"]), progress=ctx.progress)


@job_kind("analysis.drift", title="Checking for drift", max_attempts=3)
def analysis_drift(ctx: JobContext) -> dict[str, Any]:
    from app.analysis.service import run_drift
    from app.auth.models import User

    actor = ctx.db.get(User, ctx.created_by_id) if ctx.created_by_id else None
    run_drift(ctx.db, storage=ctx.storage, project_id=_project_id(ctx), actor=actor, progress=ctx.progress)
    return {"url": f"/projects/{ctx.project_id}/analysis/drift"}


@job_kind("analysis.augment", title="Augmenting a class", max_attempts=3)
def analysis_augment(ctx: JobContext) -> dict[str, Any]:
    from app.analysis.service import augment_class
    from app.auth.models import User
    from app.projects.models import Project

    project = ctx.db.get(Project, _project_id(ctx))
    actor = ctx.db.get(User, ctx.created_by_id) if ctx.created_by_id else None
    payload = ctx.payload
    limit = payload.get("limit")
    result = augment_class(ctx.db, storage=ctx.storage, settings=ctx.settings, project=project,  # type: ignore[arg-type]
                           class_name=str(payload["class_name"]), per_image=int(payload["per_image"]),
                           seed=int(payload.get("seed", 0)), limit=int(limit) if limit is not None else None,
                           actor=actor, progress=ctx.progress)
    return result.as_dict()


def _project_id(ctx: JobContext) -> int:
    if ctx.project_id is None:
        from app.core.errors import Invalid

        raise Invalid("this job needs a project", field="project_id")
    return ctx.project_id


@job_kind("consistency.recompute", title="Recomputing consistency", max_attempts=3)
def consistency_recompute(ctx: JobContext) -> dict[str, Any]:
    from app.consistency.service import recompute_project

    return recompute_project(ctx.db, project_id=_project_id(ctx), progress=ctx.progress,
                             duplicates=bool(ctx.payload.get("duplicates", True)))


@job_kind("consistency.duplicates", title="Finding near-duplicate images", max_attempts=3)
def consistency_duplicates(ctx: JobContext) -> dict[str, Any]:
    from app.consistency.service import refresh_duplicates

    return refresh_duplicates(ctx.db, project_id=_project_id(ctx))


def modeling_cancelled(db: Session, job: Job) -> None:
    """A cancelled training job's run ends cancelled too (the job's own writes were rolled back)."""
    from app.modeling.models import ModelRun, RunState

    run = db.get(ModelRun, int(job.payload["run_id"]))
    if run is not None and run.state in (RunState.queued, RunState.running):
        run.state, run.error, run.finished_at = RunState.cancelled, "cancelled", utcnow()
        run.metrics, run.artifact_key = {}, None


@job_kind("modeling.train", title="Training a model", max_attempts=2, on_cancel=modeling_cancelled)
def modeling_train(ctx: JobContext) -> dict[str, Any]:
    from app.modeling.service import train_run
    from app.training.cancel import Cancelled

    result = train_run(ctx.db, storage=ctx.storage, run_id=int(ctx.payload["run_id"]), progress=ctx.progress,
                       should_stop=ctx.should_stop)
    if result.get("state") == "cancelled":  # stopped between folds: the job ends cancelled, and so the run
        raise Cancelled("stopped on request")
    return result
