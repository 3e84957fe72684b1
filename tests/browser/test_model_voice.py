"""The run page's model-voice button in the browser: an admin turns the run into one more voice in
consensus, sees it said, and turns it off again."""
from __future__ import annotations

from typing import Any

from app.auth.models import Role
from app.consistency import voice
from app.projects.models import Project
from tests.browser.conftest import login
from tests.browser.test_models import shot
from tests.consistency.test_model_voice import build
from tests.factories import PASSWORD, add_member, make_user
from tests.support.live_server import LiveServer


def test_an_admin_turns_the_model_voice_on_and_off(page: Any, server: LiveServer) -> None:
    with server.sessions() as db:
        _, project, _, _, _, run = build(db)
        add_member(db, project, make_user(db, email="ada@example.com", name="Ada"), Role.admin)
        db.commit()
        url = f"/projects/{project.id}/models/{run.id}"
    login(page, "ada@example.com", PASSWORD)
    page.goto(url)
    page.get_by_role("button", name=f"Use run {run.number} as one more voice").click()
    page.wait_for_url(f"**{url}?*")
    assert "one more voice in consensus" in page.locator("[role=status], .flash").first.inner_text()
    assert "is a voice in consensus" in page.locator(".voice-state").inner_text()
    shot(page, "model-voice-on")
    with server.sessions() as db:
        assert voice.voice_run_id(db.get_one(Project, project.id)) == run.id
    page.get_by_role("button", name=f"Stop using run {run.number}").click()
    page.wait_for_url(f"**{url}?*")
    assert page.get_by_role("button", name=f"Use run {run.number} as one more voice").is_visible()
    with server.sessions() as db:
        assert voice.voice_run_id(db.get_one(Project, project.id)) is None
