"""/projects/{project_id}/members: a project admin adds people by email, changes roles, removes them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.auth import members
from app.auth.deps import AdminAccess, ProjectAccess
from app.auth.members import Member
from app.auth.models import Role
from app.core.db import DbSession
from app.core.errors import Conflict, Invalid
from app.core.flash import redirect_with_flash
from app.core.listing import SortOrder
from app.core.templating import render
from app.projects.models import Project

router = APIRouter()


@dataclass
class MembersPage:
    project: Project
    members: list[Member]
    me_id: int
    roles: list[str] = field(default_factory=lambda: [r.value for r in Role])
    add_email: str = ""
    add_role: str = Role.inspector
    error: str | None = None


def _page(db: Session, access: ProjectAccess, order: SortOrder | None = None, **extra: object) -> MembersPage:
    found = members.list_members(db, project_id=access.project.id, order=order)
    return MembersPage(project=access.project, members=found, me_id=access.user.id, **extra)  # type: ignore[arg-type]


def _back(request: Request, project_id: int, message: str) -> RedirectResponse:
    return redirect_with_flash(request, f"/projects/{project_id}/members", message)


@router.get("/projects/{project_id}/members", response_class=HTMLResponse)
def members_page(request: Request, access: AdminAccess, db: DbSession,
                 order: Annotated[SortOrder, members.MEMBER_SORT.depends]) -> HTMLResponse:
    return render(request, "auth/members.html", _page(db, access, order))


@router.post("/projects/{project_id}/members", response_class=HTMLResponse)
def add_member(request: Request, access: AdminAccess, db: DbSession, email: Annotated[str, Form(max_length=254)],
               role: Annotated[Role, Form()] = Role.inspector) -> Response:
    try:
        with db.begin_nested():  # a refusal undoes only this attempt
            member = members.add_member(db, project_id=access.project.id, email=email, role=role, actor=access.user)
    except (Invalid, Conflict) as exc:
        page = _page(db, access, add_email=email, add_role=role, error=exc.message)
        return render(request, "auth/members.html", page, status_code=exc.status_code)
    db.commit()
    return _back(request, access.project.id, f"Added {member.email} as {member.role}.")


@router.post("/projects/{project_id}/members/{user_id}/role", response_class=HTMLResponse)
def change_role(request: Request, user_id: int, access: AdminAccess, db: DbSession,
                role: Annotated[Role, Form()]) -> Response:
    try:
        with db.begin_nested():
            member = members.change_role(db, project_id=access.project.id, user_id=user_id, role=role,
                                         actor=access.user)
    except Conflict as exc:
        return render(request, "auth/members.html", _page(db, access, error=exc.message), status_code=409)
    db.commit()
    return _back(request, access.project.id, f"{member.email} is now {member.role}.")


@router.post("/projects/{project_id}/members/{user_id}/remove", response_class=HTMLResponse)
def remove_member(request: Request, user_id: int, access: AdminAccess, db: DbSession) -> Response:
    member = members.get_member(db, project_id=access.project.id, user_id=user_id)
    try:
        with db.begin_nested():
            members.remove_member(db, project_id=access.project.id, user_id=user_id, actor=access.user)
    except Conflict as exc:
        return render(request, "auth/members.html", _page(db, access, error=exc.message), status_code=409)
    db.commit()
    return _back(request, access.project.id, f"Removed {member.email} from the project.")
