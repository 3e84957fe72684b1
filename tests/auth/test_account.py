"""/account: one's own password (checked, throttled, other sessions end), sessions, and mass assignment."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.models import LoginAttempt, User, UserSession
from app.core.audit import AuditEvent
from app.core.config import Settings
from tests.auth.helpers import form_login
from tests.factories import PASSWORD, login_client, make_user

NEW = "a much better passphrase"


def _change(client: TestClient, current: str, new: str, confirm: str | None = None, **extra: str) -> object:
    data = {"current_password": current, "new_password": new, "confirm_password": confirm or new, **extra}
    return client.post("/account/password", data=data, follow_redirects=False)


def test_the_account_page_shows_me_and_my_forms(db: Session, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, name="Ines <b>Q</b>")
    page = client_for(user).get("/account")
    assert page.status_code == 200
    assert "Ines &lt;b&gt;Q&lt;/b&gt;" in page.text and "<b>Q</b>" not in page.text
    assert 'action="/account/password"' in page.text and 'action="/account/tokens"' in page.text


def test_changing_my_password_ends_my_other_sessions(db: Session, app: FastAPI, anon: TestClient,
                                                     client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db)
    here = client_for(user)
    elsewhere = client_for(user)
    response = _change(here, PASSWORD, NEW)
    assert response.status_code == 303
    assert "1 other session signed out" in here.get(response.headers["location"]).text
    assert here.get("/api/v1/me").status_code == 200
    assert elsewhere.get("/api/v1/me").status_code == 401
    assert service.authenticate_password(db, email=user.email, password=NEW) is not None
    assert service.authenticate_password(db, email=user.email, password=PASSWORD) is None
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "password.changed"))
    assert event is not None and event.actor_id == user.id and event.data["sessions_ended"] == 1


def test_a_wrong_current_password_is_refused_and_counted(db: Session, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db)
    client = client_for(user)
    response = _change(client, "not my password", NEW)
    assert response.status_code == 422 and "current password is wrong" in response.text
    assert db.query(LoginAttempt).filter_by(email=user.email, succeeded=False).count() == 1
    session = db.query(UserSession).filter_by(user_id=user.id).one()
    db.add_all([LoginAttempt(email=user.email, ip="x", succeeded=False) for _ in range(Settings().login_max_failures)])
    db.flush()
    assert _change(client, PASSWORD, NEW).status_code == 303  # strangers' guesses do not stop the owner
    db.add_all([LoginAttempt(email=user.email, ip="x", succeeded=False, device=f"session-{session.id}")
                for _ in range(Settings().login_max_failures)])
    db.flush()
    assert _change(client, NEW, NEW + " again").status_code == 429  # a stolen session cannot brute-force it


def test_the_new_password_must_be_confirmed_strong_and_new(db: Session,
                                                          client_for: Callable[[User], TestClient]) -> None:
    client = client_for(make_user(db))
    assert "differ" in _change(client, PASSWORD, NEW, confirm=NEW + "x").text
    assert "at least 10" in _change(client, PASSWORD, "short").text
    assert "must differ" in _change(client, PASSWORD, PASSWORD).text


def test_extra_fields_cannot_make_me_a_site_admin(db: Session, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db)
    response = _change(client_for(user), PASSWORD, NEW, is_site_admin="true", role="admin", email="x@evil.example")
    assert response.status_code == 303
    db.refresh(user)
    assert not user.is_site_admin and user.email != "x@evil.example"


def test_a_bearer_token_cannot_change_the_password(db: Session, anon: TestClient) -> None:
    from app.auth import tokens

    user = make_user(db)
    _token, raw = tokens.create_token(db, user=user, name="script", actor=None, max_days=90)
    response = anon.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW,
                                                    "confirm_password": NEW},
                         headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403


def test_sign_out_other_sessions(db: Session, app: FastAPI, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, password=None)
    here, other = client_for(user), client_for(user)
    page = here.get("/account")
    assert "logged in 1 other time" in page.text
    response = here.post("/account/sessions/revoke", follow_redirects=False)
    assert response.status_code == 303
    assert other.get("/api/v1/me").status_code == 401 and here.get("/api/v1/me").status_code == 200
    live = db.scalars(select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None)))
    assert len(list(live)) == 1


def test_the_operator_can_reset_a_password(db: Session, app: FastAPI, anon: TestClient) -> None:
    user = make_user(db)
    login_client(db, app, anon, user)
    service.set_password(db, user=user, password=NEW, actor=None)
    assert anon.get("/api/v1/me").status_code == 401  # the reset ended the session
    del anon.headers["X-CSRF-Token"]
    assert form_login(anon, user.email, NEW).status_code == 303
