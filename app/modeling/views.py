"""Model pages for reviewers and admins: the runs and the train form, a run and its next steps, two runs
compared."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.auth.deps import AdminAccess, ProjectAccess, ReviewerAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.core.errors import ConcordError, Invalid, NotFound
from app.core.flash import redirect_with_flash
from app.core.storage import StorageDep
from app.core.templating import render
from app.modeling import capture, compare_page, next_steps, pages, service
from app.modeling.compare import usable_run
from app.projects.navigation import NavLink, sections_for

router = APIRouter(tags=["models"])
BASE = "/projects/{project_id}/models"


def _sections(request: Request, access: ProjectAccess) -> list[NavLink]:
    return sections_for(request.app, project_id=access.project.id, role=access.role)


@router.get(BASE, response_class=HTMLResponse)
def runs(request: Request, access: ReviewerAccess, db: DbSession) -> HTMLResponse:
    page = pages.runs_page(db, access.project, _sections(request, access), may_train=access.at_least(Role.admin))
    return render(request, "modeling/runs.html", page)


@router.post(BASE, response_class=HTMLResponse)
def train(request: Request, access: AdminAccess, db: DbSession, storage: StorageDep,
          version_id: Annotated[int, Form()], recipe: Annotated[str, Form(max_length=40)] = "",
          seed: Annotated[int, Form()] = 0, folds: Annotated[int, Form()] = 5) -> Response:
    try:
        run = service.start_run(db, project_id=access.project.id, version_id=version_id, recipe=recipe or None,
                                seed=seed, folds=folds, storage=storage, user=access.user)
    except ConcordError as exc:
        page = pages.runs_page(db, access.project, _sections(request, access), may_train=True, error=exc.message,
                               form={"version_id": version_id, "recipe": recipe, "seed": seed, "folds": folds})
        return render(request, "modeling/runs.html", page, status_code=exc.status_code)
    db.commit()
    return redirect_with_flash(request, f"/projects/{access.project.id}/models/{run.id}",
                               f"Run {run.number} queued: it trains in the background")


@router.get(BASE + "/compare", response_class=HTMLResponse)
def compare(request: Request, access: ReviewerAccess, db: DbSession, storage: StorageDep, a: int, b: int,
            reference: int | None = None, scope: Literal["test", "all"] = "test",
            settled: Annotated[bool, Query()] = True) -> HTMLResponse:
    page = compare_page.compare_page(db, storage, access.project, _sections(request, access), a_id=a, b_id=b,
                                     reference_id=reference, scope=scope, settled_only=settled)
    return render(request, "modeling/compare.html", page)


@router.get(BASE + "/{run_id}", response_class=HTMLResponse)
def run(request: Request, run_id: int, access: ReviewerAccess, db: DbSession,
        source: str = "evaluation") -> HTMLResponse:
    found = service.get_run(db, access.project.id, run_id)
    page = pages.run_page(db, access.project, _sections(request, access), found, source=source,
                          may_train=access.at_least(Role.admin),
                          captures=[c for c in capture.list_requests(db, access.project.id, state="open")
                                    if c.run_id == found.id],
                          capture_classes=capture.class_names(db, access.project.id))
    return render(request, "modeling/run.html", page)


@router.post(BASE + "/{run_id}/send-to-review")
def send_to_review(request: Request, run_id: int, access: ReviewerAccess, db: DbSession) -> RedirectResponse:
    found = usable_run(db, access.project.id, run_id)
    try:
        result = next_steps.send_run_to_review(db, run=found, actor=access.user)
    except NotFound as exc:  # a finished run without a single prediction: the request is at fault, not the path
        raise Invalid(f"run {found.number} has no predictions to send") from exc
    db.commit()
    return redirect_with_flash(request, f"/projects/{access.project.id}/review",
                               f"Run {found.number}'s likely label errors are in the queue: {result.created} new, "
                               f"{result.updated + result.reopened} updated, {result.kept_settled} already settled")


@router.post(BASE + "/{run_id}/capture-requests")
def request_capture(request: Request, run_id: int, access: ReviewerAccess, db: DbSession,
                    label_class_id: Annotated[int | None, Form()] = None,
                    slice_key: Annotated[list[str] | None, Form(max_length=64)] = None,
                    slice_value: Annotated[list[str] | None, Form(max_length=200)] = None,
                    wanted: Annotated[int, Form(ge=1, le=capture.MAX_WANTED)] = 50,
                    note: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
    found = service.get_run(db, access.project.id, run_id)
    keys, values = slice_key or [], slice_value or []
    if len(keys) != len(values):
        raise Invalid("each slice key needs a value", field="slice")
    try:
        data = capture.CaptureIn(run_id=found.id, label_class_id=label_class_id,
                                 slice=dict(zip(keys, values, strict=True)), wanted=wanted, note=note)
    except ValidationError as exc:
        raise Invalid(str(exc.errors()[0]["msg"]), field="slice") from exc
    made = capture.create_request(db, project_id=access.project.id, data=data, user=access.user)
    db.commit()
    return redirect_with_flash(request, f"/projects/{access.project.id}/models/{found.id}#next-steps",
                               f"Capture request {made.id} open: {made.wanted} images wanted")


@router.post(BASE + "/capture-requests/{capture_id}/close")
def close_capture(request: Request, capture_id: int, access: ReviewerAccess, db: DbSession,
                  run_id: Annotated[int | None, Form()] = None) -> RedirectResponse:
    closed = capture.close_request(db, project_id=access.project.id, request_id=capture_id, user=access.user)
    db.commit()
    back = f"/projects/{access.project.id}/models" + (f"/{run_id}#next-steps" if run_id else "")
    return redirect_with_flash(request, back, f"Capture request {closed.id} done")
