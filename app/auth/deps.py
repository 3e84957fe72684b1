"""The one gate every route passes: who is calling, CSRF for browser writes, and project roles.

`guard` is installed on the whole app (see app.main), so a new route cannot forget it: every route
requires a logged-in user unless its endpoint is marked `@public`. Routes that act on a project
declare `Depends(require_role(Role.x))` (or the aliases InspectorAccess, ReviewerAccess, AdminAccess),
which answers 404 to non-members (existence is not revealed) and 403 to members whose role is too
low. tests/security walks every route and checks these promises against tests/security/route_roles.py.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from app.auth import service
from app.auth.models import Role, User
from app.auth.service import Principal
from app.auth.tokens import token_principal
from app.core.access import is_public
from app.core.config import Settings
from app.core.db import DbSession
from app.core.errors import Forbidden, NotFound, Unauthorized
from app.core.security import sign, unsign
from app.projects.models import Project

SESSION_COOKIE = "concord_session"
ANON_CSRF_COOKIE = "concord_csrf"  # double-submit token for forms before login
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_FAILED = "the form has expired or did not come from this site; reload the page and try again"
CROSS_SITE = "cross-site request refused"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def client_ip(request: Request) -> str:
    """The caller's address (uvicorn --proxy-headers puts the proxy's X-Forwarded-For here)."""
    return (request.client.host if request.client else "unknown")[:64]


def identify(request: Request, db: DbSession) -> Principal | None:
    """The caller from a Bearer token or the session cookie; a bad Bearer token is refused outright."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("send the API token as `Authorization: Bearer <token>`")
        principal: Principal | None = token_principal(db, token=token.strip())
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        raw = unsign(cookie, request.app.state.secret_key) if cookie else None
        principal = service.session_principal(db, token=raw, settings=settings_of(request)) if raw else None
    if principal is not None and db.dirty:
        db.commit()  # only the last-seen stamp; nothing of the route's has happened yet
    return principal


async def guard(request: Request, principal: Annotated[Principal | None, Depends(identify)]) -> None:
    request.state.principal = principal
    request.state.csrf_token = _csrf_token_for(request, principal)
    if principal is None and not is_public(request.scope.get("endpoint")):
        raise Unauthorized("log in to continue")
    if request.method in SAFE_METHODS or (principal is not None and principal.token is not None):
        return  # reads, and scripts with a Bearer token (no ambient credential to ride on)
    _check_origin(request)
    sent: object = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        sent = (await request.form()).get("csrf_token")  # cached: the route reads the same form
    if not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), request.state.csrf_token.encode()):
        raise Forbidden(CSRF_FAILED)


def _csrf_token_for(request: Request, principal: Principal | None) -> str:
    if principal is not None and principal.session is not None:
        return principal.session.csrf_token
    cookie = request.cookies.get(ANON_CSRF_COOKIE)
    token = unsign(cookie, request.app.state.secret_key) if cookie else None
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_anon_csrf = sign(token, request.app.state.secret_key)
    return token


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _check_origin(request: Request) -> None:
    """Refuse a browser write whose Origin is another site (the token check is the main defence).

    Behind a proxy the browser's origin is the public one: X-Forwarded-Proto/-Host name it. A page
    cannot make a browser send those headers cross-site (they are not CORS-safelisted).
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {_origin_of(settings_of(request).base_url), _origin_of(str(request.base_url))}
    forwarded_host = request.headers.get("x-forwarded-host")
    if forwarded_host:
        scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        allowed.add(f"{scheme}://{forwarded_host.split(',')[0].strip()}")
    if origin not in allowed:
        raise Forbidden(CROSS_SITE)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("log in to continue")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


def require_browser_session(principal: CurrentPrincipal) -> Principal:
    """For acts a stolen API token must not do (mint tokens, change the password): a logged-in browser."""
    if principal.session is None:
        raise Forbidden("this needs a browser login, not an API token")
    return principal


BrowserSession = Annotated[Principal, Depends(require_browser_session)]


def require_site_admin(user: CurrentUser) -> User:
    if not user.is_site_admin:
        raise Forbidden("only a site admin can do this")
    return user


SiteAdmin = Annotated[User, Depends(require_site_admin)]


@dataclass
class ProjectAccess:
    user: User
    project: Project
    role: Role

    def at_least(self, role: Role) -> bool:
        return self.role.rank >= role.rank


def require_role(minimum: Role) -> Callable[..., ProjectAccess]:
    """Dependency: the caller's access to the path's `project_id`, at least `minimum`."""

    def dependency(project_id: int, user: CurrentUser, db: DbSession) -> ProjectAccess:
        project, role = service.project_and_role(db, user=user, project_id=project_id)
        if project is None or role is None:
            raise NotFound("project not found")
        if role.rank < minimum.rank:
            raise Forbidden(f"this needs the {minimum} role in project {project.name}")
        return ProjectAccess(user=user, project=project, role=role)

    dependency.__concord_min_role__ = minimum  # type: ignore[attr-defined]  # read by tests/security
    return dependency


InspectorAccess = Annotated[ProjectAccess, Depends(require_role(Role.inspector))]
ReviewerAccess = Annotated[ProjectAccess, Depends(require_role(Role.reviewer))]
AdminAccess = Annotated[ProjectAccess, Depends(require_role(Role.admin))]
