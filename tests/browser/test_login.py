"""Logging in and out in a real browser."""
from __future__ import annotations

from app.auth.models import Role
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, make_project, make_user
from tests.support.live_server import LiveServer


def test_login_shows_my_projects_and_logout_ends_the_session(page, server: LiveServer) -> None:
    with server.sessions() as db:
        project = make_project(db, name="Housings line 2")
        user = add_member(db, project, make_user(db, email="ines@example.com", name="Ines"), Role.inspector)
        db.commit()
    login(page, user.email, PASSWORD)
    assert page.locator(".project-link").inner_text() == "Housings line 2"
    page.click("text=Housings line 2")
    assert page.locator("h1").inner_text() == "Housings line 2"
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url


def test_wrong_password_is_refused_without_saying_why(page, server: LiveServer) -> None:
    with server.sessions() as db:
        make_user(db, email="known@example.com")
        db.commit()
    for email in ("known@example.com", "unknown@example.com"):
        page.goto("/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", "wrong password here")
        page.click("button[type=submit]")
        assert page.locator(".form-error").inner_text() == "Wrong email or password."
