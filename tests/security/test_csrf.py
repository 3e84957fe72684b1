"""CSRF (#24, #26): every state-changing route refuses a browser request without the session's token,
with another session's token, or from another origin — 403 and no row changed; behind a proxy
(X-Forwarded-Proto/-Host) a legitimate request passes.
"""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.deps import CROSS_SITE, CSRF_FAILED
from tests.security.fill import Fill, World, fill_path
from tests.security.walk import (
    Caller,
    RouteInfo,
    api_routes,
    call,
    describe,
    diff_counts,
    for_each,
    isolated,
    row_counts,
    sample_body,
)

PROXY = {"Origin": "https://concord.example.com", "X-Forwarded-Proto": "https",
         "X-Forwarded-Host": "concord.example.com"}


def _caller_for(route: RouteInfo, callers: dict[str, Caller]) -> Caller:
    # A site admin passes every access check, so only CSRF can refuse; public forms: an anonymous visitor.
    return callers["anonymous"] if route.public else callers["site_admin"]


@pytest.mark.slow  # walks every route of the app
def test_state_changing_routes_refuse_forged_requests(db: Session, app: FastAPI, client: TestClient, world: World,
                                                      callers: dict[str, Caller]) -> None:
    other_session_token = callers["admin"].csrf
    attempts = {
        "no token": ({"csrf": False, "headers": {}}, CSRF_FAILED),
        "another session's token": ({"csrf": other_session_token, "headers": {}}, CSRF_FAILED),
        "Origin: https://evil.example": ({"csrf": True, "headers": {"Origin": "https://evil.example"}}, CROSS_SITE),
        "Origin: null": ({"csrf": True, "headers": {"Origin": "null"}}, CROSS_SITE),
    }

    def check(route: RouteInfo) -> str | None:
        caller = _caller_for(route, callers)
        for name, (options, message) in attempts.items():
            with isolated(db):
                fill = Fill(db, app, world.side(db, "a"), actor=world.user(db, caller.persona))
                url = fill_path(route.path, fill, route.key)
                body = sample_body(route, fill)
                before = row_counts(db)
                response = call(client, route, url, caller, body=body, **options)  # type: ignore[arg-type]
                changed = diff_counts(before, row_counts(db))
            if response.status_code != 403 or message not in response.text:
                return f"{route.key} with {name}: wanted 403 ({message}), got {describe(response)}"
            if changed:
                return f"{route.key} with {name}: refused, but rows changed {changed}"
        return None

    problems = for_each([r for r in api_routes(app) if r.state_changing], check)
    assert not problems, "\n".join(problems)


@pytest.mark.slow  # walks every route of the app
def test_a_legitimate_request_behind_a_proxy_passes(db: Session, app: FastAPI, client: TestClient, world: World,
                                                    callers: dict[str, Caller]) -> None:
    """Through a trusted proxy (`--proxy-headers`, the proxy on the loopback) the public origin passes."""
    saved = app.state.settings
    app.state.settings = saved.model_copy(update={"proxy_headers": True})
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False, client=("127.0.0.1", 9))

    def check(route: RouteInfo) -> str | None:
        caller = _caller_for(route, callers)
        with isolated(db):
            fill = Fill(db, app, world.side(db, "a"), actor=world.user(db, caller.persona))
            url = fill_path(route.path, fill, route.key)
            response = call(client, route, url, caller, body=sample_body(route, fill), headers=PROXY)
        if response.status_code == 403 and (CSRF_FAILED in response.text or CROSS_SITE in response.text):
            return f"{route.key}: a same-site request through the proxy was refused: {describe(response)}"
        return None

    try:
        problems = for_each([r for r in api_routes(app) if r.state_changing], check)
    finally:
        app.state.settings = saved
    assert not problems, "\n".join(problems)


def test_the_login_form_carries_a_token_that_its_post_requires(anon: TestClient) -> None:
    page = anon.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"email": "nobody@example.com", "password": "wrong password 1"}
    assert anon.post("/login", data=form).status_code == 403  # cookie alone is not enough
    assert anon.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    assert anon.post("/login", data={**form, "csrf_token": token}).status_code == 401  # checked, then refused


def test_a_bearer_token_needs_no_csrf_token(db: Session, client: TestClient, world: World) -> None:
    """Scripts carry no ambient credential a page could ride on; Origin does not matter to them."""
    from app.auth import tokens

    admin = world.user(db, "admin")
    assert admin is not None
    _token, raw = tokens.create_token(db, user=admin, name="script", actor=None, max_days=90)
    newcomer = world.user(db, "non_member")
    assert newcomer is not None
    response = client.post(f"/api/v1/projects/{world.a[0]}/members", json={"email": newcomer.email},
                           headers={"Authorization": f"Bearer {raw}", "Origin": "https://evil.example"})
    assert response.status_code == 201
