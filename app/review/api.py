"""JSON API for reviewers' scripts: the queue, one conflict, decisions (one or in bulk), feedback."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from app.auth.deps import InspectorAccess, ReviewerAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.review import bulk, detail, feedback, flags, queue
from app.review.commit import commit_decision
from app.review.deps import Filters
from app.review.models import Resolution
from app.review.schemas import (
    BulkDecisionsIn,
    BulkDecisionsOut,
    ConflictDetailOut,
    DecisionIn,
    DecisionOut,
    FeedbackOut,
    FlagIn,
    FlagOut,
    QueueOut,
    ResolutionOut,
)
from app.review.serialize import detail_out, feedback_out, queue_out
from app.review.service import get_conflict

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["review"])


@router.get("/review/conflicts", response_model=QueueOut)
def list_conflicts(access: ReviewerAccess, db: DbSession, filters: Filters,
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> QueueOut:
    """The queue, most severe first, with a count beside every filter value."""
    return queue_out(queue.queue_page(db, project_id=access.project.id, filters=filters, offset=offset, limit=limit,
                                      base_href=f"/projects/{access.project.id}/review"))


@router.get("/review/conflicts/{conflict_id}", response_model=ConflictDetailOut)
def conflict_detail(conflict_id: int, access: ReviewerAccess, db: DbSession, filters: Filters) -> ConflictDetailOut:
    """Everything the conflict view shows: answers, consensus, gold, final label, history."""
    return detail_out(detail.conflict_view(db, project=access.project, conflict_id=conflict_id, filters=filters))


@router.post("/review/conflicts/{conflict_id}/decisions", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "another decision landed first; `detail` holds the current state"}})
def post_decision(conflict_id: int, data: DecisionIn, access: ReviewerAccess, db: DbSession,
                  filters: Filters) -> DecisionOut:
    """Decide a conflict on the version you saw; 409 with the current state if it moved on."""
    result = commit_decision(db, project=access.project, conflict_id=conflict_id, reviewer=access.user, data=data)
    q = queue.Query(db, access.project.id, filters)
    return DecisionOut(resolution=ResolutionOut.model_validate(result.resolution),
                       settled_conflict_ids=[r.conflict_id for r in result.resolutions], image_ids=result.image_ids,
                       next_conflict_id=q.neighbour(get_conflict(db, access.project.id, conflict_id), forward=True))


@router.post("/review/decisions/bulk", response_model=BulkDecisionsOut)
def post_bulk_decisions(body: BulkDecisionsIn, access: ReviewerAccess, db: DbSession) -> BulkDecisionsOut:
    """Rows of file_name, final_class, note and optional boxes; all or nothing (422 lists bad rows)."""
    results = bulk.decide_rows(db, project=access.project, reviewer=access.user,
                               rows=[(n + 1, row) for n, row in enumerate(body.rows)])
    db.commit()
    return BulkDecisionsOut(decided=len(results), resolution_ids=[i for r in results for i in r.resolution_ids],
                            boxes_left_open=bulk.boxes_left_open(db, results))


@router.get("/review/conflicts/{conflict_id}/resolutions", response_model=list[ResolutionOut])
def list_resolutions(conflict_id: int, access: ReviewerAccess, db: DbSession) -> list[ResolutionOut]:
    conflict = get_conflict(db, access.project.id, conflict_id)
    rows = db.scalars(select(Resolution).where(Resolution.conflict_id == conflict.id).order_by(Resolution.id))
    return [ResolutionOut.model_validate(r) for r in rows]


@router.post("/images/{image_id}/flag", response_model=FlagOut, status_code=status.HTTP_201_CREATED,
             responses={409: {"description": "the image has a flag nobody decided yet; `detail` names it"}})
def flag_image(image_id: int, body: FlagIn, access: ReviewerAccess, db: DbSession) -> FlagOut:
    """Flag an image whose label looks wrong (even a unanimous one): a `flagged` conflict for the queue."""
    conflict = flags.flag_image(db, project=access.project, image_id=image_id, reviewer=access.user, note=body.note)
    db.commit()
    return FlagOut(conflict_id=conflict.id, image_id=image_id, state=conflict.state, severity=conflict.severity,
                   version=conflict.version, url=f"/projects/{access.project.id}/review/conflicts/{conflict.id}")


@router.get("/feedback", response_model=FeedbackOut)
def get_feedback(access: InspectorAccess, db: DbSession,
                 labeler_id: Annotated[int | None, Query(ge=1)] = None) -> FeedbackOut:
    """Your images where the reviewed label differs from yours (reviewers may ask for anyone's)."""
    found = feedback.feedback_of(db, project_id=access.project.id, labeler_id=labeler_id or access.user.id,
                                 viewer=access.user, may_see_others=access.at_least(Role.reviewer))
    return feedback_out(found)
