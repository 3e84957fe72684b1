"""Site admin pages: people (create, list, deactivate) and projects (create, list). No self-registration:
accounts exist only because a site admin (or the operator's CLI) made them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.deps import SiteAdmin
from app.auth.models import User
from app.core.db import DbSession
from app.core.errors import Conflict, Invalid
from app.core.flash import redirect_with_flash
from app.core.listing import SortOrder
from app.core.templating import render
from app.projects import service as project_service
from app.projects.models import Project, TaskType

router = APIRouter(prefix="/admin")


@dataclass
class UserForm:
    email: str = ""
    display_name: str = ""
    is_site_admin: bool = False


@dataclass
class UsersPage:
    users: Sequence[User]
    project_counts: dict[int, int]
    me_id: int
    form: UserForm = field(default_factory=UserForm)
    error: str | None = None


@dataclass
class ProjectForm:
    name: str = ""
    classes: str = ""
    task_type: str = TaskType.both
    description: str = ""
    labels_per_image: int = 1


@dataclass
class ProjectsPage:
    projects: Sequence[Project]
    member_counts: dict[int, int]
    task_types: list[str] = field(default_factory=lambda: [t.value for t in TaskType])
    form: ProjectForm = field(default_factory=ProjectForm)
    error: str | None = None


def _users_page(db: Session, admin: User, order: SortOrder | None = None, **extra: object) -> UsersPage:
    return UsersPage(users=service.list_users(db, order=order), project_counts=service.membership_counts(db),
                     me_id=admin.id, **extra)  # type: ignore[arg-type]


def _projects_page(db: Session, admin: User, **extra: object) -> ProjectsPage:
    return ProjectsPage(projects=project_service.projects_for(db, admin),
                        member_counts=service.member_counts_by_project(db), **extra)  # type: ignore[arg-type]


@router.get("")
def admin_home(_admin: SiteAdmin) -> RedirectResponse:
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, admin: SiteAdmin, db: DbSession,
          order: Annotated[SortOrder, service.USER_SORT.depends]) -> HTMLResponse:
    return render(request, "admin/users.html", _users_page(db, admin, order))


@router.post("/users", response_class=HTMLResponse)
def create_user(
    request: Request, admin: SiteAdmin, db: DbSession,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    display_name: Annotated[str, Form(max_length=120)] = "",
    is_site_admin: Annotated[bool, Form()] = False,
) -> Response:
    try:
        with db.begin_nested():  # a refusal undoes only this attempt
            user = service.create_user(db, email=email, display_name=display_name, password=password,
                                       is_site_admin=is_site_admin, actor=admin)
    except (Invalid, Conflict) as exc:
        form = UserForm(email=email, display_name=display_name, is_site_admin=is_site_admin)
        page = _users_page(db, admin, form=form, error=exc.message)
        return render(request, "admin/users.html", page, status_code=exc.status_code)
    db.commit()
    return redirect_with_flash(request, "/admin/users", f"Created {user.email}.")


@router.post("/users/{user_id}/active")
def set_active(request: Request, user_id: int, admin: SiteAdmin, db: DbSession,
               active: Annotated[bool, Form()]) -> RedirectResponse:
    user = service.set_user_active(db, user_id=user_id, active=active, actor=admin)
    db.commit()
    state = "reactivated" if active else "deactivated; their sessions ended"
    return redirect_with_flash(request, "/admin/users", f"{user.email} {state}.")


@router.get("/projects", response_class=HTMLResponse)
def projects(request: Request, admin: SiteAdmin, db: DbSession) -> HTMLResponse:
    return render(request, "admin/projects.html", _projects_page(db, admin))


@router.post("/projects", response_class=HTMLResponse)
def create_project(
    request: Request, admin: SiteAdmin, db: DbSession,
    name: Annotated[str, Form(max_length=120)],
    classes: Annotated[str, Form(max_length=5000)],
    task_type: Annotated[TaskType, Form()] = TaskType.both,
    description: Annotated[str, Form(max_length=2000)] = "",
    labels_per_image: Annotated[int, Form(ge=1, le=20)] = 1,
) -> Response:
    spec = project_service.ProjectSpec(name=name, classes=project_service.parse_class_list(classes),
                                       task_type=task_type, description=description,
                                       labels_per_image=labels_per_image)
    try:
        with db.begin_nested():  # a half-made project (classes refused) disappears with the savepoint
            project = project_service.create_project(db, spec=spec, creator=admin)
    except (Invalid, Conflict) as exc:
        form = ProjectForm(name=name, classes=classes, task_type=task_type, description=description,
                           labels_per_image=labels_per_image)
        page = _projects_page(db, admin, form=form, error=exc.message)
        return render(request, "admin/projects.html", page, status_code=exc.status_code)
    db.commit()
    return redirect_with_flash(request, f"/projects/{project.id}/members", "Project created; add its members.")
