"""The inspector's loop in headless Chromium: keys for classes, a box drawn with the mouse, Enter to
submit; the database holds exactly those answers with the right pixel coordinates. And #36: the
session ends mid-labeling, the draft survives the new login."""

from __future__ import annotations

from sqlalchemy import select, update

from app.auth.models import Role, UserSession
from app.core.config import Settings
from app.core.db import utcnow
from app.core.storage import LocalStorage
from app.images import service as image_service
from app.labeling.models import Annotation
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, class_named, image_bytes, make_project, make_user
from tests.support.live_server import LiveServer


def seed(server: LiveServer, n_images: int) -> dict:
    settings = Settings(database_url="sqlite://", data_dir=server.data_dir)
    storage = LocalStorage(settings.media_dir)
    with server.sessions() as db:
        project = make_project(db, name="Housings line 2", classes=("ok", "scratch", "dent"))
        user = add_member(db, project, make_user(db, email="ines@example.com", name="Ines"), Role.inspector)
        ids = []
        for i in range(n_images):
            result = image_service.store_image_bytes(
                db,
                storage=storage,
                settings=settings,
                project=project,
                data=image_bytes(640, 480, (60 + 40 * i, 90, 120), "JPEG"),
                file_name=f"part_{i}.jpg",
            )
            ids.append(result.image.id)
        db.commit()
        return {
            "project": project.id,
            "user": user.id,
            "images": ids,
            **{name: class_named(db, project, name).id for name in ("ok", "scratch", "dent")},
        }


def wait_for_image(page, image_id: int) -> None:
    """The page shows this image and is ready for input (labeling.js sets data-image-id last)."""
    page.wait_for_selector(f"#canvas-host[data-image-id='{image_id}']")


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) is on the screen."""
    return tuple(
        page.evaluate(
            "([x, y]) => { const svg = document.querySelector('.bc-svg'); const p = svg.createSVGPoint();"
            " p.x = x; p.y = y; const s = p.matrixTransform(svg.getScreenCTM()); return [s.x, s.y]; }",
            [x, y],
        )
    )


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    (x1, y1), (x2, y2) = screen_point(page, *start), screen_point(page, *end)
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=4)
    page.mouse.move(x2, y2, steps=4)
    page.mouse.up()


def answers(server: LiveServer) -> list[Annotation]:
    with server.sessions() as db:
        return list(db.scalars(select(Annotation).order_by(Annotation.id)))


def test_an_inspector_labels_with_the_keyboard_and_draws_a_box(page, server: LiveServer) -> None:
    ids = seed(server, 3)
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    first, second, third = ids["images"]

    wait_for_image(page, first)
    assert "0 done today" in page.locator("#progress-line").inner_text()
    page.keyboard.press("Space")  # OK, and submitted

    wait_for_image(page, second)
    page.keyboard.press("3")  # dent: the image class and the class of new boxes
    drag(page, (100, 100), (300, 200))
    shown = page.locator(".bc-svg").bounding_box()  # one screen pixel, in image pixels, is the tolerance
    tolerance = max(640 / shown["width"], 480 / shown["height"]) + 0.5
    assert page.locator("#box-count").inner_text() == "1"
    page.keyboard.press("ArrowRight")  # the new box is selected: nudge it one pixel right
    page.keyboard.press("Enter")

    wait_for_image(page, third)
    assert "2 done today" in page.locator("#progress-line").inner_text()
    page.keyboard.press("2")  # scratch
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")

    stored = answers(server)
    assert [(a.image_id, a.label_class_id) for a in stored] == [
        (first, ids["ok"]),
        (second, ids["dent"]),
        (third, ids["scratch"]),
    ]
    assert stored[0].boxes == [] and stored[2].boxes == []
    [box] = stored[1].boxes
    assert box["class_id"] == ids["dent"]
    for key, want in (("x", 101), ("y", 100), ("w", 200), ("h", 100)):
        assert abs(box[key] - want) <= tolerance, (key, box)
    assert all(a.source == "web" and a.idempotency_key and a.duration_ms is not None for a in stored)


def test_double_enter_and_escape_skip(page, server: LiveServer) -> None:
    ids = seed(server, 2)
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    first, second = ids["images"]
    wait_for_image(page, first)
    page.keyboard.press("Escape")  # skip: it comes back after the other one
    wait_for_image(page, second)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # a double Enter stores one answer
    wait_for_image(page, first)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    assert [(a.image_id, a.label_class_id) for a in answers(server)] == [(second, ids["ok"]), (first, ids["scratch"])]


def test_the_draft_survives_an_expired_session(page, server: LiveServer) -> None:
    """#36: the session ends while labeling; Enter gets 401; after logging in again the draft is there."""
    ids = seed(server, 1)
    login(page, "ines@example.com", PASSWORD)
    page.goto(f"/projects/{ids['project']}/label")
    wait_for_image(page, ids["images"][0])
    page.keyboard.press("3")
    drag(page, (50, 60), (150, 160))
    with server.sessions() as db:  # the session expires on the server
        db.execute(update(UserSession).values(expires_at=utcnow()))
        db.commit()
    page.keyboard.press("Escape")  # deselect the box (the first Esc never skips a drawn box away)
    page.keyboard.press("Enter")
    toast = page.locator("#toast")
    toast.wait_for(state="visible")
    assert "session has ended" in toast.inner_text()
    assert answers(server) == []
    page.click("#toast a")
    page.fill("input[name=email]", "ines@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(f"**/projects/{ids['project']}/label")
    wait_for_image(page, ids["images"][0])
    assert page.locator(f".class-button[data-class-id='{ids['dent']}']").get_attribute("aria-checked") == "true"
    assert page.locator("#box-count").inner_text() == "1"
    page.keyboard.press("Enter")
    page.wait_for_selector("#stage-empty:not([hidden])")
    [stored] = answers(server)
    assert stored.label_class_id == ids["dent"] and len(stored.boxes) == 1
