"""API tokens: shown once, stored hashed, same role checks as pages, revoked means refused at once."""
from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import ApiToken, Role, User
from app.core.audit import AuditEvent
from tests.factories import make_member, make_project, make_user


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_a_token_made_on_the_account_page_is_shown_once_and_stored_hashed(
    db: Session, client_for: Callable[[User], TestClient]
) -> None:
    user = make_user(db, password=None)
    client = client_for(user)
    created = client.post("/account/tokens", data={"name": "nightly export"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    raw = created.text.split('<code id="new-token">', 1)[1].split("<", 1)[0]
    assert raw.startswith("cnc_") and len(raw) > 40
    row = db.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert row is not None and row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:12] and row.name == "nightly export"
    later = client.get("/account")
    assert raw not in later.text and row.prefix in later.text and "never" in later.text
    assert client.get("/api/v1/me", headers=_bearer(raw)).json()["auth"] == "token"
    assert "last used" not in client.get("/account").text or row.last_used_at is not None


def test_revoking_stops_a_token_at_once(db: Session, client_for: Callable[[User], TestClient],
                                        anon: TestClient) -> None:
    user = make_user(db, password=None)
    token, raw = tokens.create_token(db, user=user, name="script", actor=user, max_days=90)
    assert anon.get("/api/v1/me", headers=_bearer(raw)).status_code == 200
    response = client_for(user).post(f"/account/tokens/{token.id}/revoke", follow_redirects=False)
    assert response.status_code == 303
    refused = anon.get("/api/v1/me", headers=_bearer(raw))
    assert refused.status_code == 401 and "was revoked on" in refused.json()["message"]
    actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.object_type == "api_token"))]
    assert actions == ["token.created", "token.revoked"]


def test_tokens_get_the_same_role_checks_as_pages(db: Session, anon: TestClient) -> None:
    mine, other = make_project(db), make_project(db)
    inspector = make_member(db, mine, Role.inspector, password=None)
    _token, raw = tokens.create_token(db, user=inspector, name="t", actor=None, max_days=90)
    assert anon.get(f"/api/v1/projects/{mine.id}/members", headers=_bearer(raw)).status_code == 403
    assert anon.get(f"/api/v1/projects/{other.id}/members", headers=_bearer(raw)).status_code == 404
    assert anon.get("/api/v1/users", headers=_bearer(raw)).status_code == 403
    assert [p["id"] for p in anon.get("/api/v1/projects", headers=_bearer(raw)).json()] == [mine.id]


def test_a_token_cannot_mint_tokens(db: Session, anon: TestClient, client_for: Callable[[User], TestClient]) -> None:
    user = make_user(db, password=None)
    _token, raw = tokens.create_token(db, user=user, name="t", actor=None, max_days=90)
    refused = anon.post("/api/v1/tokens", json={"name": "child"}, headers=_bearer(raw))
    assert refused.status_code == 403
    made = client_for(user).post("/api/v1/tokens", json={"name": "from the browser"})
    assert made.status_code == 201 and made.json()["token"].startswith("cnc_")
    listed = client_for(user).get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == {"t", "from the browser"} and all("token" not in t for t in listed)


def test_a_user_can_only_revoke_their_own_tokens(db: Session, client_for: Callable[[User], TestClient]) -> None:
    owner, thief = make_user(db, password=None), make_user(db, password=None)
    token, _raw = tokens.create_token(db, user=owner, name="t", actor=None, max_days=90)
    assert client_for(thief).delete(f"/api/v1/tokens/{token.id}").status_code == 404
    assert client_for(thief).post(f"/account/tokens/{token.id}/revoke").status_code == 404
    db.refresh(token)
    assert token.revoked_at is None
    assert client_for(owner).delete(f"/api/v1/tokens/{token.id}").status_code == 204
    db.refresh(token)
    assert token.revoked_at is not None


def test_a_deactivated_users_tokens_stop_working(db: Session, anon: TestClient) -> None:
    user = make_user(db, password=None)
    _token, raw = tokens.create_token(db, user=user, name="t", actor=None, max_days=90)
    user.is_active = False
    db.flush()
    assert anon.get("/api/v1/me", headers=_bearer(raw)).status_code == 401


def test_garbage_credentials_are_refused_cleanly(anon: TestClient) -> None:
    for header in (b"Bearer ", b"Bearer cnc_nope", b"Basic dXNlcjpwYXNz", "Bearer \u00e9\u00e9".encode("latin-1")):
        response = anon.get("/api/v1/me", headers={"Authorization": header})  # type: ignore[dict-item]
        assert response.status_code == 401, header
