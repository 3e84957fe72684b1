"""Passwords that equal or contain the email or the name, and the commonest ones, are refused with a clear
message (finding 10); length alone let `aaaaaaaaaa` and the email address itself through."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import service
from app.auth.models import User
from app.core.errors import Invalid
from tests.auth.helpers import csrf_of
from tests.factories import PASSWORD, make_user

EMAIL, NAME = "li.ming@plant.example", "Li Mingzhu"


@pytest.mark.parametrize(("password", "says"), [
    ("aaaaaaaaaa", "too easy to guess: Repeats"),
    ("li.ming@plant.example", "must not contain your email address or your name"),
    ("LI.MING@PLANT.EXAMPLE", "must not contain your email address or your name"),
    ("li.ming-2026!", "must not contain your email address or your name"),
    ("mingzhu-spring-88", "must not contain your email address or your name"),
    ("password12", "too easy to guess: This is a very common password"),
    ("1234567890", "too easy to guess"),
    ("qwertyuiop", "too easy to guess"),
    ("Aa123456789", "too easy to guess"),
    ("short", "at least 10 characters"),
])
def test_weak_or_personal_passwords_are_refused_with_the_reason(db: Session, password: str, says: str) -> None:
    with pytest.raises(Invalid) as caught:
        service.create_user(db, email=EMAIL, display_name=NAME, password=password)
    assert says in caught.value.message and caught.value.field == "password"
    assert db.scalar(select(User).where(User.email == EMAIL)) is None


@pytest.mark.parametrize("password", ["plum harbour violin 42", "Line3-camera-night-shift", "xk7#pQ9mZr!v"])
def test_passwords_hard_to_guess_are_accepted(db: Session, password: str) -> None:
    assert service.create_user(db, email=EMAIL, display_name=NAME, password=password).password_hash


def test_every_way_of_setting_a_password_applies_the_policy(db: Session, client_for: Callable[[User], TestClient],
                                                          anon: TestClient) -> None:
    admin = make_user(db, site_admin=True)
    browser = client_for(admin)
    api = browser.post("/api/v1/users", json={"email": EMAIL, "display_name": NAME, "password": "aaaaaaaaaa"})
    assert api.status_code == 422 and "too easy to guess" in api.json()["message"]
    page = browser.get("/admin/users")
    form = browser.post("/admin/users", data={"email": EMAIL, "display_name": NAME, "password": EMAIL,
                                              "csrf_token": csrf_of(page)})
    assert form.status_code == 422 and "must not contain your email address" in form.text
    account = browser.get("/account")
    own = browser.post("/account/password", data={"current_password": PASSWORD, "new_password": admin.email,
                                                  "confirm_password": admin.email, "csrf_token": csrf_of(account)})
    assert own.status_code == 422 and "must not contain your email address" in own.text
    with pytest.raises(Invalid, match="too easy to guess"):
        service.set_password(db, user=admin, password="password12", actor=None)
