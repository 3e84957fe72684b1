"""The role matrix (#19): every route × {anonymous, non-member, inspector, reviewer, admin, site admin},
checked against tests/security/route_roles.py; and Bearer tokens get the same answers as sessions.
"""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import tokens
from tests.security.fill import PERSONAS, Fill, MissingFiller, World, fill_path
from tests.security.route_roles import ROUTE_ROLES
from tests.security.walk import (
    ALLOWED,
    FORBIDDEN,
    Caller,
    RouteInfo,
    api_routes,
    call,
    describe,
    expected,
    isolated,
    outcome,
    sample_body,
)


def _outcome(db: Session, app: FastAPI, client: TestClient, world: World, route: RouteInfo,
             caller: Caller) -> tuple[str, str]:
    with isolated(db):
        actor = world.user(db, caller.persona)
        fill = Fill(db, app, world.side(db, "a"), actor=actor)
        url = fill_path(route.path, fill, route.key)
        response = call(client, route, url, caller, body=sample_body(route, fill))
        return outcome(response), describe(response)


@pytest.mark.slow  # walks every route of the app
def test_each_role_gets_exactly_what_the_table_says(db: Session, app: FastAPI, client: TestClient, world: World,
                                                    callers: dict[str, Caller]) -> None:
    problems = []
    for route in api_routes(app):
        level = ROUTE_ROLES.get(route.key)
        if level is None:
            continue  # test_route_table says what to add
        for persona in PERSONAS:
            try:
                got, detail = _outcome(db, app, client, world, route, callers[persona])
            except MissingFiller as exc:
                problems.append(str(exc))
                break
            want = expected(level, persona)
            if got != want:
                problems.append(f"{route.key} [{level}] as {persona}: wanted {want}, got {got} ({detail})")
    assert not problems, "\n".join(problems)


@pytest.mark.slow  # walks every route of the app
def test_a_bearer_token_gets_the_same_answers_as_a_browser_session(
    db: Session, app: FastAPI, client: TestClient, world: World, callers: dict[str, Caller]
) -> None:
    """Same role checks for scripts; only acts that need a browser login (minting tokens) differ."""
    problems = []
    bearers = {}
    for persona in ("non_member", "inspector", "admin"):
        user = world.user(db, persona)
        assert user is not None
        bearers[persona] = Caller(persona, user.id, {}, "", bearer=tokens.create_token(db, user=user, name="t",
                                                                                      actor=None, max_days=90)[1])
    for route in api_routes(app):
        if route.public:
            continue
        for persona, bearer in bearers.items():
            session_result, _ = _outcome(db, app, client, world, route, callers[persona])
            token_result, detail = _outcome(db, app, client, world, route, bearer)
            want = FORBIDDEN if route.needs_browser_session and session_result == ALLOWED else session_result
            if token_result != want:
                problems.append(f"{route.key} as {persona}: session {session_result}, token {token_result} ({detail})")
    assert not problems, "\n".join(problems)
