"""Identity pages in a real browser: a project admin changes a member's role; a user changes their
password and logs in with the new one; a site admin creates an account. Keyboard only where it matters."""
from __future__ import annotations

import os

from app.auth.models import Role
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, make_project, make_user
from tests.support.live_server import LiveServer

SHOTS = os.environ.get("CONCORD_SCREENSHOTS")  # a directory: save what the pages look like


def _shot(page: object, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)  # type: ignore[attr-defined]


def test_admin_changes_a_members_role(page, server: LiveServer) -> None:
    with server.sessions() as db:
        project = make_project(db, name="Housings line 2")
        admin = add_member(db, project, make_user(db, email="ada@example.com", name="Ada Admin"), Role.admin)
        add_member(db, project, make_user(db, email="ines@example.com", name="Ines Inspector", password=None))
        make_user(db, email="rui@example.com", name="Rui Reviewer", password=None)
        db.commit()
        project_id = project.id
    login(page, admin.email, PASSWORD)
    page.goto(f"/projects/{project_id}/members")
    assert page.locator("h1").inner_text() == "Members"
    # Add a member by keyboard: type the email, tab to the role, pick it, submit with Enter.
    page.fill("#add-member input[name=email]", "rui@example.com")
    page.press("#add-member input[name=email]", "Tab")
    page.keyboard.press("ArrowDown")  # inspector -> reviewer
    page.press("#add-member input[name=email]", "Enter")
    page.wait_for_url(f"**/projects/{project_id}/members?flash=*")
    assert "Added rui@example.com as reviewer" in page.locator(".flash").inner_text()
    row = page.locator("tr", has_text="Ines Inspector")
    row.locator("select[name=role]").select_option("reviewer")
    _shot(page, "members")
    row.locator("button", has_text="Save").click()
    page.wait_for_url("**/members?flash=*")
    assert "ines@example.com is now reviewer" in page.locator(".flash").inner_text()
    assert page.locator("tr", has_text="Ines Inspector").locator("select[name=role]").input_value() == "reviewer"
    # Removing asks first; dismissing the question keeps the member.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("tr", has_text="Rui Reviewer").locator("button", has_text="Remove").click()
    assert page.locator("tr", has_text="Rui Reviewer").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="Rui Reviewer").locator("button", has_text="Remove").click()
    page.locator(".flash", has_text="Removed").wait_for()
    assert page.locator("tr", has_text="Rui Reviewer").count() == 0


def test_changing_my_password_then_logging_in_with_it(page, server: LiveServer) -> None:
    with server.sessions() as db:
        make_user(db, email="ines@example.com", name="Ines")
        db.commit()
    login(page, "ines@example.com", PASSWORD)
    page.click("a[title='Your account']")
    page.wait_for_url("**/account")
    new = "a brand new passphrase"
    page.fill("input[name=current_password]", "not the password")
    page.fill("input[name=new_password]", new)
    page.fill("input[name=confirm_password]", new)
    page.press("input[name=confirm_password]", "Enter")
    assert page.locator(".form-error").inner_text() == "the current password is wrong"
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", new)
    page.fill("input[name=confirm_password]", new)
    page.press("input[name=confirm_password]", "Enter")
    page.wait_for_url("**/account?flash=*")
    assert "Password changed" in page.locator(".flash").inner_text()
    page.fill("#token-form input[name=name]", "nightly export")
    page.press("#token-form input[name=name]", "Enter")
    assert page.locator("#new-token").inner_text().startswith("cnc_")
    _shot(page, "account")
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login")
    page.fill("input[name=email]", "ines@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    assert page.locator(".form-error").inner_text() == "Wrong email or password."
    login(page, "ines@example.com", new)
    assert page.url.endswith("/")


def test_site_admin_creates_an_account_and_a_project(page, server: LiveServer) -> None:
    with server.sessions() as db:
        make_user(db, email="root@example.com", name="Site Admin", site_admin=True)
        db.commit()
    login(page, "root@example.com", PASSWORD)
    page.click("nav >> text=Admin")
    page.wait_for_url("**/admin/users")
    page.fill("#create-user input[name=email]", "new.person@example.com")
    page.fill("#create-user input[name=display_name]", "New Person")
    page.fill("#create-user input[name=password]", "first passphrase 1")
    page.click("#create-user button[type=submit]")
    page.wait_for_url("**/admin/users?flash=*")
    assert page.locator("tr", has_text="new.person@example.com").count() == 1
    _shot(page, "admin-users")
    page.click("text=Projects >> nth=1")
    page.wait_for_url("**/admin/projects")
    page.fill("#create-project input[name=name]", "Line 4 castings")
    page.fill("#create-project input[name=classes]", "ok, porosity, crack")
    page.select_option("#create-project select[name=task_type]", "boxes")
    page.click("#create-project button[type=submit]")
    page.wait_for_url("**/members?flash=*")
    assert page.locator(".crumbs").inner_text().startswith("Line 4 castings")
    page.goto("/admin/projects")
    _shot(page, "admin-projects")
