"""The identity JSON API under /api/v1: me, my projects, users, project members, API tokens.

Scripts send `Authorization: Bearer <token>`; the pages' own fetches use the session cookie and the
X-CSRF-Token header. Role checks are the same either way (the guard and the typed access dependencies).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from app.auth import members, service, tokens
from app.auth.deps import AdminAccess, BrowserSession, CurrentPrincipal, CurrentUser, SiteAdmin, settings_of
from app.auth.models import Role
from app.auth.schemas import (
    MemberIn,
    MemberOut,
    MeOut,
    ProjectIn,
    ProjectOut,
    RoleIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from app.core.db import DbSession
from app.core.listing import FilterSet, SortOrder
from app.projects import service as project_service

router = APIRouter(prefix="/api/v1", tags=["identity"])

NO_CONTENT = {"status_code": 204, "response_class": Response}


@router.get("/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    auth = "session" if principal.session is not None else "token"
    return MeOut.model_validate({**UserOut.model_validate(principal.user).model_dump(), "auth": auth})


@router.get("/projects", response_model=list[ProjectOut])
def my_projects(user: CurrentUser, db: DbSession) -> list[ProjectOut]:
    roles = service.roles_of(db, user=user)
    return [_project_out(p, Role.admin if user.is_site_admin else roles.get(p.id))
            for p in project_service.projects_for(db, user)]


@router.post("/projects", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectIn, user: SiteAdmin, db: DbSession) -> ProjectOut:
    classes = [project_service.ClassSpec(name=c) if isinstance(c, str) else project_service.ClassSpec(**c.model_dump())
               for c in body.classes]
    spec = project_service.ProjectSpec(name=body.name, classes=classes, task_type=body.task_type,
                                       description=body.description, labels_per_image=body.labels_per_image)
    project = project_service.create_project(db, spec=spec, creator=user)
    db.commit()
    return _project_out(project, Role.admin)


@router.get("/users", response_model=list[UserOut])
def list_users(_admin: SiteAdmin, db: DbSession, order: Annotated[SortOrder, service.USER_SORT.depends],
               filters: Annotated[FilterSet, service.USER_FILTER.depends]) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in service.list_users(db, order=order, filters=filters)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, admin: SiteAdmin, db: DbSession) -> UserOut:
    user = service.create_user(db, email=body.email, display_name=body.display_name, password=body.password,
                               is_site_admin=body.is_site_admin, actor=admin)
    db.commit()
    return UserOut.model_validate(user)


@router.get("/projects/{project_id}/members", response_model=list[MemberOut])
def list_members(access: AdminAccess, db: DbSession, order: Annotated[SortOrder, members.MEMBER_SORT.depends],
                 filters: Annotated[FilterSet, members.MEMBER_FILTER.depends]) -> list[MemberOut]:
    found = members.list_members(db, project_id=access.project.id, order=order, filters=filters)
    return [MemberOut.model_validate(m) for m in found]


@router.post("/projects/{project_id}/members", response_model=MemberOut, status_code=201)
def add_member(body: MemberIn, access: AdminAccess, db: DbSession) -> MemberOut:
    member = members.add_member(db, project_id=access.project.id, email=body.email, role=body.role, actor=access.user)
    db.commit()
    return MemberOut.model_validate(member)


@router.patch("/projects/{project_id}/members/{user_id}", response_model=MemberOut)
def change_role(user_id: int, body: RoleIn, access: AdminAccess, db: DbSession) -> MemberOut:
    member = members.change_role(db, project_id=access.project.id, user_id=user_id, role=body.role, actor=access.user)
    db.commit()
    return MemberOut.model_validate(member)


@router.delete("/projects/{project_id}/members/{user_id}", **NO_CONTENT)  # type: ignore[arg-type]
def remove_member(user_id: int, access: AdminAccess, db: DbSession) -> Response:
    members.remove_member(db, project_id=access.project.id, user_id=user_id, actor=access.user)
    db.commit()
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: CurrentUser, db: DbSession) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in tokens.tokens_of(db, user_id=user.id)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(request: Request, body: TokenIn, principal: BrowserSession, db: DbSession) -> TokenCreated:
    """Only from a logged-in browser: a leaked token must not be able to mint tokens that outlive it."""
    token, raw = tokens.create_token(db, user=principal.user, name=body.name, actor=principal.user,
                                     days=body.expires_in_days, max_days=settings_of(request).token_max_days)
    db.commit()
    return TokenCreated.model_validate({**TokenOut.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", **NO_CONTENT)  # type: ignore[arg-type]
def revoke_token(token_id: int, user: CurrentUser, db: DbSession) -> Response:
    tokens.revoke_token(db, token_id=token_id, user_id=user.id, actor=user)
    db.commit()
    return Response(status_code=204)


def _project_out(project: object, role: Role | None) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.role = role
    return out
