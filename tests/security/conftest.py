"""Fixtures of the cross-cutting security tests: a seeded world of two projects, and its callers."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.fill import PERSONAS, World, seed_world
from tests.security.walk import Caller, session_caller


@pytest.fixture
def world(db: Session) -> World:
    return seed_world(db)


@pytest.fixture
def callers(db: Session, app: FastAPI, world: World) -> dict[str, Caller]:
    """One logged-in browser session per persona (anonymous: only the pre-login CSRF cookie)."""
    return {p: session_caller(db, app, p, world.user(db, p)) for p in PERSONAS}


@pytest.fixture
def client(app: FastAPI, anon: TestClient) -> Iterator[TestClient]:
    """One client whose cookies each call sets (walk.call); requests run in the test's transaction
    (the `anon` fixture installs that). A crash is reported as a 500, so one run lists every problem."""
    yield TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
