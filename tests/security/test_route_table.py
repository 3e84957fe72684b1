"""Every route is in the role table (#19), every route passes the guard, nothing slips past the router."""
from __future__ import annotations

from fastapi import FastAPI

from app.auth.deps import guard
from tests.security.route_roles import LEVELS, PUBLIC, ROUTE_ROLES
from tests.security.walk import NON_API_ROUTES, app_routes


def test_the_role_table_lists_exactly_the_routes_of_the_app(app: FastAPI) -> None:
    routes = {r.key: r for r in app_routes(app) if r.method != "MOUNT"}
    missing = sorted(set(routes) - set(ROUTE_ROLES))
    stale = sorted(set(ROUTE_ROLES) - set(routes))
    bad = sorted(k for k, level in ROUTE_ROLES.items() if level not in LEVELS)
    message = []
    if missing:
        message.append("Routes missing from tests/security/route_roles.py. Add to ROUTE_ROLES, in your domain's "
                       "block (the level shown is what the route's dependencies declare; raise it if the "
                       "route checks more in its service):")
        message += [f'    "{k}": {routes[k].declared_level().upper()},' for k in missing]
    if stale:
        message.append("Routes in tests/security/route_roles.py that the app no longer has; remove these lines:")
        message += [f'    "{k}": ...' for k in stale]
    if bad:
        message.append(f"Unknown levels (use one of {', '.join(LEVELS)}): {bad}")
    assert not message, "\n".join(message)


def test_public_in_the_table_means_marked_public_in_the_code(app: FastAPI) -> None:
    wrong = [f"{r.key}: table says {ROUTE_ROLES[r.key]}, code says {'public' if r.public else 'login required'}"
             for r in app_routes(app) if r.key in ROUTE_ROLES and (ROUTE_ROLES[r.key] == PUBLIC) != r.public]
    assert not wrong, "\n".join(wrong)


def test_every_route_goes_through_the_guard(app: FastAPI) -> None:
    """A plain Starlette route or a mounted sub-app would skip the guard; only the listed ones may exist."""
    unguarded = []
    for route in app_routes(app):
        key = route.key if route.method != "MOUNT" else f"MOUNT {route.path}"
        if route.dependant is None:
            if key not in NON_API_ROUTES:
                unguarded.append(f"{key}: not an APIRoute (the guard never runs); use an APIRouter route")
        elif guard not in route.calls():
            unguarded.append(f"{key}: the app-wide guard is not among its dependencies")
    assert not unguarded, "\n".join(unguarded)


def test_no_self_registration_route_exists(app: FastAPI) -> None:
    words = ("register", "signup", "sign-up", "sign_up", "join", "invite/accept")
    found = [r.key for r in app_routes(app) if any(w in r.path.lower() for w in words)]
    assert found == [], f"accounts are made by site admins only (#16); found {found}"


def test_the_table_lists_each_route_once() -> None:
    """A dict literal silently keeps the last of two equal keys; with several editors, say so instead."""
    import ast
    from collections import Counter
    from pathlib import Path

    tree = ast.parse(Path(__file__).with_name("route_roles.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") in ("ROUTE_ROLES", "SAMPLE_BODIES"):
            assert isinstance(node.value, ast.Dict)
            keys = Counter(k.value for k in node.value.keys if isinstance(k, ast.Constant))
            twice = sorted(k for k, n in keys.items() if n > 1)
            assert not twice, f"listed twice in {node.target.id}: {twice}; keep one line each"  # type: ignore[attr-defined]
