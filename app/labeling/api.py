"""JSON API of the labeling loop (scripts and the labeling page use the same routes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from app.auth.deps import AdminAccess, InspectorAccess, settings_of
from app.core.db import DbSession
from app.core.errors import Invalid
from app.core.faults import fault_point
from app.labeling import present, service
from app.labeling.schemas import (
    AnnotationIn,
    AnnotationOut,
    AssignmentOut,
    LabelingRulesIn,
    LabelingRulesOut,
    NextIn,
    NextOut,
    OverlapIn,
    OverlapOut,
    PreviousIn,
    ProgressOut,
    ShownOut,
    SkipOut,
)

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["labeling"])
# Minutes to add to UTC for the labeler's day; bounded like NextIn's (an unbounded one overflowed: a 500).
TzOffset = Annotated[int, Query(ge=-14 * 60, le=14 * 60)]

# An answer with the configured 500 boxes is ~40 KB of JSON; anything far beyond is refused while
# it streams in, before it is parsed (10^6 boxes must not cost a gigabyte of dicts).
MAX_ANNOTATION_BYTES = 2 * 2**20


async def annotation_body(request: Request) -> AnnotationIn:
    """The request body as AnnotationIn, read with a size cap (chunked bodies included)."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_ANNOTATION_BYTES:
                raise Invalid(
                    f"the answer is larger than {MAX_ANNOTATION_BYTES:,} bytes; it holds too many boxes", field="boxes"
                )
    except ClientDisconnect:  # the client left, or the body limit (app.core.limits) already answered 413
        raise Invalid("the request body was cut off", field="boxes") from None
    try:
        return AnnotationIn.model_validate_json(bytes(body) or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


ANNOTATION_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": AnnotationIn.model_json_schema()}}}
}


@router.post("/assignments/next", response_model=NextOut)
def next_assignment(
    request: Request, access: InspectorAccess, db: DbSession, body: Annotated[NextIn | None, Body()] = None
) -> NextOut:
    """Claim (or resume) the caller's next assignment; `assignment` is null when nothing is left."""
    body = body or NextIn()
    assignment = service.next_assignment(
        db, project=access.project, labeler=access.user, settings=settings_of(request), exclude=body.exclude
    )
    out = present.assignment_out(db, assignment) if assignment else None
    progress = service.progress(
        db, project_id=access.project.id, labeler_id=access.user.id, tz_offset_minutes=body.tz_offset_minutes
    )
    db.commit()
    return NextOut(assignment=out, progress=progress)


@router.post("/assignments/previous", response_model=AssignmentOut | None)
def previous_assignment(
    access: InspectorAccess, db: DbSession, body: Annotated[PreviousIn | None, Body()] = None
) -> AssignmentOut | None:
    """Reopen the caller's latest answer (not one in `exclude`) for a relabel: submit it with the
    given `supersedes_id`. Null when there is none, or it is more than a few answers back."""
    body = body or PreviousIn()
    assignment = service.previous_assignment(db, project=access.project, labeler=access.user, exclude=body.exclude)
    out = present.assignment_out(db, assignment) if assignment else None
    db.commit()
    return out


@router.post("/assignments/{assignment_id}/shown", response_model=ShownOut)
def assignment_shown(assignment_id: int, access: InspectorAccess, db: DbSession) -> ShownOut:
    """The image is on screen now (the page calls this when it shows a prefetched image); the
    minimum viewing time counts from the latest of this and the hand-out."""
    assignment = service.mark_shown(db, project=access.project, labeler=access.user, assignment_id=assignment_id)
    db.commit()
    assert assignment.shown_at is not None  # just set
    return ShownOut(id=assignment.id, shown_at=assignment.shown_at.isoformat())


@router.post("/assignments/{assignment_id}/annotation", response_model=AnnotationOut, openapi_extra=ANNOTATION_BODY)
def submit_annotation(
    request: Request,
    assignment_id: int,
    access: InspectorAccess,
    db: DbSession,
    data: Annotated[AnnotationIn, Depends(annotation_body)],
    tz_offset_minutes: TzOffset = 0,
) -> AnnotationOut:
    """Store the answer (idempotent with `idempotency_key`; a relabel supersedes, never overwrites)."""
    source = "web" if request.headers.get("x-csrf-token") else "api"
    done = service.submit_annotation(
        db,
        project=access.project,
        labeler=access.user,
        assignment_id=assignment_id,
        data=data,
        settings=settings_of(request),
        source=source,
    )
    progress = service.progress(
        db, project_id=access.project.id, labeler_id=access.user.id, tz_offset_minutes=tz_offset_minutes
    )
    db.commit()
    fault_point("annotation.committed")
    return present.annotation_out(
        done.annotation, replayed=done.replayed, superseded_id=done.superseded_id, progress=progress
    )


@router.post("/assignments/{assignment_id}/skip", response_model=SkipOut)
def skip_assignment(
    assignment_id: int, access: InspectorAccess, db: DbSession, tz_offset_minutes: TzOffset = 0
) -> SkipOut:
    """Pass on this image: it goes to the back of the caller's queue and its slot back to the pool."""
    assignment = service.skip(db, project=access.project, labeler=access.user, assignment_id=assignment_id)
    progress = service.progress(
        db, project_id=access.project.id, labeler_id=access.user.id, tz_offset_minutes=tz_offset_minutes
    )
    db.commit()
    return SkipOut(id=assignment.id, state=assignment.state, progress=progress)


@router.get("/labeling/progress", response_model=ProgressOut)
def labeling_progress(access: InspectorAccess, db: DbSession, tz_offset_minutes: TzOffset = 0) -> ProgressOut:
    return service.progress(
        db, project_id=access.project.id, labeler_id=access.user.id, tz_offset_minutes=tz_offset_minutes
    )


@router.get("/overlap", response_model=OverlapOut)
def get_overlap(access: AdminAccess, db: DbSession) -> OverlapOut:
    """The project's overlap policy."""
    return _overlap_out(db, access)


@router.put("/overlap", response_model=OverlapOut)
def put_overlap(data: OverlapIn, access: AdminAccess, db: DbSession) -> OverlapOut:
    """Change the overlap policy; every image's wanted label count follows at once."""
    service.update_overlap(db, project=access.project, data=data, actor=access.user)
    db.commit()
    return _overlap_out(db, access)


@router.get("/labeling-rules", response_model=LabelingRulesOut)
def get_labeling_rules(access: AdminAccess, db: DbSession) -> LabelingRulesOut:
    """Minimum viewing time, the fast-labeler threshold and each class's box rule."""
    return service.labeling_rules(db, access.project)


@router.put("/labeling-rules", response_model=LabelingRulesOut)
def put_labeling_rules(data: LabelingRulesIn, access: AdminAccess, db: DbSession) -> LabelingRulesOut:
    out = service.update_labeling_rules(db, project=access.project, data=data, actor=access.user)
    db.commit()
    return out


def _overlap_out(db: DbSession, access: AdminAccess) -> OverlapOut:
    values = service.overlap_settings(access.project)
    return OverlapOut(**values, images_wanting_labels=service.images_wanting_labels(db, access.project.id))  # type: ignore[arg-type]
