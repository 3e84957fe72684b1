"""The model loop in the browser: train on a frozen version, read the run, fix labels in review, freeze
again, retrain, and compare the two runs on the same reference with the changes that explain them."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.auth.models import Role
from app.core.config import Settings
from app.core.storage import LocalStorage
from app.review.models import FinalLabel
from tests.browser.conftest import login
from tests.factories import PASSWORD, add_member, make_annotation, make_conflict, make_consensus, make_user
from tests.modeling.scene import build
from tests.support.live_server import LiveServer

WRONG = 10  # scratched parts whose decided label says "ok" until a reviewer fixes them: enough to mislead run 1


def seed(server: LiveServer) -> dict[str, Any]:
    settings = Settings(database_url="sqlite://", data_dir=server.data_dir)
    with server.sessions() as db:
        scene = build(db, storage=LocalStorage(settings.media_dir), settings=settings, images=40)
        admin = add_member(db, scene.project, make_user(db, email="ada@example.com", name="Ada"), Role.admin)
        labelers = [add_member(db, scene.project, make_user(db, name=n, password=None), Role.inspector)
                    for n in ("Ana", "Ben", "Cem")]
        scratched = [im for im in scene.images if scene.truth[im.id] == "scratch"][:WRONG]
        ok, scratch = scene.classes["ok"], scene.classes["scratch"]
        for n, image in enumerate(scratched):
            final = db.scalars(select(FinalLabel).where(FinalLabel.image_id == image.id)).one()
            final.label_class_id, final.source = ok.id, "consensus"
            for labeler, answer in zip(labelers, (scratch, ok, ok), strict=True):
                make_annotation(db, image, labeler, answer)
            make_consensus(db, image, ok, confidence=0.67)
            make_conflict(db, image, severity=0.9 - n / 10)
        db.commit()
        return {"project": scene.project.id, "email": admin.email}


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("CONCORD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def freeze(page: Any, project: int, name: str, *, keep_unresolved: bool = False) -> None:
    page.goto(f"/projects/{project}/datasets")
    page.fill("input[name=name]", name)
    if keep_unresolved:
        page.uncheck("input[name=exclude_unresolved]")
    for split, share in (("train", "0.5"), ("val", "0.1"), ("test", "0.4")):  # a test split worth comparing on
        page.fill(f"input[name={split}]", share)
    page.get_by_role("button", name="Freeze version").click()
    page.wait_for_url(f"**/projects/{project}/datasets/*")


def train(page: Any, project: int, version: str) -> str:
    """Train from the runs page on the named version; returns the run page's URL once the run is done."""
    page.goto(f"/projects/{project}/models")
    page.select_option("select[name=version_id]", label=page.locator("select[name=version_id] option",
                                                                     has_text=version).first.inner_text())
    page.get_by_role("button", name="Train").click()
    page.wait_for_url(f"**/projects/{project}/models/*")
    page.locator(".run-state", has_text="done").wait_for(timeout=120_000)  # the page reloads when the job ends
    return page.url.split("?")[0]


def test_train_fix_labels_retrain_and_compare(page: Any, server: LiveServer) -> None:
    seeded = seed(server)
    project = seeded["project"]
    login(page, seeded["email"], PASSWORD)
    freeze(page, project, "first cut", keep_unresolved=True)

    first = train(page, project, "first cut")
    assert page.locator("h1").inner_text() == "Run 1"
    reference = int(page.locator(".reference-count").inner_text())
    assert reference > 0
    assert page.locator(".class-table tbody tr").count() == 2
    assert page.locator("svg.chart-heatmap").count() == 1 and page.locator("svg.chart-reliability").count() == 1
    shot(page, "models-run-1")
    page.goto(f"/projects/{project}/models")
    shot(page, "models-runs-1")

    page.goto(f"/projects/{project}/review")
    assert page.locator("#queue .queue-row").count() == WRONG
    page.keyboard.press("Enter")
    for n in range(WRONG):
        page.wait_for_url("**/review/conflicts/*")
        page.locator("#review-image image").wait_for()
        before = page.url
        page.keyboard.press("1")  # Ana's answer: scratch
        page.wait_for_url(lambda url, before=before: url != before)
    freeze(page, project, "labels fixed")

    second = train(page, project, "labels fixed")
    assert page.locator("h1").inner_text() == "Run 2"
    page.keyboard.press("c")  # compare with the previous run
    page.wait_for_url("**/models/compare?*")
    assert page.locator("h1").inner_text() == "Run 2 against run 1"
    assert "labels fixed" in page.locator("p.reference").inner_text()
    assert int(page.locator(".reference-count").inner_text()) > 0
    deltas = page.locator(".headline-table .delta .figure-value").all_inner_texts()
    assert len(deltas) == 2 and float(deltas[0]) > 0, deltas  # the fixed labels made run 2 more accurate
    assert int(page.locator(".n-fixed").inner_text()) > 0 and page.locator(".n-broken").inner_text() == "0"
    thumbnail = page.locator(".changed-images.fixed img").first
    thumbnail.wait_for()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("svg.chart-delta").count() >= 2
    sentences = page.locator(".attribution li").all_inner_texts()
    assert sentences[0].startswith(f"From version 1 to version 2: {WRONG} labels changed class"), sentences
    assert any(f"{WRONG} labels corrected to scratch" in s for s in sentences), sentences
    shot(page, "models-compare")

    page.goto(first)
    page.get_by_role("button", name="Send likely label errors to review").click()
    page.wait_for_url(f"**/projects/{project}/review*")
    assert "likely label errors" in page.locator(".flash").inner_text()
    page.goto(f"/projects/{project}/models")
    assert page.locator(".runs-table tbody tr").count() == 2
    assert second.endswith(page.locator(".runs-table .run-link").first.get_attribute("href"))
    page.keyboard.press("c")  # the compare form's default: the two newest runs
    page.wait_for_url("**/models/compare?*")
    assert page.locator("h1").inner_text() == "Run 2 against run 1"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen but tables
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, overflow
    shot(page, "models-compare-phone")
