"""The routes of the real app, callers (personas) and how to call a route as one of them.

Routes come from `create_app()`'s router itself, so routes added later are covered
without anyone editing the tests (only tests/security/route_roles.py, whose test says what to add).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.routing import Mount

import app.models  # noqa: F401  (every table in the metadata)
from app.auth import service as auth_service
from app.auth.deps import ANON_CSRF_COOKIE, SESSION_COOKIE, require_browser_session, require_site_admin
from app.auth.models import User
from app.core.access import is_public
from app.core.db import Base
from app.core.security import sign
from tests.security.route_roles import ADMIN, INSPECTOR, PUBLIC, REVIEWER, SAMPLE_BODIES, SITE_ADMIN, USER

# Routes that are not FastAPI APIRoutes (so the guard does not run on them), allowed on purpose.
NON_API_ROUTES = {"GET /openapi.json": "FastAPI's API description; holds no data", "MOUNT /static": "CSS/JS/icons"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SUSPICIOUS_QUERY = {"sort", "sort_by", "order", "order_by", "ordering", "filter", "filters", "where", "fields"}

ALLOWED, LOGIN, FORBIDDEN, HIDDEN, ERROR = "allowed", "login", "forbidden", "hidden", "server error"
_DENY = {"anonymous": LOGIN}
EXPECTED: dict[str, dict[str, str]] = {
    PUBLIC: {},
    USER: _DENY,
    INSPECTOR: {**_DENY, "non_member": HIDDEN},
    REVIEWER: {**_DENY, "non_member": HIDDEN, "inspector": FORBIDDEN},
    ADMIN: {**_DENY, "non_member": HIDDEN, "inspector": FORBIDDEN, "reviewer": FORBIDDEN},
    SITE_ADMIN: {**_DENY, "non_member": FORBIDDEN, "inspector": FORBIDDEN, "reviewer": FORBIDDEN, "admin": FORBIDDEN},
}


def expected(level: str, persona: str) -> str:
    return EXPECTED[level].get(persona, ALLOWED)


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    endpoint: Any
    dependant: Dependant | None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return self.dependant is None or is_public(self.endpoint)

    @property
    def state_changing(self) -> bool:
        return self.method in STATE_CHANGING

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    def calls(self) -> list[Any]:
        return [d.call for d in _walk(self.dependant)] if self.dependant else []

    @property
    def needs_browser_session(self) -> bool:
        return require_browser_session in self.calls()

    def declared_level(self) -> str:
        """The level the code's dependencies declare (used to suggest the table line)."""
        if self.public:
            return PUBLIC
        calls = self.calls()
        if require_site_admin in calls:
            return SITE_ADMIN
        roles = [getattr(c, "__concord_min_role__") for c in calls if hasattr(c, "__concord_min_role__")]
        return str(max(roles, key=lambda r: r.rank)) if roles else USER

    def body_kind(self) -> str | None:
        if self.dependant is None:
            return None
        fields = [f for d in _walk(self.dependant) for f in d.body_params]
        if not fields:
            return None
        return "form" if any(isinstance(f.field_info, (params.Form, params.File)) for f in fields) else "json"

    def query_params(self) -> list[tuple[str, Any]]:
        """(name, the dependency declaring it) for every query parameter, sub-dependencies included."""
        return [(q.alias or q.name, d.call) for d in _walk(self.dependant) for q in d.query_params] \
            if self.dependant else []


def _walk(dependant: Dependant | None) -> Iterator[Dependant]:
    if dependant is None:
        return
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def app_routes(app: FastAPI) -> list[RouteInfo]:
    routes = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, Mount):
            routes.append(RouteInfo("MOUNT", original.path, None, None))
            continue
        dependant = context.dependant if isinstance(original, APIRoute) else None
        for method in sorted(context.methods or []):
            if method == "HEAD" and "GET" in (context.methods or ()):
                continue
            routes.append(RouteInfo(method, context.path, context.endpoint, dependant))
    return routes


def api_routes(app: FastAPI) -> list[RouteInfo]:
    return [r for r in app_routes(app) if r.dependant is not None]


# ---- callers ------------------------------------------------------------------------------------------

@dataclass
class Caller:
    persona: str
    user_id: int | None
    cookies: dict[str, str]
    csrf: str
    bearer: str | None = None


def session_caller(db: Session, app: FastAPI, persona: str, user: User | None) -> Caller:
    """A caller with a live browser session (or, for anonymous, the pre-login double-submit cookie)."""
    if user is None:
        token = "anonymous-form-token"
        return Caller(persona, None, {ANON_CSRF_COOKIE: sign(token, app.state.secret_key)}, token)
    session, raw = auth_service.start_session(db, user=user, settings=app.state.settings, ip="testclient",
                                              user_agent="security-tests")
    db.flush()
    return Caller(persona, user.id, {SESSION_COOKIE: sign(raw, app.state.secret_key)}, session.csrf_token)


def call(client: TestClient, route: RouteInfo, url: str, caller: Caller, *, body: Any = None,
         csrf: str | bool | None = True, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request as `caller`: its cookies (or bearer token), its CSRF header unless `csrf` says otherwise."""
    client.cookies.clear()
    sent = dict(headers or {})
    if caller.bearer is not None:
        sent["Authorization"] = f"Bearer {caller.bearer}"
    else:
        for name, value in caller.cookies.items():
            client.cookies.set(name, value)
        if csrf is True:
            sent["X-CSRF-Token"] = caller.csrf
        elif isinstance(csrf, str):
            sent["X-CSRF-Token"] = csrf
    kwargs: dict[str, Any] = {"headers": sent, "follow_redirects": False}
    if route.state_changing:
        kind = route.body_kind()
        if kind == "form":
            kwargs["data"] = body or {}
        elif kind == "json":
            kwargs["json"] = body if body is not None else {}
    return client.request(route.method, url, **kwargs)


def sample_body(route: RouteInfo, fill: Any) -> Any:
    sample = SAMPLE_BODIES.get(route.key)
    return sample(fill) if callable(sample) else sample


def outcome(response: httpx.Response) -> str:
    status = response.status_code
    location = response.headers.get("location", "")
    if status >= 500:
        return ERROR
    if status == 401 or (status in (302, 303, 307) and location.startswith("/login?next=")):
        return LOGIN
    return {403: FORBIDDEN, 404: HIDDEN}.get(status, ALLOWED)


def describe(response: httpx.Response) -> str:
    text = response.text[:160].replace("\n", " ")
    return f"{response.status_code} {response.headers.get('location', '')} {text}".strip()


# ---- the database, before and after ----------------------------------------------------------------------

VOLATILE = {("user_sessions", "last_seen_at"), ("api_tokens", "last_used_at")}


def row_counts(db: Session) -> dict[str, int]:
    """Rows per table, in one round trip."""
    tables = Base.metadata.sorted_tables
    counts = db.execute(select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name)
                                 for t in tables))).one()
    return dict(zip((t.name for t in tables), counts, strict=True))


def all_rows(db: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (minus last-seen stamps), in primary-key order: "byte-identical" means equal."""
    snapshot = {}
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
        query = select(*columns).order_by(*table.primary_key.columns)
        snapshot[table.name] = [tuple(row) for row in db.execute(query)]
    return snapshot


def diff_counts(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}


@contextmanager
def isolated(db: Session) -> Iterator[None]:
    """Everything inside (fills and the request's commits) is rolled back afterwards.

    The test session runs in savepoints of one connection; this adds a savepoint beneath the
    session's own, rolls back to it, and forgets every loaded object (ids may be reused).
    """
    db.commit()
    connection = db.get_bind()
    savepoint = connection.begin_nested()  # type: ignore[union-attr]
    try:
        yield
    finally:
        db.rollback()
        savepoint.rollback()
        db.expunge_all()


def for_each(routes: list[RouteInfo], check: Callable[[RouteInfo], str | None]) -> list[str]:
    """Run `check` on each route; collect its complaints (one line each) so one run reports them all."""
    from tests.security.fill import MissingFiller

    problems = []
    for route in routes:
        try:
            problem = check(route)
        except MissingFiller as exc:
            problem = str(exc)
        if problem:
            problems.append(problem)
    return problems
