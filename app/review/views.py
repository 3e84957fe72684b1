"""Review pages: the conflict queue, the conflict view with its decisions, labeler feedback."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.auth.deps import InspectorAccess, ReviewerAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid
from app.core.flash import redirect_with_flash
from app.core.templating import render
from app.projects import defect_book
from app.projects.models import Project
from app.projects.navigation import NavLink, sections_for
from app.review import detail, feedback, queue
from app.review.commit import commit_decision
from app.review.deps import Filters
from app.review.media import thumbnail_url
from app.review.schemas import MAX_REASON, DecisionIn
from app.review.service import StaleDecision, describe, get_conflict, subject_images

router = APIRouter()


def _sections(request: Request, access: InspectorAccess) -> list[NavLink]:
    return sections_for(request.app, project_id=access.project.id, role=access.role)


@dataclass
class QueuePageView:
    project: Project
    sections: list[NavLink]
    queue: queue.QueuePage
    thumbs: dict[int, str]
    base: str
    prev_href: str | None
    next_href: str | None


@dataclass
class ConflictPage:
    view: detail.ConflictView
    base: str  # /projects/{id}/review
    query: str  # the queue's filters, kept while moving through it
    notice: dict[str, Any] | None = None  # a lost race (409)
    error: str | None = None
    draft: dict[str, Any] = field(default_factory=dict)  # the reviewer's inputs, kept after an error

    @property
    def data(self) -> dict[str, Any]:
        return self.view.boxes_json

    @property
    def data_json(self) -> str:
        """For a data- attribute (a plain str: autoescape makes it attribute-safe)."""
        return json.dumps(self.view.boxes_json)

    @property
    def final_json(self) -> str:
        return json.dumps(self.view.boxes_json.get("final", []))


@dataclass
class FeedbackPage:
    project: Project
    sections: list[NavLink]
    feedback: feedback.Feedback
    is_own: bool
    labelers: list[tuple[int, str]]  # for a reviewer's picker (empty for inspectors)


class DecisionForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    choice: str = Field(max_length=40)
    version: int
    label_class_id: str = ""
    boxes: str = Field(default="", max_length=200_000)
    reason: str = Field(default="", max_length=MAX_REASON)
    labeler_ids: list[int] = Field(default_factory=list, max_length=100)

    def to_decision(self) -> DecisionIn:
        decision, _, labeler = self.choice.partition(":")
        try:
            boxes = json.loads(self.boxes) if self.boxes and decision == "edit" else None
            return DecisionIn(decision=decision, version=self.version, reason=self.reason,  # type: ignore[arg-type]
                              label_class_id=int(self.label_class_id) if self.label_class_id else None,
                              labeler_id=int(labeler) if labeler else None, labeler_ids=self.labeler_ids, boxes=boxes)
        except (ValueError, ValidationError) as exc:
            raise Invalid(f"the decision could not be read: {str(exc).splitlines()[0]}", field="choice") from None


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_queue(request: Request, access: ReviewerAccess, db: DbSession, filters: Filters,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> HTMLResponse:
    base = f"/projects/{access.project.id}/review"
    found = queue.queue_page(db, project_id=access.project.id, filters=filters, base_href=base, offset=offset)
    step = found.limit
    return render(request, "review/queue.html", QueuePageView(
        project=access.project, queue=found, base=base, sections=_sections(request, access),
        thumbs={r.cover.id: thumbnail_url(r.cover) for r in found.rows if r.cover is not None},
        prev_href=f"{base}?{filters.query()}&offset={max(0, offset - step)}" if offset > 0 else None,
        next_href=f"{base}?{filters.query()}&offset={offset + step}" if offset + step < found.total else None))


def _conflict_page(db: DbSession, access: ReviewerAccess, conflict_id: int, filters: queue.QueueFilters,
                   **extra: Any) -> ConflictPage:
    view = detail.conflict_view(db, project=access.project, conflict_id=conflict_id, filters=filters)
    return ConflictPage(view=view, base=f"/projects/{access.project.id}/review", query=filters.query(), **extra)


@router.get("/projects/{project_id}/review/conflicts/{conflict_id}", response_class=HTMLResponse)
def conflict_page(request: Request, conflict_id: int, access: ReviewerAccess, db: DbSession,
                  filters: Filters) -> HTMLResponse:
    return render(request, "review/conflict.html", _conflict_page(db, access, conflict_id, filters))


@router.post("/projects/{project_id}/review/conflicts/{conflict_id}/decide", response_model=None)
def decide(request: Request, conflict_id: int, form: Annotated[DecisionForm, Form()], access: ReviewerAccess,
           db: DbSession, filters: Filters) -> HTMLResponse | RedirectResponse:
    """POST → 303 to the next conflict of the queue; a lost race shows the winner (409) and keeps
    the reviewer's choice; a bad input shows the view again with the message (422)."""
    draft = form.model_dump()
    try:
        result = commit_decision(db, project=access.project, conflict_id=conflict_id, reviewer=access.user,
                                 data=form.to_decision())
    except StaleDecision as exc:
        page = _conflict_page(db, access, conflict_id, filters, notice=exc.detail, draft=draft)
        return render(request, "review/conflict.html", page, status_code=409)
    except Invalid as exc:
        db.rollback()
        page = _conflict_page(db, access, conflict_id, filters, error=exc.message, draft=draft)
        return render(request, "review/conflict.html", page, status_code=422)
    following = queue.Query(db, access.project.id, filters).neighbour(
        get_conflict(db, access.project.id, conflict_id), forward=True)
    flash = describe(db, result)
    target = f"conflicts/{following}" if following else ""
    return redirect_with_flash(request, f"/projects/{access.project.id}/review/{target}?{filters.query()}", flash)


@router.post("/projects/{project_id}/review/conflicts/{conflict_id}/example")
def add_example(request: Request, conflict_id: int, access: ReviewerAccess, db: DbSession, filters: Filters,
                label_class_id: Annotated[int, Form()], note: Annotated[str, Form(max_length=MAX_REASON)] = "",
                counter_example: Annotated[bool, Form()] = False) -> RedirectResponse:
    """Add the conflict's image to the defect book as an example (or counter-example) of a class."""
    image = subject_images(db, get_conflict(db, access.project.id, conflict_id))[0]
    try:
        defect_book.add_example(db, project=access.project, class_id=label_class_id, image_id=image.id,
                                note=note, counter_example=counter_example, actor=access.user)
        db.commit()
        flash = f"{image.file_name} added to the defect book (v{access.project.defect_book_version})."
    except (Invalid, ConflictError) as exc:
        db.rollback()
        flash = exc.message
    target = f"/projects/{access.project.id}/review/conflicts/{conflict_id}?{filters.query()}"
    return redirect_with_flash(request, target, flash)


@router.get("/projects/{project_id}/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, access: InspectorAccess, db: DbSession,
                  labeler: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    who = labeler or access.user.id
    found = feedback.feedback_of(db, project_id=access.project.id, labeler_id=who, viewer=access.user,
                                 may_see_others=access.at_least(Role.reviewer))
    return render(request, "review/feedback.html",
                  FeedbackPage(project=access.project, feedback=found, is_own=who == access.user.id,
                               sections=_sections(request, access),
                               labelers=feedback.labelers_of(db, access.project.id)
                               if access.at_least(Role.reviewer) else []))
