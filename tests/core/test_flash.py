"""Status lines after a redirect come only from the app: a crafted link cannot put words on a page."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import User
from tests.factories import make_user


def test_a_forged_flash_is_not_shown(db: Session, client_for: Callable[[User], TestClient]) -> None:
    client = client_for(make_user(db, site_admin=True))
    page = client.get("/", params={"flash": "Your account is locked: call +1 555 0100", "flash_tag": "0" * 20})
    assert page.status_code == 200
    assert "call +1 555 0100" not in page.text


def test_the_apps_own_flash_is_shown_after_a_redirect(db: Session, client_for: Callable[[User], TestClient]) -> None:
    client = client_for(make_user(db, site_admin=True))
    created = client.post("/admin/users", data={"email": "new.person@example.com", "display_name": "New Person",
                                                 "password": "a long enough password"}, follow_redirects=False)
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"])
    assert "Created new.person@example.com." in page.text
