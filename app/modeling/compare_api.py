"""JSON API of comparing runs, their next steps and capture requests: /api/v1/projects/{project_id}/models/...
(reviewers and up)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from app.analysis.schemas import SendIssuesOut
from app.auth.deps import ReviewerAccess
from app.core.db import DbSession, read_only_session
from app.core.storage import StorageDep
from app.modeling import capture
from app.modeling.analysis import comparison_json, run_next_steps, send_run_to_review
from app.modeling.schemas import CaptureRequestOut, ComparisonOut, NextStepsOut

router = APIRouter(prefix="/api/v1/projects/{project_id}/models", tags=["models"])
RunQuery = Annotated[int, Query(ge=1, le=2**62, description="a run id of this project")]


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int | None = Field(default=None, ge=1, le=100_000)


@router.get("/compare", response_model=ComparisonOut)
def compare(access: ReviewerAccess, db: DbSession, storage: StorageDep, a: RunQuery, b: RunQuery,
            reference: Annotated[int | None, Query(ge=1, le=2**62, description="reference version id; default: "
                                                   "the newer run's version")] = None,
            split: Annotated[Literal["test", "all"], Query(description="the reference version's test split, "
                                                           "or all its items")] = "test",
            settled_only: Annotated[bool, Query(description="only labels a person settled (gold, review, "
                                                "unanimous)")] = True) -> Any:
    """Runs a and b scored on the same reference labels, never on an image either trained on: every metric
    with b - a and a paired bootstrap interval, per class and per slice, the images whose prediction
    changed, and the label changes between their versions beside each class's metric change."""
    with read_only_session(db) as reader:
        return comparison_json(reader, storage=storage, project_id=access.project.id, a_id=a, b_id=b,
                               reference_version_id=reference, split=split, settled_only=settled_only)


# Unset fields stay out: an action without a body or a page has no such key.
@router.get("/runs/{run_id}/next-steps", response_model=NextStepsOut, response_model_exclude_unset=True)
def next_steps(run_id: int, access: ReviewerAccess, db: DbSession) -> Any:
    """The run's weak classes (by F1) and slices (by accuracy gap), weakest first, with what to do."""
    return run_next_steps(db, access.project.id, run_id)


@router.post("/runs/{run_id}/send-to-review", response_model=SendIssuesOut)
def send_to_review(run_id: int, access: ReviewerAccess, db: DbSession,
                   body: Annotated[SendIn | None, Body()] = None) -> Any:
    """The run's likely label errors (confident learning on its out-of-sample predictions) into the review
    queue as model_disagreement conflicts, worst first; a reviewer's earlier decision is left alone."""
    result = send_run_to_review(db, project_id=access.project.id, run_id=run_id, actor=access.user,
                                limit=(body or SendIn()).limit)
    db.commit()
    return result


@router.get("/capture-requests", response_model=list[CaptureRequestOut])
def capture_requests(access: ReviewerAccess, db: DbSession,
                     state: Annotated[Literal["open", "done"] | None, Query()] = None) -> Any:
    """The project's capture requests, newest first."""
    names = capture.class_names(db, access.project.id)
    return [capture.as_dict(r, names.get(r.label_class_id or 0))
            for r in capture.list_requests(db, access.project.id, state=state)]


@router.post("/capture-requests", status_code=201, response_model=CaptureRequestOut)
def create_capture_request(access: ReviewerAccess, db: DbSession, body: capture.CaptureIn) -> Any:
    """Ask the line for more images of a slice ({"line": "L3"}), a class, or both."""
    request = capture.create_request(db, project_id=access.project.id, data=body, user=access.user)
    db.commit()
    return capture.as_dict(request, capture.class_names(db, access.project.id).get(request.label_class_id or 0))


@router.post("/capture-requests/{capture_id}/close", response_model=CaptureRequestOut)
def close_capture_request(capture_id: int, access: ReviewerAccess, db: DbSession) -> Any:
    """Mark a capture request done (409 when it already is)."""
    request = capture.close_request(db, project_id=access.project.id, request_id=capture_id, user=access.user)
    db.commit()
    return capture.as_dict(request, capture.class_names(db, access.project.id).get(request.label_class_id or 0))

