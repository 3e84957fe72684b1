"""Sessions (#13): cookie flags, a new id on every login, logout and expiry end a session for good."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.auth.deps import SESSION_COOKIE
from app.auth.models import User, UserSession
from app.core.audit import AuditEvent
from app.core.db import get_session, utcnow
from app.core.security import token_digest, unsign
from app.main import create_app
from tests.auth.helpers import csrf_of, form_login, session_cookie
from tests.conftest import make_test_settings
from tests.factories import PASSWORD, make_user
from tests.support.databases import engine_url


def _set_cookie(response: object) -> str:
    return next(v for k, v in response.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v)  # type: ignore[attr-defined]


def _session_row(db: Session, app: FastAPI, client: TestClient) -> UserSession:
    token = unsign(session_cookie(client) or "", app.state.secret_key)
    row = db.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token or "")))
    assert row is not None
    return row


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_http(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    cookie = _set_cookie(form_login(anon, user.email, PASSWORD)).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie.replace("samesite", "")


def test_the_cookie_is_secure_over_https(db: Session, app: FastAPI, anon: TestClient) -> None:
    user = make_user(db)
    with TestClient(app, base_url="https://testserver") as client:
        assert "; secure" in _set_cookie(form_login(client, user.email, PASSWORD)).lower()


def test_the_cookie_is_secure_when_the_setting_says_so(db: Session, engine: Engine, tmp_path: Path) -> None:
    """Behind a TLS-terminating proxy the app may see http; CONCORD_SECURE_COOKIES=true still marks them."""
    secure_app = create_app(make_test_settings(engine_url(engine), tmp_path, secure_cookies=True))
    secure_app.dependency_overrides[get_session] = lambda: db
    user = make_user(db)
    with TestClient(secure_app, base_url="http://testserver") as client:
        login_page = client.get("/login")
        assert "; secure" in login_page.headers["set-cookie"].lower()  # the pre-login CSRF cookie too
        # The test client keeps Secure cookies from plain http; hand the pre-login one back by hand.
        client.cookies.set("concord_csrf", login_page.cookies["concord_csrf"])
        response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                               "csrf_token": csrf_of(login_page)}, follow_redirects=False)
        assert "; secure" in _set_cookie(response).lower()


def test_each_login_gets_a_fresh_session_and_ends_the_browsers_previous_one(db: Session, app: FastAPI,
                                                                            anon: TestClient) -> None:
    user = make_user(db)
    form_login(anon, user.email, PASSWORD)
    first_cookie, first = session_cookie(anon), _session_row(db, app, anon)
    form_login(anon, user.email, PASSWORD)
    second = _session_row(db, app, anon)
    assert session_cookie(anon) != first_cookie and second.id != first.id
    assert second.csrf_token != first.csrf_token
    db.refresh(first)
    assert first.revoked_at is not None  # the old id is worthless, even if someone copied it
    with TestClient(app) as replay:
        replay.cookies.set(SESSION_COOKIE, first_cookie or "")
        assert replay.get("/api/v1/me").status_code == 401


def test_logout_revokes_and_a_replayed_cookie_is_refused(db: Session, app: FastAPI, anon: TestClient) -> None:
    user = make_user(db)
    form_login(anon, user.email, PASSWORD)
    cookie = session_cookie(anon)
    token = csrf_of(anon.get("/account"))
    response = anon.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with TestClient(app) as replay:
        replay.cookies.set(SESSION_COOKIE, cookie or "")
        assert replay.get("/api/v1/me").status_code == 401
        page = replay.get("/account", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/account"
    actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.actor_id == user.id))]
    assert actions == ["login", "logout"]


def test_an_idle_session_expires(db: Session, app: FastAPI, anon: TestClient) -> None:
    user = make_user(db)
    form_login(anon, user.email, PASSWORD)
    row = _session_row(db, app, anon)
    row.last_seen_at = utcnow() - timedelta(minutes=app.state.settings.session_idle_minutes - 1)
    db.flush()
    assert anon.get("/api/v1/me").status_code == 200  # still within the idle limit; now touched again
    db.refresh(row)
    assert utcnow() - row.last_seen_at < timedelta(minutes=1)
    row.last_seen_at = utcnow() - timedelta(minutes=app.state.settings.session_idle_minutes + 1)
    db.flush()
    assert anon.get("/api/v1/me").status_code == 401


def test_a_session_ends_at_its_absolute_expiry_however_active(db: Session, app: FastAPI, anon: TestClient) -> None:
    user = make_user(db)
    form_login(anon, user.email, PASSWORD)
    row = _session_row(db, app, anon)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.flush()
    assert anon.get("/api/v1/me").status_code == 401


def test_a_deactivated_user_is_out_at_once(db: Session, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, password=None)
    client = client_for(user)
    assert client.get("/api/v1/me").status_code == 200
    user.is_active = False
    db.flush()
    assert client.get("/api/v1/me").status_code == 401


def test_a_non_ascii_cookie_or_token_is_refused_not_a_crash(db: Session, anon: TestClient,
                                                          client_for: Callable[[User], TestClient]) -> None:
    cookie = f"{SESSION_COOKIE}=abc.d\u00e9f".encode("latin-1")
    assert anon.get("/api/v1/me", headers={"Cookie": cookie}).status_code == 401  # type: ignore[dict-item]
    client = client_for(make_user(db, password=None))
    response = client.post("/account/sessions/revoke", headers={"X-CSRF-Token": "t\u00e9st".encode("latin-1")})  # type: ignore[dict-item]
    assert response.status_code == 403
