"""IDOR (#20, #22): guessed ids of another project answer 404 and leave every row byte-identical.

(1) An inspector of A calls every route of B with B's real ids: 404 (site-admin-only routes: 403).
(2) An admin of A calls A's routes with B's object ids (images, conflicts, versions...) and an
    otherwise valid body (SAMPLE_BODIES, made of A's objects): 404 — the object lookup itself is
    scoped by the path's project, not only the role check (the Label Studio /api/annotations/{id}
    bug). A page form may instead redirect with a message, provided nothing changed.
Routes without a project: a user's own things (tokens) with another user's ids: 404.
"""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.fill import Fill, World, fill_path, path_params
from tests.security.route_roles import ROUTE_ROLES, SAMPLE_BODIES, SITE_ADMIN
from tests.security.walk import Caller, RouteInfo, all_rows, api_routes, call, describe, for_each, isolated, sample_body


def _attempt(db: Session, app: FastAPI, client: TestClient, route: RouteInfo, caller: Caller, fill: Fill,
             project_id: int | None, body: object) -> tuple[int, str, bool]:
    url = fill_path(route.path, fill, route.key)
    if project_id is not None:
        url = url.replace(f"/projects/{fill.project.id}", f"/projects/{project_id}", 1)
    before = all_rows(db)
    response = call(client, route, url, caller, body=body)
    return response.status_code, describe(response), all_rows(db) == before


@pytest.mark.slow  # walks every route of the app
def test_an_inspector_of_a_gets_404_for_everything_of_b(db: Session, app: FastAPI, client: TestClient, world: World,
                                                        callers: dict[str, Caller]) -> None:
    caller = callers["inspector"]

    def check(route: RouteInfo) -> str | None:
        if route.public or not path_params(route.path):
            return None
        wanted = {403} if ROUTE_ROLES.get(route.key) == SITE_ADMIN else {404}
        with isolated(db):
            side_b = world.side(db, "b")
            # B's objects; per-user ones (tokens, jobs) belong to B's inspector, not to the caller.
            fill = Fill(db, app, side_b, actor=side_b.inspector)
            body = sample_body(route, fill)
            status, detail, unchanged = _attempt(db, app, client, route, caller, fill, None, body)
        if status not in wanted:
            return f"{route.key}: A's inspector with B's ids got {detail}; wanted {sorted(wanted)}"
        return None if unchanged else f"{route.key}: refused, but rows changed"

    problems = for_each(api_routes(app), check)
    assert not problems, "\n".join(problems)


@pytest.mark.slow  # walks every route of the app
def test_an_admin_of_a_cannot_reach_b_objects_through_a(db: Session, app: FastAPI, client: TestClient,
                                                        world: World, callers: dict[str, Caller]) -> None:
    caller = callers["admin"]

    def check(route: RouteInfo) -> str | None:
        names = path_params(route.path)
        if "project_id" not in names or len(names) < 2 or names == ["project_id", "version"]:
            return None  # nothing but the project in the path (a defect-book version is a number, not an id)
        with isolated(db):
            admin = world.user(db, "admin")
            fill = Fill(db, app, world.side(db, "b"), actor=admin)  # the path's objects: B's
            body = sample_body(route, Fill(db, app, world.side(db, "a"), actor=admin))  # the body's: A's, valid
            status, detail, unchanged = _attempt(db, app, client, route, caller, fill, world.a[0], body)
        if not unchanged:
            return f"{route.key}: A's admin with B's object ids under project A changed rows ({detail})"
        if status == 422 and route.state_changing and route.key not in SAMPLE_BODIES:
            return (f"{route.key}: refused with 422 before the object was looked up, which proves nothing; add "
                    f"SAMPLE_BODIES[{route.key!r}] = <a valid body> in tests/security/route_roles.py")
        # Pages may answer a form about a missing object with a redirect and a message, if nothing changed.
        if status != 404 and not (status == 303 and route.state_changing and not route.is_api):
            return f"{route.key}: A's admin with B's object ids under project A got {detail}; wanted 404"
        return None

    problems = for_each(api_routes(app), check)
    assert not problems, "\n".join(problems)
