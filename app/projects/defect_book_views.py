"""Defect book pages: read it (everyone in the project), edit it (reviewers), change the taxonomy (admins)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.deps import AdminAccess, InspectorAccess, ProjectAccess, ReviewerAccess
from app.auth.models import Role
from app.core.db import DbSession
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid
from app.core.flash import redirect_with_flash
from app.core.templating import render
from app.images.models import Image
from app.projects import defect_book, taxonomy
from app.projects.models import Project
from app.projects.navigation import NavLink, sections_for
from app.review.media import thumbnail_url

router = APIRouter()
Text = Annotated[str, Form(max_length=defect_book.MAX_DEFINITION)]
Name = Annotated[str, Form(max_length=80)]


@dataclass
class BookPage:
    book: defect_book.DefectBook
    sections: list[NavLink]
    can_edit: bool
    can_change_taxonomy: bool
    thumbs: dict[int, str]
    error: str | None = None  # a refused change, said on the form's own response (it may repeat the input)


@dataclass
class RelabelPage:
    project: Project
    sections: list[NavLink]
    scope: defect_book.RelabelScope


def _base(project_id: int) -> str:
    return f"/projects/{project_id}/defect-book"


def _apply(request: Request, db: Session, access: ProjectAccess, change: Callable[[], object], done: str, *,
           to: str = "") -> Response:
    """Run a change, commit, and go back with a one-line result (the app's words: `done`). A refused
    change (422/409) rolls back and is said on the book page of this response, never carried in a
    redirect; NotFound and Forbidden propagate (another project's ids answer 404)."""
    project = access.project
    try:
        result = change()
        db.commit()
    except (Invalid, ConflictError) as exc:
        db.rollback()
        return _render_book(request, db, access, None, error=exc.message, status_code=exc.status_code)
    return redirect_with_flash(request, to or _base(project.id), done.format(version=project.defect_book_version,
                                                                             result=result))


def _render_book(request: Request, db: Session, access: ProjectAccess, since: int | None, *,
                 error: str | None = None, status_code: int = 200) -> HTMLResponse:
    book = defect_book.read_book(db, project=access.project, since=since)
    ids = {e.image_id for c in book.classes + book.retired for e in c.examples + c.counter_examples}
    images = db.scalars(select(Image).where(Image.id.in_(ids))).all() if ids else []
    return render(request, "projects/defect_book.html", BookPage(
        book=book, sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        can_edit=access.at_least(Role.reviewer), can_change_taxonomy=access.at_least(Role.admin),
        thumbs={i.id: thumbnail_url(i) for i in images}, error=error), status_code=status_code)


@router.get("/projects/{project_id}/defect-book", response_class=HTMLResponse)
def book_page(request: Request, access: InspectorAccess, db: DbSession,
              since: Annotated[int | None, Query(ge=0)] = None) -> HTMLResponse:
    return _render_book(request, db, access, since)


@router.post("/projects/{project_id}/defect-book/classes/{class_id}/definition")
def edit_definition(request: Request, class_id: int, access: ReviewerAccess, db: DbSession, definition: Text,
                    seen_version: Annotated[int, Form()]) -> Response:
    """A new definition is a new version; then offer to send the class's earlier labels back."""
    project = access.project
    return _apply(request, db, access, lambda: defect_book.edit_definition(
        db, project=project, class_id=class_id, definition=definition, seen_version=seen_version, actor=access.user),
        "Definition saved as version {version}.",
        to=f"{_base(project.id)}/relabel?class_id={class_id}&version={project.defect_book_version + 1}")


@router.get("/projects/{project_id}/defect-book/relabel", response_class=HTMLResponse)
def relabel_page(request: Request, access: ReviewerAccess, db: DbSession, class_id: Annotated[int, Query()],
                 version: Annotated[int, Query(ge=1)]) -> HTMLResponse:
    scope = defect_book.relabel_scope(db, project=access.project, class_id=class_id, version=version)
    return render(request, "projects/defect_book_relabel.html", RelabelPage(
        project=access.project, scope=scope,
        sections=sections_for(request.app, project_id=access.project.id, role=access.role)))


@router.post("/projects/{project_id}/defect-book/relabel")
def send_for_relabel(request: Request, access: ReviewerAccess, db: DbSession, class_id: Annotated[int, Form()],
                     version: Annotated[int, Form()],
                     confused_with_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    other = int(confused_with_id) if confused_with_id.isdigit() else None
    return _apply(request, db, access, lambda: defect_book.send_for_relabel(
        db, project=access.project, class_id=class_id, version=version, confused_with_id=other, actor=access.user),
        "{result} earlier labels sent back to their labelers, first in their queues.")


@router.post("/projects/{project_id}/defect-book/examples")
def add_example(request: Request, access: ReviewerAccess, db: DbSession, label_class_id: Annotated[int, Form()],
                file_name: Annotated[str, Form(max_length=255)], note: Text = "",
                counter_example: Annotated[bool, Form()] = False) -> Response:
    def change() -> None:
        image = defect_book.image_by_name(db, access.project.id, file_name)
        defect_book.add_example(db, project=access.project, class_id=label_class_id, image_id=image.id, note=note,
                                counter_example=counter_example, actor=access.user)

    return _apply(request, db, access, change, "Example added (version {version}).")


@router.post("/projects/{project_id}/defect-book/examples/{example_id}/remove")
def remove_example(request: Request, example_id: int, access: ReviewerAccess, db: DbSession) -> Response:
    return _apply(request, db, access, lambda: defect_book.remove_example(
        db, project=access.project, example_id=example_id, actor=access.user), "Example removed (version {version}).")


@router.post("/projects/{project_id}/defect-book/taxonomy/rename")
def rename(request: Request, access: AdminAccess, db: DbSession, class_id: Annotated[int, Form()],
           name: Name) -> Response:
    return _apply(request, db, access, lambda: taxonomy.rename_class(
        db, project=access.project, class_id=class_id, name=name, actor=access.user), "Renamed (version {version}).")


@router.post("/projects/{project_id}/defect-book/taxonomy/merge")
def merge(request: Request, access: AdminAccess, db: DbSession, source_id: Annotated[int, Form()],
          target_id: Annotated[int, Form()]) -> Response:
    return _apply(request, db, access, lambda: taxonomy.merge_classes(
        db, project=access.project, source_id=source_id, target_id=target_id, actor=access.user),
        "Merged (version {version}). Undo it from the change list.")


@router.post("/projects/{project_id}/defect-book/taxonomy/split")
def split(request: Request, access: AdminAccess, db: DbSession, class_id: Annotated[int, Form()], name_a: Name,
          name_b: Name, definition_a: Text = "", definition_b: Text = "", note: Text = "") -> Response:
    parts = [taxonomy.NewClass(name_a, definition_a), taxonomy.NewClass(name_b, definition_b)]
    return _apply(request, db, access, lambda: taxonomy.split_class(
        db, project=access.project, class_id=class_id, into=parts, note=note, actor=access.user),
        "Split (version {version}); its images went back to their labelers.")


@router.post("/projects/{project_id}/defect-book/versions/{version}/revert")
def revert(request: Request, version: int, access: AdminAccess, db: DbSession) -> Response:
    return _apply(request, db, access, lambda: taxonomy.revert_change(
        db, project=access.project, version=version, actor=access.user), "Undone by version {version}.")
