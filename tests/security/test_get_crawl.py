"""A crawl of every GET route, path parameters filled with real objects (#25): row counts unchanged;
and no response of any kind carries a password hash (#17)."""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.fill import Fill, World, fill_path
from tests.security.walk import (
    ERROR,
    Caller,
    RouteInfo,
    api_routes,
    call,
    describe,
    diff_counts,
    for_each,
    isolated,
    outcome,
    row_counts,
)

HASH_MARKERS = ("$argon2", "password_hash", "token_hash")


@pytest.mark.slow  # walks every route of the app
def test_get_routes_change_nothing_and_leak_no_hash(db: Session, app: FastAPI, client: TestClient, world: World,
                                                    callers: dict[str, Caller]) -> None:
    def check(route: RouteInfo) -> str | None:
        for persona in ("site_admin", "admin", "inspector"):
            with isolated(db):
                fill = Fill(db, app, world.side(db, "a"), actor=world.user(db, persona))
                url = fill_path(route.path, fill, route.key)
                before = row_counts(db)
                response = call(client, route, url, callers[persona])
                changed = diff_counts(before, row_counts(db))
            if changed:
                return f"{route.key} as {persona}: a GET changed rows {changed}"
            if outcome(response) == ERROR:
                return f"{route.key} as {persona}: {describe(response)}"
            leaked = [m for m in HASH_MARKERS if m in response.text]
            if leaked:
                return f"{route.key} as {persona}: the response contains {leaked}"
        return None

    problems = for_each([r for r in api_routes(app) if r.method == "GET"], check)
    assert not problems, "\n".join(problems)
