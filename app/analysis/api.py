"""JSON API of the analysis: slices, drift, model predictions, label issues, augmentation."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from app.analysis import service
from app.analysis.schemas import (
    AugmentIn,
    AugmentOut,
    DriftReportOut,
    DriftRunOut,
    IssueReportOut,
    PredictionsImportOut,
    RankBy,
    ReferenceIn,
    ReferenceOut,
    SendIssuesIn,
    SendIssuesOut,
    SliceReportOut,
)
from app.auth.deps import AdminAccess, ReviewerAccess, settings_of
from app.core.db import DbSession
from app.core.errors import Invalid
from app.core.storage import StorageDep

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["analysis"])
ModelQuery = Annotated[str | None, Query(max_length=120, description="model name; default: the newest import")]


@router.get("/slices")
def slices(access: ReviewerAccess, db: DbSession, model: ModelQuery = None) -> SliceReportOut:
    """Figures per metadata slice (counts per class, progress, alpha, conflict rate, model accuracy),
    slices ranked by where more or better data helps most, and the findings in words."""
    report = service.slice_report(db, project_id=access.project.id, model_name=model)
    return SliceReportOut.model_validate(service.report_json(report))


@router.get("/drift", response_model_exclude_unset=True)  # no report yet: computed, batches, slices only
def drift(access: ReviewerAccess, db: DbSession) -> DriftReportOut:
    """The latest drift report: each batch and slice against the reference, with histograms."""
    report = service.latest_report(db, access.project.id)
    if report is None:
        return DriftReportOut(computed=False, batches=[], slices=[])
    return DriftReportOut.model_validate(
        {"computed": True, "id": report.id, "created_at": report.created_at.isoformat(), **report.report})


@router.post("/drift/run")
def run_drift(request: Request, access: AdminAccess, db: DbSession, storage: StorageDep) -> DriftRunOut:
    """Compute missing image statistics, judge every batch and slice, raise drifted images' priority."""
    report = service.run_drift(db, storage=storage, project_id=access.project.id, actor=access.user)
    db.commit()
    summary = service.drift_summary(db, access.project.id)
    return DriftRunOut(id=report.id, n_flagged=report.n_flagged, raised_priority=report.report["raised_priority"],
                       flagged_batches=summary.batches if summary else [],
                       flagged_slices=summary.slices if summary else [])


@router.put("/drift/reference")
def set_reference(access: AdminAccess, db: DbSession, body: ReferenceIn) -> ReferenceOut:
    batch = service.set_reference_batch(db, project_id=access.project.id, batch_id=body.batch_id, actor=access.user)
    db.commit()
    return ReferenceOut(reference_batch_id=batch.id, name=batch.name)


@router.post("/predictions", status_code=201, responses={422: {"description": "a bad row, named; nothing stored"}})
async def import_predictions(request: Request, access: AdminAccess, db: DbSession,
                             model: ModelQuery = None) -> PredictionsImportOut:
    """Import per-image class probabilities: a multipart `file` (CSV or JSON, optional form field `model`),
    or the JSON document itself as the body. All rows or none."""
    data, name, kind, form_model = await _upload(request)
    result = service.import_predictions(db, project_id=access.project.id, data=data, model_name=model or form_model,
                                        file_name=name, content_type=kind, actor=access.user)
    db.commit()
    return PredictionsImportOut.model_validate(result.as_dict())


async def _upload(request: Request) -> tuple[bytes, str, str, str | None]:
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        upload, model = form.get("file"), form.get("model")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the predictions as a file part named 'file'", field="file")
        return await upload.read(), upload.filename or "", upload.content_type or "", model or None  # type: ignore[return-value]
    return await request.body(), "", kind, None


@router.get("/label-issues")
def label_issues(access: ReviewerAccess, db: DbSession, model: ModelQuery = None,
                 rank_by: RankBy = "self_confidence",
                 limit: Annotated[int, Query(ge=1, le=100_000)] = 500) -> IssueReportOut:
    """Likely label errors by confident learning, worst first (see app/analysis/confident_learning.py)."""
    report = service.find_issues(db, project_id=access.project.id, model_name=model, rank_by=rank_by)
    body = report.as_dict()
    body["issues"] = body["issues"][:limit]
    return IssueReportOut.model_validate(body)


@router.post("/label-issues/send")
def send_issues(access: ReviewerAccess, db: DbSession, body: Annotated[SendIssuesIn | None, Body()] = None
                ) -> SendIssuesOut:
    """Send the label issues to the review queue as `model_disagreement` conflicts."""
    body = body or SendIssuesIn()
    result = service.send_to_review(db, project_id=access.project.id, actor=access.user, model_name=body.model,
                                    limit=body.limit, rank_by=body.rank_by)
    db.commit()
    return SendIssuesOut.model_validate(result.as_dict())


@router.post("/augment", status_code=201)
def augment(request: Request, access: AdminAccess, db: DbSession, storage: StorageDep, body: AugmentIn
            ) -> AugmentOut:
    """Augmented copies of every final-labeled image of a class (flips, small rotations, brightness and
    contrast, noise; boxes moved with the image). Leaves exports alone unless include_augmented."""
    result = service.augment_class(db, storage=storage, settings=settings_of(request), project=access.project,
                                   class_name=body.class_name, per_image=body.per_image, seed=body.seed,
                                   limit=body.limit, actor=access.user)
    db.commit()
    return AugmentOut.model_validate(result.as_dict())
