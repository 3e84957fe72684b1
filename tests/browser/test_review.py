"""A reviewer works the conflict queue by keyboard in headless Chromium.

Accepts a consensus, takes one labeler's answer, sends one image back with a note, decides a
near-duplicate group at once; then the database holds exactly those resolutions. Set
CONCORD_SCREENSHOTS=DIR to keep screenshots of the queue and the conflict view.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.core.storage import LocalStorage
from app.labeling.models import Assignment
from app.projects.models import Project
from app.review import service
from app.review.models import FinalLabel, Resolution
from app.review.schemas import DecisionIn
from tests.browser.conftest import login
from tests.factories import (
    PASSWORD,
    add_member,
    class_named,
    make_annotation,
    make_conflict,
    make_consensus,
    make_duplicate_group,
    make_image,
    make_project,
    make_user,
)
from tests.support.live_server import LiveServer


def part_picture(defect: tuple[int, int, int, int] | None, shade: int = 200) -> bytes:
    """A light part on a dark belt with one dark defect: enough to look at."""
    picture = PILImage.new("RGB", (640, 480), (38, 42, 48))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((90, 60, 550, 420), radius=40, fill=(shade, shade, shade + 4))
    draw.ellipse((440, 90, 500, 150), fill=(60, 64, 70))
    if defect:
        x, y, w, h = defect
        draw.ellipse((x, y, x + w, y + h), fill=(120, 110, 100))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


def stored_image(db: Session, storage: LocalStorage, project: Any, defect: tuple[int, int, int, int] | None,
                 **columns: Any) -> Any:
    image = make_image(db, project, **columns)
    data = part_picture(defect)
    storage.put_bytes(image.storage_key, data)
    thumb = PILImage.open(io.BytesIO(data))
    thumb.thumbnail((320, 240))
    out = io.BytesIO()
    thumb.save(out, format="JPEG")
    image.thumbnail_key = f"thumbs/test/{image.id}.jpg"
    storage.put_bytes(image.thumbnail_key, out.getvalue())
    return image


def seed(server: LiveServer) -> dict[str, Any]:
    storage = LocalStorage(server.data_dir / "media")
    with server.sessions() as db:
        project = make_project(db, name="Phone cases line 3")
        reviewer = add_member(db, project, make_user(db, email="rita@example.com", name="Rita"), Role.reviewer)
        labelers = [add_member(db, project, make_user(db, name=name, password=None), Role.inspector)
                    for name in ("Ana", "Ben", "Cem")]
        c = {n: class_named(db, project, n) for n in ("ok", "scratch", "dent", "pit")}

        def box(name: str, x: float, y: float, w: float, h: float) -> dict[str, Any]:
            return {"x": x, "y": y, "w": w, "h": h, "class_id": c[name].id}

        def disputed(answers: list[str], consensus: str, severity: float, defect: tuple[int, int, int, int],
                     meta: dict[str, str]) -> tuple[Any, Any]:
            image = stored_image(db, storage, project, defect, meta=meta)
            for n, name in enumerate(answers):
                boxes = [] if name == "ok" else [box(name, defect[0] - 2 + n, defect[1] - 1, defect[2] + 4,
                                                     defect[3] + 3)]
                make_annotation(db, image, labelers[n], c[name], boxes=boxes, unsure=n == 1,
                                comment="hard to see under this light" if n == 1 else "")
            make_consensus(db, image, c[consensus], confidence=0.67, boxes=[box(consensus, *defect)])
            return image, make_conflict(db, image, severity=severity)

        a, ca = disputed(["dent", "pit", "dent"], "dent", 0.9, (200, 220, 60, 50), {"line": "L3", "shift": "night"})
        b, cb = disputed(["ok", "scratch", "ok"], "ok", 0.8, (300, 150, 90, 8), {"line": "L1", "shift": "day"})
        d, cd = disputed(["pit", "dent"], "pit", 0.7, (350, 300, 8, 8), {"line": "L2", "shift": "day"})
        twins = [stored_image(db, storage, project, (260, 260, 10, 10), meta={"line": "L2"}) for _ in range(3)]
        for twin, answer in zip(twins, ("pit", "dent", "pit"), strict=True):
            make_annotation(db, twin, labelers[0], c[answer], boxes=[box(answer, 258, 258, 14, 14)])
            make_consensus(db, twin, c[answer], confidence=1.0, boxes=[box(answer, 258, 258, 14, 14)])
        group = make_duplicate_group(db, twins)
        cg = make_conflict(db, None, kind="duplicate_group", group_id=group.id, severity=0.6)
        db.commit()
        return {"project": project.id, "reviewer": reviewer, "labelers": [u.id for u in labelers],
                "classes": {n: k.id for n, k in c.items()}, "images": [a.id, b.id, d.id, *[t.id for t in twins]],
                "conflicts": [ca.id, cb.id, cd.id, cg.id]}


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CONCORD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_reviewer_works_the_queue_by_keyboard(page: Any, server: LiveServer) -> None:
    seeded = seed(server)
    project, (ca, cb, cd, cg) = seeded["project"], seeded["conflicts"]
    login(page, "rita@example.com", PASSWORD)
    page.goto(f"/projects/{project}/review")
    assert page.locator("#queue .queue-row").count() == 4
    shot(page, "review-queue")
    page.keyboard.press("Enter")  # the worst conflict is selected first
    page.wait_for_url(f"**/review/conflicts/{ca}?**")
    page.locator("#review-image image").wait_for()
    shot(page, "conflict-view")

    page.keyboard.press("a")  # accept the consensus (dent)
    page.wait_for_url(f"**/review/conflicts/{cb}?**")
    assert "final label dent" in page.locator(".flash").inner_text()

    page.keyboard.press("1")  # take Ana's answer (ok)
    page.wait_for_url(f"**/review/conflicts/{cd}?**")

    page.keyboard.press("s")  # send back to Ben, with a note
    page.keyboard.press("2")
    page.keyboard.press("r")
    page.keyboard.type("Pits are round and under 8 px; look again at full zoom.")
    shot(page, "send-back")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/conflicts/{cg}?**")
    assert page.locator(".group-item").count() == 3
    shot(page, "group-conflict")

    page.keyboard.press("g")  # one class for the whole group: pit (key 4)
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/projects/{project}/review?**")
    assert "No conflicts match" in page.locator(".queue-card").inner_text()

    with server.sessions() as db:
        rows = db.execute(select(Resolution.conflict_id, Resolution.decision, Resolution.label_class_id,
                                 Resolution.taken_from_labeler_id, Resolution.reviewer_id)
                          .order_by(Resolution.id)).all()
        classes, labelers, reviewer = seeded["classes"], seeded["labelers"], seeded["reviewer"].id
        assert rows == [(ca, "accept_consensus", classes["dent"], None, reviewer),
                        (cb, "take_labeler", classes["ok"], labelers[0], reviewer),
                        (cd, "send_back", None, None, reviewer),
                        (cg, "group", classes["pit"], None, reviewer)]
        returned = db.execute(select(Assignment.image_id, Assignment.labeler_id, Assignment.state,
                                     Assignment.note)).all()
        assert returned == [(seeded["images"][2], labelers[1], "returned",
                             "Pits are round and under 8 px; look again at full zoom.")]
        finals = dict(db.execute(select(FinalLabel.image_id, FinalLabel.label_class_id)).all())
        images = seeded["images"]
        assert finals == {images[0]: classes["dent"], images[1]: classes["ok"], images[3]: classes["pit"],
                          images[4]: classes["pit"], images[5]: classes["pit"]}


def test_the_second_reviewer_is_told_plainly_and_can_reapply(page: Any, server: LiveServer) -> None:
    seeded = seed(server)
    project, conflict = seeded["project"], seeded["conflicts"][0]
    login(page, "rita@example.com", PASSWORD)
    page.goto(f"/projects/{project}/review/conflicts/{conflict}")
    with server.sessions() as db:  # someone else decides while the page is open
        found = db.get_one(Project, project)
        other = add_member(db, found, make_user(db, name="Omar", password=None), Role.reviewer)
        service.decide(db, project=found, conflict_id=conflict, reviewer=other,
                       data=DecisionIn(decision="ambiguous", version=1, reason="glare"))
        db.commit()
    page.keyboard.press("1")
    notice = page.locator("#race-notice")
    notice.wait_for()
    assert "Omar" in notice.inner_text() and "not applied" in notice.inner_text()
    shot(page, "race-notice")
    page.click("#race-notice button:has-text('Apply mine')")
    page.wait_for_url("**/review**")
    with server.sessions() as db:
        decisions = db.scalars(select(Resolution.decision).where(Resolution.conflict_id == conflict)
                               .order_by(Resolution.id)).all()
        assert decisions == ["ambiguous", "take_labeler"]


def test_edit_draws_the_final_box_with_the_labeling_canvas(page: Any, server: LiveServer) -> None:
    seeded = seed(server)
    project, conflict = seeded["project"], seeded["conflicts"][2]
    login(page, "rita@example.com", PASSWORD)
    page.goto(f"/projects/{project}/review/conflicts/{conflict}")
    page.keyboard.press("e")
    canvas = page.locator("#box-editor svg")
    canvas.wait_for()
    page.keyboard.press("3")  # dent, for the image and for new boxes
    page.keyboard.press("Delete")  # nothing selected: nothing happens
    box = canvas.bounding_box()
    scale = box["width"] / 640  # the canvas shows the whole 640 px image at first
    start = (box["x"] + 100 * scale, box["y"] + 100 * scale)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 60 * scale, start[1] + 40 * scale, steps=5)
    page.mouse.up()
    shot(page, "edit-mode")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".review-error").count() == 0, page.locator(".review-error").inner_text()
    with server.sessions() as db:
        final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == seeded["images"][2]))
        assert final.label_class_id == seeded["classes"]["dent"]
        drawn = [b for b in final.boxes if abs(b["x"] - 100) < 3 and abs(b["y"] - 100) < 3]
        assert len(drawn) == 1 and abs(drawn[0]["w"] - 60) < 3 and drawn[0]["class_id"] == seeded["classes"]["dent"]
        assert len(final.boxes) == 2  # the consensus box it started from, and the new one
