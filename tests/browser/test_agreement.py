"""The agreement page in headless Chromium: the charts render, and an admin recomputes by keyboard.
Set CONCORD_SCREENSHOTS=DIR to keep a screenshot of the page."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from app.auth.models import Role
from app.consistency import service
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, class_named, make_annotation, make_image, make_project, make_user
from tests.support.live_server import LiveServer

CLASSES = ("ok", "scratch", "dent", "pit", "discoloration")


def seed(server: LiveServer) -> int:
    """60 images, 5 labelers (one confuses dent and pit, one answers at random), two recomputes."""
    rng = np.random.default_rng(0)
    with server.sessions() as db:
        project = make_project(db, name="Agreement demo", labels_per_image=3)
        admin = add_member(db, project, make_user(db, email="admin@example.com", name="Ada Admin"), Role.admin)
        assert admin
        names = ["Careful Cora", "Normal Nils", "Dent-pit Dana", "Random Rui", "Steady Sam"]
        labelers = [add_member(db, project, make_user(db, name=n)) for n in names]
        classes = [class_named(db, project, c) for c in CLASSES]
        for n in range(60):
            truth = int(rng.choice(5, p=[0.5, 0.2, 0.15, 0.1, 0.05]))
            image = make_image(db, project, file_name=f"part_{n:03d}.jpg", labels_wanted=3)
            for k in rng.choice(5, 3, replace=False):
                answer = truth
                if k == 2 and truth in (2, 3) and rng.random() < 0.6:
                    answer = 5 - truth  # dent <-> pit
                elif k == 3 or rng.random() < 0.05:
                    answer = int(rng.integers(0, 5))
                make_annotation(db, image, labelers[k], classes[answer], duration_ms=int(rng.integers(3000, 30000)))
            if n == 30:
                service.recompute_project(db, project_id=project.id)
        service.recompute_project(db, project_id=project.id)
        db.commit()
        return project.id


def test_agreement_page_renders_and_recomputes_by_keyboard(page, server: LiveServer) -> None:
    project_id = seed(server)
    login(page, "admin@example.com", PASSWORD)
    page.goto(f"/projects/{project_id}/agreement")
    assert page.locator("h1").inner_text() == "Agreement"
    assert page.locator("svg.chart-heatmap").count() == 2  # class pairs, labeler pairs
    assert page.get_by_text("Random Rui").count() >= 1
    shots = os.environ.get("CONCORD_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "agreement.png"), full_page=True)
    button = page.get_by_role("button", name="Recompute now")
    button.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/agreement" in page.url
    assert page.locator(".flash").inner_text().startswith(("Recompute queued", "Recomputed"))
