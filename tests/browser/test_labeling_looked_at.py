"""Labels somebody looked at, in headless Chromium: held keys never answer, a too-early answer is
explained, the comment box gives the keys back, Backspace reopens my last answers, box rules are
said before submit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.labeling.models import Annotation, Assignment
from app.projects.models import LabelClass, Project
from tests.browser.conftest import login
from tests.browser.test_labeling import answers, drag, seed, wait_for_image
from tests.factories import PASSWORD
from tests.support.live_server import LiveServer


def open_labeling(page, server: LiveServer, n_images: int) -> dict:
    ids = seed(server, n_images)
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    return ids


def live(server: LiveServer) -> list[tuple[int, int | None]]:
    with server.sessions() as db:
        rows = db.scalars(select(Annotation).where(Annotation.superseded_by_id.is_(None)).order_by(Annotation.image_id))
        return [(a.image_id, a.label_class_id) for a in rows]


def test_the_page_has_a_heading(page, server: LiveServer) -> None:
    ids = open_labeling(page, server, 1)
    wait_for_image(page, ids["images"][0])
    assert page.locator("h1").inner_text().startswith("Label")


def test_held_space_and_enter_answer_one_image_each(page, server: LiveServer) -> None:
    ids = open_labeling(page, server, 3)
    first, second, third = ids["images"]
    wait_for_image(page, first)
    page.keyboard.down(" ")  # OK and submitted; the key stays down
    wait_for_image(page, second)
    page.keyboard.down(" ")  # auto-repeat of the held key: must not answer the next image
    page.keyboard.down(" ")
    page.keyboard.up(" ")
    page.keyboard.press("2")  # scratch
    page.keyboard.down("Enter")
    wait_for_image(page, third)
    page.keyboard.press("3")  # dent ...
    page.keyboard.down("Enter")  # ... with Enter still held: repeats must not submit it
    page.keyboard.up("Enter")
    page.keyboard.press("2")  # changed my mind: scratch
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    assert live(server) == [(first, ids["ok"]), (second, ids["scratch"]), (third, ids["scratch"])]


def test_an_answer_too_soon_is_explained_and_kept(page, server: LiveServer) -> None:
    ids = seed(server, 1)
    with server.sessions() as db:
        project = db.get(Project, ids["project"])
        project.settings = {**project.settings, "min_view_ms": 60_000}
        db.commit()
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    wait_for_image(page, ids["images"][0])
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    toast = page.locator("#toast")
    toast.wait_for(state="visible")
    assert "Take a moment to look at the image" in toast.inner_text() and "info" in toast.get_attribute("class")
    assert answers(server) == []
    with server.sessions() as db:  # as if a minute had passed
        db.execute(update(Assignment).values(shown_at=utcnow() - timedelta(seconds=61)))
        db.commit()
    page.keyboard.press("Enter")  # the answer was kept: dent is still chosen
    page.wait_for_selector("#stage-empty:not([hidden])")
    assert live(server) == [(ids["images"][0], ids["dent"])]


def test_after_a_comment_the_keys_go_to_the_next_image(page, server: LiveServer) -> None:
    ids = open_labeling(page, server, 3)
    first, second, third = ids["images"]
    wait_for_image(page, first)
    page.keyboard.press("3")
    page.keyboard.press("u")  # unsure: the comment box takes the typing
    page.keyboard.type("glare on rim")
    page.keyboard.press("Enter")
    wait_for_image(page, second)
    page.keyboard.press("2")  # a class key, not a letter of a comment
    assert page.locator("#comment").input_value() == ""
    page.keyboard.press("c")
    page.keyboard.type("dark")
    page.keyboard.press("Enter")
    wait_for_image(page, third)
    page.keyboard.type("13")  # stray keys: the class, never text in the comment
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    with server.sessions() as db:
        rows = db.scalars(select(Annotation).order_by(Annotation.id))
        stored = [(a.label_class_id, a.unsure, a.comment) for a in rows]
    assert stored == [(ids["dent"], True, "glare on rim"), (ids["scratch"], False, "dark"), (ids["dent"], False, "")]


def test_backspace_reopens_my_last_answers_for_a_relabel(page, server: LiveServer) -> None:
    ids = open_labeling(page, server, 3)
    first, second, third = ids["images"]
    wait_for_image(page, first)
    page.keyboard.press(" ")
    wait_for_image(page, second)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_image(page, third)
    page.keyboard.press("3")  # an unsent choice on the third image
    page.keyboard.press("Backspace")
    wait_for_image(page, second)
    assert page.locator("#relabel-note").is_visible()
    assert page.locator(f".class-button[data-class-id='{ids['scratch']}']").get_attribute("aria-checked") == "true"
    page.keyboard.press("Backspace")
    wait_for_image(page, first)
    page.keyboard.press("3")  # it was a dent after all
    page.keyboard.press("Enter")
    wait_for_image(page, third)  # back where I was, my choice still there
    assert not page.locator("#relabel-note").is_visible()
    assert page.locator(f".class-button[data-class-id='{ids['dent']}']").get_attribute("aria-checked") == "true"
    page.keyboard.press("Backspace")
    wait_for_image(page, first)
    page.keyboard.press("Escape")  # leave without changing it
    wait_for_image(page, third)
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    assert live(server) == [(first, ids["dent"]), (second, ids["scratch"]), (third, ids["dent"])]
    with server.sessions() as db:
        superseded = db.scalars(select(Annotation).where(Annotation.superseded_by_id.is_not(None))).all()
        assert [(a.image_id, a.label_class_id) for a in superseded] == [(first, ids["ok"])]


def test_a_required_box_is_asked_for_before_submit(page, server: LiveServer) -> None:
    ids = seed(server, 1)
    with server.sessions() as db:
        db.execute(update(LabelClass).where(LabelClass.id == ids["dent"]).values(box_rule="required"))
        db.commit()
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    wait_for_image(page, ids["images"][0])
    page.keyboard.press("3")
    assert "dent needs at least one dent box" in page.locator("#answer-missing").inner_text()
    page.keyboard.press("Enter")
    toast = page.locator("#toast")
    toast.wait_for(state="visible")
    assert "needs at least one dent box" in toast.inner_text()
    assert answers(server) == []
    drag(page, (100, 100), (200, 180))
    assert page.locator("#answer-missing").count() == 0
    page.keyboard.press("Escape")  # deselect the box
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    [stored] = answers(server)
    assert stored.label_class_id == ids["dent"] and len(stored.boxes) == 1
