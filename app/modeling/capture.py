"""Capture requests: asking the line for more images of a weak slice or class (create, list, close).

A request names a slice ({"line": "L2", "shift": "night"}: metadata keys and values), a class, or
both, and how many images are wanted. Closing keeps the request (state done, closed_at set); nothing
is ever deleted or overwritten.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core import audit
from app.core.errors import Conflict, Invalid, NotFound
from app.modeling.models import CaptureRequest, CaptureState, ModelRun
from app.projects.models import LabelClass

MAX_WANTED = 100_000


class CaptureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: int | None = None
    label_class_id: int | None = None
    slice: dict[str, str] = Field(default_factory=dict)
    wanted: int = Field(default=50, ge=1, le=MAX_WANTED)
    note: str = Field(default="", max_length=2000)

    @field_validator("slice")
    @classmethod
    def _slice(cls, value: dict[str, str]) -> dict[str, str]:
        clean = {k.strip(): v.strip() for k, v in value.items()}
        if any(not k or not v or len(k) > 64 or len(v) > 200 for k, v in clean.items()) or len(clean) > 10:
            raise ValueError("a slice is up to 10 metadata keys (64 characters) with non-empty values")
        return dict(sorted(clean.items()))


def as_dict(request: CaptureRequest, class_name: str | None = None) -> dict[str, Any]:
    return {"id": request.id, "project_id": request.project_id, "run_id": request.run_id, "slice": request.slice,
            "label_class_id": request.label_class_id, "class_name": class_name, "wanted": request.wanted,
            "note": request.note, "state": request.state, "created_by_id": request.created_by_id,
            "created_at": request.created_at.isoformat() if request.created_at else None,
            "closed_at": request.closed_at.isoformat() if request.closed_at else None}


def create_request(db: Session, *, project_id: int, data: CaptureIn, user: User | None) -> CaptureRequest:
    """Raises Invalid for a request naming neither a slice nor a class, or a class or run of another project."""
    if data.label_class_id is None and not data.slice:
        raise Invalid("name a slice, a class or both", field="slice")
    if data.label_class_id is not None:
        label_class = db.get(LabelClass, data.label_class_id)
        if label_class is None or label_class.project_id != project_id:
            raise Invalid(f"no class {data.label_class_id} in this project", field="label_class_id")
    if data.run_id is not None:
        run = db.get(ModelRun, data.run_id)
        if run is None or run.project_id != project_id:
            raise Invalid(f"no model run {data.run_id} in this project", field="run_id")
    request = CaptureRequest(project_id=project_id, run_id=data.run_id, slice=data.slice,
                             label_class_id=data.label_class_id, wanted=data.wanted, note=data.note,
                             state=CaptureState.open, created_by_id=user.id if user else None)
    db.add(request)
    db.flush()
    audit.record(db, action="modeling.capture_requested", actor_id=user.id if user else None, project_id=project_id,
                 object_type="capture_request", object_id=request.id, data=data.model_dump())
    return request


def list_requests(db: Session, project_id: int, *, state: str | None = None) -> Sequence[CaptureRequest]:
    """Newest first; `state` open or done filters."""
    query = select(CaptureRequest).where(CaptureRequest.project_id == project_id)
    if state is not None:
        if state not in tuple(CaptureState):
            raise Invalid("state is open or done", field="state")
        query = query.where(CaptureRequest.state == state)
    return db.scalars(query.order_by(CaptureRequest.id.desc())).all()


def get_request(db: Session, project_id: int, request_id: int) -> CaptureRequest:
    request = db.get(CaptureRequest, request_id)
    if request is None or request.project_id != project_id:
        raise NotFound(f"no capture request {request_id} in this project")
    return request


def close_request(db: Session, *, project_id: int, request_id: int, user: User | None) -> CaptureRequest:
    """Mark the request done; Conflict when it already is."""
    request = get_request(db, project_id, request_id)
    if request.state == CaptureState.done:
        raise Conflict(f"capture request {request_id} is already closed")
    request.state, request.closed_at = CaptureState.done, datetime.now(UTC)
    db.flush()
    audit.record(db, action="modeling.capture_closed", actor_id=user.id if user else None, project_id=project_id,
                 object_type="capture_request", object_id=request.id, data={})
    return request


def class_names(db: Session, project_id: int) -> dict[int, str]:
    query = select(LabelClass.id, LabelClass.name).where(LabelClass.project_id == project_id)
    return {class_id: name for class_id, name in db.execute(query)}
