"""The job page follows a running job to its end by itself (static/js/jobs.js, no inline script)."""
from __future__ import annotations

import uuid

from playwright.sync_api import expect

from app.auth.models import Role
from app.jobs import service as jobs
from tests.browser.conftest import login
from tests.factories import PASSWORD, make_member, make_project
from tests.support.live_server import LiveServer


def open_job_page(page, server: LiveServer, role: Role, *, seconds: float, steps: int) -> int:  # type: ignore[no-untyped-def]
    """Log in as a member of a new project with `role` who started a diagnostic job; open its page."""
    with server.sessions() as db:
        project = make_project(db, name="Press line 4")
        member = make_member(db, project, role, name=f"Rita {role.value.title()}")
        job = jobs.enqueue(db, kind="diagnostics.sleep", project_id=project.id, created_by=member,
                           payload={"seconds": seconds, "steps": steps, "token": uuid.uuid4().hex})
        db.commit()
        email, project_id, job_id = member.email, project.id, job.id
    login(page, email, PASSWORD)
    page.goto(f"/projects/{project_id}/jobs/{job_id}")
    return project_id


def test_the_progress_bar_follows_the_job(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    project_id = open_job_page(page, server, Role.reviewer, seconds=6, steps=12)
    bar = page.locator(".job-progress")
    # (the page's CSP forbids eval, so waits go through locators, not wait_for_function strings)
    expect(bar).to_have_attribute("data-job-state", "running", timeout=60_000)
    expect(bar.locator(".job-message")).to_contain_text("step", timeout=60_000)
    page.screenshot(path="/tmp/concord-job-running.png")
    expect(bar).to_have_attribute("data-job-state", "done", timeout=60_000)
    assert bar.locator(".job-state").text_content() == "done"
    assert bar.locator(".job-percent").inner_text() == "100%"
    assert page.locator(".job-attempts").inner_text() == "1 of 3"
    page.goto(f"/projects/{project_id}/jobs")
    assert page.locator(".jobs-table tbody tr").count() == 1


def test_cancel_a_running_job_from_its_page(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    open_job_page(page, server, Role.admin, seconds=120, steps=240)
    bar = page.locator(".job-progress")
    expect(bar.locator(".job-message")).to_contain_text("step", timeout=60_000)
    page.screenshot(path="/tmp/concord-job-cancel-before.png")
    page.get_by_role("button", name="Cancel the job").click()
    expect(bar).to_have_attribute("data-job-state", "cancelled", timeout=60_000)
    expect(page.locator(".job-cancel")).to_be_hidden()
    page.screenshot(path="/tmp/concord-job-cancelled.png")
    page.reload()
    assert bar.locator(".job-state").text_content() == "cancelled"
    assert page.get_by_role("button", name="Cancel the job").count() == 0
