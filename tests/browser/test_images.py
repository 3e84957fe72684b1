"""A reviewer browses a project's images in headless Chromium: filters, moves by arrow keys, opens an
image whose labelers all agreed on the wrong class, flags it with a note, and finds it at the top of
the review queue. Set CONCORD_SCREENSHOTS=DIR to keep screenshots of the browser and the image page.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.models import Role
from app.consistency.models import Conflict
from app.core.storage import LocalStorage
from tests.browser.conftest import login
from tests.browser.test_review import shot, stored_image
from tests.factories import (
    PASSWORD,
    add_member,
    class_named,
    make_annotation,
    make_conflict,
    make_consensus,
    make_final_label,
    make_project,
    make_user,
)
from tests.support.live_server import LiveServer


def seed(server: LiveServer) -> dict[str, Any]:
    storage = LocalStorage(server.data_dir / "media")
    with server.sessions() as db:
        project = make_project(db, name="Phone cases line 3")
        add_member(db, project, make_user(db, email="rita@example.com", name="Rita"), Role.reviewer)
        labelers = [add_member(db, project, make_user(db, name=name, password=None), Role.inspector)
                    for name in ("Ana", "Ben", "Cem")]
        c = {n: class_named(db, project, n) for n in ("ok", "scratch", "dent", "pit")}
        images = []
        for n in range(7):
            line = "L3" if n % 2 == 0 else "L1"
            defect = (300, 150, 90, 8) if n == 2 else None  # a scratch every labeler missed
            meta = {"line": line, "shift": "night" if n < 4 else "day"}
            image = stored_image(db, storage, project, defect, meta=meta, file_name=f"case_{n:03d}.jpg")
            for labeler in labelers:
                make_annotation(db, image, labeler, c["ok"])
            make_consensus(db, image, c["ok"], confidence=1.0)
            make_final_label(db, image, c["ok"], source="unanimous", confidence=1.0)
            images.append(image)
        disputed = stored_image(db, storage, project, (200, 220, 60, 50), meta={"line": "L3"},
                                file_name="case_dent.jpg")
        for labeler, name in zip(labelers, ("dent", "pit", "dent"), strict=True):
            box = {"x": 198, "y": 219, "w": 64, "h": 53, "class_id": c[name].id}
            make_annotation(db, disputed, labeler, c[name], boxes=[box])
        make_consensus(db, disputed, c["dent"], confidence=0.67)
        make_conflict(db, disputed, severity=70.0)
        db.commit()
        return {"project": project.id, "wrong": images[2].id, "disputed": disputed.id}


def test_a_reviewer_browses_filters_opens_and_flags_an_image(page: Any, server: LiveServer) -> None:
    seeded = seed(server)
    project = seeded["project"]
    login(page, "rita@example.com", PASSWORD)
    page.goto(f"/projects/{project}")
    page.click(".project-nav a:text-is('Images')")
    page.wait_for_url(f"**/projects/{project}/images")
    assert page.locator("#tiles .tile").count() == 8
    assert page.locator(f'.tile[data-image="{seeded["disputed"]}"] .conflict-marker').inner_text() == "1 open"
    shot(page, "images-browser")

    page.select_option("select[name=line]", "L3")  # a changed filter applies at once
    page.wait_for_url("**line=L3**")
    page.select_option("select[name=shift]", "night")
    page.wait_for_url("**shift=night**")
    tiles = page.locator("#tiles .tile")
    assert tiles.count() == 2  # case_000 and case_002
    assert page.locator(".tile.selected").get_attribute("data-image") != str(seeded["wrong"])
    page.keyboard.press("ArrowRight")
    assert page.locator(".tile.selected").get_attribute("data-image") == str(seeded["wrong"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/projects/{project}/images/{seeded['wrong']}?**")
    assert "unanimous" in page.locator("#final-label").inner_text().lower()
    assert page.locator("#review-image image").count() == 1 and page.locator(".layer-bar input").count() == 3
    assert page.locator("#label-history tbody tr").count() == 3
    shot(page, "image-page")

    page.keyboard.press("f")
    page.keyboard.type("a thin scratch at the top right: all three said ok")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".flash")
    assert "Flagged for review" in page.locator(".flash").inner_text()
    assert page.locator("#flag-form").count() == 0
    assert "a thin scratch" in page.locator("#flag-card").inner_text()
    shot(page, "image-page-flagged")

    page.click("#flag-conflict-link")
    page.wait_for_selector("#decide-form")
    assert "Flagged by Rita" in page.locator(".why-line").inner_text()
    page.goto(f"/projects/{project}/review")
    first = page.locator("#queue .queue-row").first
    assert "case_002.jpg" in first.inner_text() and "flagged" in first.inner_text()
    with server.sessions() as db:
        flagged = db.scalars(select(Conflict).where(Conflict.kind == "flagged")).all()
        assert [(c.image_id, c.state) for c in flagged] == [(seeded["wrong"], "open")]
