"""Password storage (#17): argon2, and neither a hash nor a password in a response, the audit trail or the logs."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.audit import AuditEvent
from tests.factories import PASSWORD, make_member, make_project, make_user

NEW_PASSWORD = "a brand new passphrase 42"


def test_passwords_are_stored_as_argon2id(db: Session) -> None:
    user = make_user(db)
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_no_hash_or_password_reaches_responses_audit_or_logs(
    db: Session, anon: TestClient, client_for: Callable[[User], TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    project = make_project(db)
    admin = make_user(db, site_admin=True, email="root@example.com")
    member = make_member(db, project, email="ines@example.com")
    texts = []
    # The login form (right and wrong), the account page, the password change, user and member APIs.
    page = anon.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    texts.append(anon.post("/login", data={"email": member.email, "password": "wrong " + PASSWORD,
                                           "csrf_token": token}).text)
    texts.append(anon.post("/login", data={"email": member.email, "password": PASSWORD, "csrf_token": token}).text)
    texts.append(anon.get("/account").text)
    texts.append(anon.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                      "confirm_password": NEW_PASSWORD},
                           headers={"X-CSRF-Token": anon.get("/account").text.split('name="csrf-token" content="')[1]
                                    .split('"')[0]}).text)
    root = client_for(admin)
    texts.append(root.post("/api/v1/users", json={"email": "new@example.com", "password": NEW_PASSWORD,
                                                  "password_hash": "$argon2id$forged"}).text)
    texts.append(root.get("/api/v1/users").text)
    texts.append(root.get("/admin/users").text)
    texts.append(root.get(f"/api/v1/projects/{project.id}/members").text)
    texts.append(root.get("/api/v1/me").text)
    events = db.scalars(select(AuditEvent)).all()
    texts += [json.dumps(e.data) for e in events]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert "$argon2" not in text and "password_hash" not in text
        assert PASSWORD not in text and NEW_PASSWORD not in text
    created = db.scalar(select(User).where(User.email == "new@example.com"))
    assert created is not None and created.password_hash != "$argon2id$forged"  # computed, never assigned
    assert {"login", "login.failed", "password.changed", "user.created"} <= {e.action for e in events}
