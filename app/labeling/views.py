"""The labeling page (the inspector's loop) and the overlap policy page (admins)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.auth.deps import AdminAccess, InspectorAccess
from app.core.db import DbSession
from app.core.errors import Invalid
from app.core.flash import redirect_with_flash
from app.core.templating import render
from app.labeling import service
from app.labeling.schemas import LabelingRulesIn, LabelingRulesOut, OverlapIn
from app.projects.defect_book import BookClass, read_book
from app.projects.models import Project
from app.projects.navigation import NavLink, sections_for

router = APIRouter(tags=["labeling"])
RESERVED_KEYS = {" ", "?", "+", "-", "=", "_", "0"}  # the page's own keys; a class cannot take them


@dataclass
class LabelPage:
    project: Project
    book: Sequence[BookClass]
    book_version: int
    ok_class_id: int | None
    keys: dict[int, list[str]]
    boot: dict[str, Any]
    book_seen: int | None = None  # the defect-book version of the labeler's last answer here


@dataclass
class OverlapPage:
    project: Project
    sections: list[NavLink]
    values: dict[str, Any]
    images_wanting_labels: int
    error: str | None = None


def class_keys(classes: Sequence[BookClass]) -> dict[int, list[str]]:
    """Each class's keys: its own hotkey, and its position 1-9 unless another class owns that digit."""
    own = {e.label_class.id: (e.label_class.hotkey or "").lower() for e in classes}
    owned = {k for k in own.values() if k}
    keys: dict[int, list[str]] = {}
    for position, entry in enumerate(classes, start=1):
        class_id = entry.label_class.id
        mine = [own[class_id]] if own[class_id] and own[class_id] not in RESERVED_KEYS else []
        digit = str(position)
        if position <= 9 and digit not in mine and digit not in owned:
            mine.append(digit)
        keys[class_id] = mine
    return keys


@router.get("/projects/{project_id}/label", response_class=HTMLResponse)
def label_page(request: Request, access: InspectorAccess, db: DbSession) -> HTMLResponse:
    """Server-rendered shell; the page claims its first assignment through the JSON API (a GET
    never changes anything)."""
    book = read_book(db, project=access.project)
    ok_id = service.ok_class_id([entry.label_class for entry in book.classes])
    keys = class_keys(book.classes)
    boot = {
        "project": access.project.id,
        "user": access.user.id,
        "taskType": access.project.task_type,
        "okClassId": ok_id,
        "defectBookVersion": book.version,
        "api": f"/api/v1/projects/{access.project.id}",
        "classes": [
            {
                "id": e.label_class.id,
                "name": e.label_class.name,
                "colour": e.label_class.colour,
                "keys": keys[e.label_class.id],
                "boxRule": e.label_class.box_rule,
            }
            for e in book.classes
        ],
    }
    page = LabelPage(
        project=access.project,
        book=book.classes,
        book_version=book.version,
        ok_class_id=ok_id,
        keys=keys,
        boot=boot,
        book_seen=service.last_book_version_seen(db, project_id=access.project.id, labeler_id=access.user.id),
    )
    return render(request, "labeling/label.html", page)


@router.get("/projects/{project_id}/overlap", response_class=HTMLResponse)
def overlap_page(request: Request, access: AdminAccess, db: DbSession) -> HTMLResponse:
    return render(request, "labeling/overlap.html", _overlap_page(request, db, access))


@router.post("/projects/{project_id}/overlap", response_class=HTMLResponse, response_model=None)
def overlap_save(
    request: Request,
    access: AdminAccess,
    db: DbSession,
    labels_per_image: Annotated[str, Form(max_length=4)],
    qa_fraction_percent: Annotated[str, Form(max_length=8)],
    qa_labels_per_image: Annotated[str, Form(max_length=4)],
    gold_rate_percent: Annotated[str, Form(max_length=8)],
    overlap_slices: Annotated[str, Form(max_length=2000)] = "",
    adaptive_overlap: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    try:
        data = OverlapIn.model_validate(
            {
                "labels_per_image": labels_per_image,
                "qa_fraction": _percent(qa_fraction_percent),
                "qa_labels_per_image": qa_labels_per_image,
                "adaptive_overlap": adaptive_overlap is not None,
                "gold_rate": _percent(gold_rate_percent),
                "overlap_slices": [s.strip() for s in overlap_slices.replace(",", "\n").splitlines() if s.strip()],
            }
        )
        with db.begin_nested():  # a refused change disappears with its savepoint
            service.update_overlap(db, project=access.project, data=data, actor=access.user)
    except (ValidationError, Invalid, ValueError) as exc:
        page = _overlap_page(request, db, access)
        page.error = _message(exc)
        return render(request, "labeling/overlap.html", page, status_code=422)
    db.commit()
    return redirect_with_flash(request, f"/projects/{access.project.id}/overlap", "Overlap policy saved")


@dataclass
class RulesPage:
    project: Project
    sections: list[NavLink]
    rules: LabelingRulesOut
    error: str | None = None


@router.get("/projects/{project_id}/labeling-rules", response_class=HTMLResponse)
def rules_page(request: Request, access: AdminAccess, db: DbSession) -> HTMLResponse:
    return render(request, "labeling/rules.html", _rules_page(request, db, access))


@router.post("/projects/{project_id}/labeling-rules", response_class=HTMLResponse, response_model=None)
async def rules_save(request: Request, access: AdminAccess, db: DbSession) -> Response:
    """Form fields: min_view_ms, fast_median_ms and `box_rule_<class id>` per class."""
    form = await request.form()
    box_rules = {key.removeprefix("box_rule_"): value for key, value in form.items() if key.startswith("box_rule_")}
    try:
        data = LabelingRulesIn.model_validate(
            {
                "min_view_ms": form.get("min_view_ms"),
                "fast_median_ms": form.get("fast_median_ms"),
                "box_rules": box_rules,
            }
        )
        with db.begin_nested():  # a refused change disappears with its savepoint
            service.update_labeling_rules(db, project=access.project, data=data, actor=access.user)
    except (ValidationError, Invalid) as exc:
        db.expire_all()
        page = _rules_page(request, db, access)
        page.error = _message(exc)
        return render(request, "labeling/rules.html", page, status_code=422)
    db.commit()
    return redirect_with_flash(request, f"/projects/{access.project.id}/labeling-rules", "Labeling rules saved")


def _rules_page(request: Request, db: DbSession, access: AdminAccess) -> RulesPage:
    return RulesPage(
        project=access.project,
        sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        rules=service.labeling_rules(db, access.project),
    )


def _overlap_page(request: Request, db: DbSession, access: AdminAccess) -> OverlapPage:
    return OverlapPage(
        project=access.project,
        sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        values=service.overlap_settings(access.project),
        images_wanting_labels=service.images_wanting_labels(db, access.project.id),
    )


def _percent(text: str) -> float:
    return float(text.strip().rstrip("%") or 0) / 100.0


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if isinstance(exc, Invalid):
        return exc.message
    return "please enter numbers"
