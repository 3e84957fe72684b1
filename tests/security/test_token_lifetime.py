"""API tokens expire, and a password change or reset revokes them, telling the user (finding 1)."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import service, tokens
from app.auth.models import ApiToken, User
from app.core.db import utcnow
from app.core.errors import Invalid
from tests.auth.helpers import csrf_of
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "plum harbour violin 42"


def _me(client: TestClient, raw: str) -> tuple[int, str]:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    return response.status_code, response.json().get("message", "")


def test_a_token_lives_the_days_chosen_within_the_site_maximum(db: Session, anon: TestClient,
                                                             client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, password=None)
    browser = client_for(user)
    made = browser.post("/api/v1/tokens", json={"name": "week", "expires_in_days": 7})
    assert made.status_code == 201
    expires = made.json()["expires_at"]
    token = db.get(ApiToken, made.json()["id"])
    assert abs(token.expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert expires.startswith(token.expires_at.strftime("%Y-%m-%d"))
    too_long = browser.post("/api/v1/tokens", json={"name": "forever", "expires_in_days": 91})
    assert too_long.status_code == 422 and "1 to 90 days" in too_long.json()["message"]
    default, _raw = tokens.create_token(db, user=user, name="default", actor=None, max_days=90)
    assert abs(default.expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    with pytest.raises(Invalid):
        tokens.create_token(db, user=user, name="x", actor=None, max_days=90, days=0)
    page = browser.post("/account/tokens", data={"name": "page", "expires_in_days": "365"})
    assert page.status_code == 422 and "1 to 90 days" in page.text


def test_an_expired_token_is_refused_saying_so(db: Session, anon: TestClient) -> None:
    user = make_user(db, password=None)
    token, raw = tokens.create_token(db, user=user, name="t", actor=None, max_days=90, days=1)
    assert _me(anon, raw)[0] == 200
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.flush()
    status, message = _me(anon, raw)
    assert status == 401 and message.startswith("this API token expired on")


def test_changing_ones_password_revokes_every_token_and_says_so(db: Session, anon: TestClient,
                                                               client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db)  # password PASSWORD
    raws = [tokens.create_token(db, user=user, name=f"t{n}", actor=None, max_days=90)[1] for n in range(2)]
    browser = client_for(user)
    page = browser.get("/account")
    changed = browser.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
        "csrf_token": csrf_of(page)})
    assert changed.status_code == 200 and "2 API tokens revoked" in changed.text
    for raw in raws:
        status, message = _me(anon, raw)
        assert status == 401 and "revoked" in message and "password changed" in message
    assert browser.get("/account").text.count("when your password changed") == 2


def test_an_operators_reset_revokes_every_token(db: Session, anon: TestClient) -> None:
    user = make_user(db, password=None)
    _token, raw = tokens.create_token(db, user=user, name="t", actor=None, max_days=90)
    ended = service.set_password(db, user=user, password=NEW_PASSWORD, actor=None)
    assert ended.tokens == 1
    status, message = _me(anon, raw)
    assert status == 401 and "operator reset" in message
    assert db.scalar(select(ApiToken.revoked_reason).where(ApiToken.user_id == user.id)) == "password_reset"


def test_the_account_page_shows_when_each_token_was_last_used_and_when_it_expires(
        db: Session, anon: TestClient, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, password=None)
    token, raw = tokens.create_token(db, user=user, name="t", actor=None, max_days=90, days=7)
    assert _me(anon, raw)[0] == 200
    db.refresh(token)
    text = client_for(user).get("/account").text
    row = re.search(r"<tr[^>]*>\s*<td>t</td>.*?</tr>", text, re.S)
    assert row and token.last_used_at.strftime("%Y-%m-%d %H:%M") in row.group(0)
    assert token.expires_at.strftime("%Y-%m-%d") in row.group(0)
