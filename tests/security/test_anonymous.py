"""Every route not marked @public refuses an anonymous caller, and changes nothing."""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

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


@pytest.mark.slow  # walks every route of the app
def test_every_non_public_route_refuses_anonymous(db: Session, app: FastAPI, client: TestClient, world: World,
                                                  callers: dict[str, Caller]) -> None:
    anonymous = callers["anonymous"]

    def check(route: RouteInfo) -> str | None:
        if route.public:
            return None
        with isolated(db):
            fill = Fill(db, app, world.side(db, "a"), actor=None)
            url = fill_path(route.path, fill, route.key)
            body = sample_body(route, fill)
            before = row_counts(db)
            response = call(client, route, url, anonymous, body=body)
            changed = diff_counts(before, row_counts(db))
        if changed:
            return f"{route.key}: anonymous call changed rows {changed}"
        location = response.headers.get("location", "")
        if route.is_api or response.headers.get("content-type", "").startswith("application/json"):
            ok = response.status_code == 401 and response.headers["content-type"].startswith("application/json")
            wanted = "401 JSON"
        elif route.method == "GET":
            ok = response.status_code == 303 and location.startswith("/login?next=")
            wanted = "303 to /login?next=..."
        else:
            ok = response.status_code == 303 and location.startswith("/login")
            wanted = "303 to /login"
        return None if ok else f"{route.key}: anonymous got {describe(response)}; wanted {wanted}"

    problems = for_each(api_routes(app), check)
    assert not problems, "\n".join(problems)


def test_a_page_sends_anonymous_to_login_and_back(client: TestClient, world: World) -> None:
    project_id = world.a[0]
    response = client.get(f"/projects/{project_id}?tab=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/projects/{project_id}%3Ftab%3D1"


def test_an_api_call_without_credentials_gets_json_401(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"] == "Login required"
