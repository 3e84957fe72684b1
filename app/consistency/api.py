"""JSON API of the consistency service under /api/v1/projects/{project_id}."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import AdminAccess, ReviewerAccess
from app.consistency import reports, service
from app.consistency.models import Conflict, ImageConsensus
from app.consistency.schemas import (
    AgreementOut,
    ClusterOut,
    ConflictOut,
    ConsensusOut,
    LabelerQualityOut,
    RecomputeOut,
)
from app.core.db import DbSession
from app.images.models import Image

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["consistency"])


@router.get("/images/{image_id}/consensus", response_model=ConsensusOut)
def image_consensus(image_id: int, access: ReviewerAccess, db: DbSession) -> ConsensusOut:
    """The image's consensus class (Dawid-Skene posterior or vote shares), its vote, its consensus boxes."""
    image, row = reports.image_consensus(db, project_id=access.project.id, image_id=image_id)
    return consensus_out(image, row, reports.class_names(db, image.project_id))


@router.get("/images/{image_id}/conflicts", response_model=list[ConflictOut])
def image_conflicts(image_id: int, access: ReviewerAccess, db: DbSession) -> list[ConflictOut]:
    """Every conflict of the image (and of its near-duplicate group), in any state, worst first."""
    return [conflict_out(c) for c in reports.image_conflicts(db, project_id=access.project.id, image_id=image_id)]


@router.get("/agreement", response_model=AgreementOut)
def agreement(access: ReviewerAccess, db: DbSession) -> AgreementOut:
    """Alpha, Fleiss' kappa, box alpha, pairwise kappas, the class-pair matrix, labeler quality, trend."""
    return AgreementOut.model_validate(reports.agreement_summary(db, project_id=access.project.id))


@router.get("/labelers/quality", response_model=list[LabelerQualityOut])
def labeler_quality(access: ReviewerAccess, db: DbSession) -> list[LabelerQualityOut]:
    """Each labeler's estimated quality from the last recompute, lowest accuracy first."""
    return [LabelerQualityOut.model_validate(reports.quality_json(r))
            for r in reports.labeler_quality(db, project_id=access.project.id)]


@router.post("/agreement/recompute", response_model=RecomputeOut, status_code=202)
def recompute(access: AdminAccess, db: DbSession) -> RecomputeOut:
    """Recompute the project's consistency: queued as a job when workers are available, else run now."""
    project_id = access.project.id
    job = service.schedule_recompute(db, project_id=project_id, created_by=access.user)
    if job is not None:
        db.commit()
        return RecomputeOut(queued=True, job_id=job.id, url=f"/api/v1/projects/{project_id}/jobs/{job.id}")
    summary = service.recompute_project(db, project_id=project_id)
    db.commit()
    return RecomputeOut(queued=False, url=f"/api/v1/projects/{project_id}/agreement", summary=summary)


def consensus_out(image: Image, row: ImageConsensus | None, names: dict[int, str]) -> ConsensusOut:
    if row is None:
        return ConsensusOut(image_id=image.id, file_name=image.file_name, computed=False)
    return ConsensusOut(
        image_id=image.id, file_name=image.file_name, computed=True, n_labels=row.n_labels,
        consensus_class_id=row.consensus_class_id, consensus_class=names.get(row.consensus_class_id or -1),
        confidence=row.confidence, majority_class_id=row.majority_class_id,
        majority_class=names.get(row.majority_class_id or -1), entropy=row.entropy, method=row.method,
        posterior=row.posterior or {}, box_agreement=row.box_agreement,
        clusters=[ClusterOut.model_validate(c) for c in row.clusters or []],
        updated_at=row.updated_at)


def conflict_out(c: Conflict) -> ConflictOut:
    return ConflictOut(id=c.id, kind=c.kind, state=c.state, severity=c.severity, image_id=c.image_id,
                       duplicate_group_id=c.duplicate_group_id, subject=c.subject_key,
                       reason=(c.details or {}).get("reason", ""), details=c.details or {}, version=c.version,
                       updated_at=c.updated_at, resolved_at=c.resolved_at)
