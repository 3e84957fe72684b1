"""Flash messages are bound to the user, the path and a short life, and never carry what a request typed
(finding 3): a signed "SECURITY NOTICE ..." made from a file name must not reach /login or anyone else."""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core import flash
from tests.factories import class_named, make_member, make_project, make_user

NOTICE = "SECURITY NOTICE: your password expired. Re-enter it at https://evil.example/login"


def _flash(response_text: str) -> str | None:
    found = BeautifulSoup(response_text, "html.parser").select_one(".flash")
    return found.get_text(strip=True) if found else None


def _made_flash(client: TestClient) -> tuple[str, str]:
    """A real flash of the app (revoking other sessions): the redirect's path and its token."""
    done = client.post("/account/sessions/revoke", follow_redirects=False)
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    return location.path, parse_qs(location.query)["flash"][0]


def test_a_flash_shows_only_to_its_user_on_its_page_for_a_short_while(
        db: Session, client_for: Callable[[User], TestClient], anon: TestClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = make_user(db, password=None), make_user(db, password=None)
    as_alice, as_bob = client_for(alice), client_for(bob)
    path, token = _made_flash(as_alice)
    assert _flash(as_alice.get(path, params={"flash": token}).text) == "0 other sessions signed out."
    assert _flash(as_bob.get(path, params={"flash": token}).text) is None  # another user
    assert _flash(as_alice.get("/", params={"flash": token}).text) is None  # another page
    assert _flash(anon.get("/login", params={"flash": token}).text) is None  # the login page
    monkeypatch.setattr(flash, "MAX_AGE_SECONDS", -1)
    assert _flash(as_alice.get(path, params={"flash": token}).text) is None  # too late


def test_text_a_request_typed_is_never_carried_to_another_page(db: Session,
                                                              client_for: Callable[[User], TestClient],
                                                              anon: TestClient) -> None:
    project = make_project(db)
    reviewer = make_member(db, project, Role.reviewer, password=None)
    client = client_for(reviewer)
    refused = client.post(f"/projects/{project.id}/defect-book/examples", follow_redirects=False,
                          data={"label_class_id": class_named(db, project, "dent").id, "file_name": NOTICE})
    assert refused.status_code == 422 and "location" not in refused.headers  # said here, not carried on
    assert "no single image named" in refused.text
    assert _flash(refused.text) is None


def test_a_flash_of_the_old_kind_or_forged_shows_nothing(db: Session,
                                                        client_for: Callable[[User], TestClient]) -> None:
    client = client_for(make_user(db, password=None))
    assert _flash(client.get("/", params={"flash": NOTICE, "flash_tag": "0" * 20}).text) is None
    assert _flash(client.get("/", params={"flash": NOTICE}).text) is None
