"""The images browser and the image page (SQLite and Postgres): each filter, keyset pages, tiles
with the final label and an open-conflict marker, the image's whole label story, access."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Invalid
from app.images import browse
from app.images.browse import BrowseFilters
from app.labeling.models import Annotation
from app.review import flags
from tests.factories import make_annotation, make_conflict, make_final_label, make_image, make_user
from tests.review.scene import Scene, make_scene

Client = Callable[[User], TestClient]


def world(db: Session) -> tuple[Scene, dict[str, object]]:
    s = make_scene(db)
    a = make_image(db, s.project, meta={"line": "L1", "camera": "top"}, file_name="left_clip_001.png")
    b = make_image(db, s.project, meta={"line": "L2", "shift": "night"}, file_name="right_clip_002.png")
    c = make_image(db, s.project, meta={"line": "L2"}, file_name="Belt_100%_003.png")
    d = make_image(db, s.project, meta={}, file_name="unlabeled_004.png")
    for labeler in s.labelers:
        make_annotation(db, a, labeler, s.cls("ok"))
    make_final_label(db, a, s.cls("ok"), source="unanimous", confidence=1.0)
    make_annotation(db, b, s.labelers[0], s.cls("dent"))
    make_annotation(db, b, s.labelers[1], s.cls("pit"))
    make_conflict(db, b, kind="class_disagreement", severity=50.0)
    make_annotation(db, c, s.labelers[2], s.cls("scratch"))
    make_final_label(db, c, s.cls("scratch"), source="review")
    return s, {"a": a, "b": b, "c": c, "d": d}


def ids(db: Session, s: Scene, **params: str) -> list[int]:
    found = browse.browse_page(db, project_id=s.project.id, filters=BrowseFilters.parse(params))
    return [t.image.id for t in found.tiles]


def test_each_filter(db: Session) -> None:
    s, im = world(db)
    a, b, c, d = (im[k].id for k in "abcd")  # type: ignore[attr-defined]
    assert ids(db, s) == [a, b, c, d]
    assert ids(db, s, **{"class": str(s.cls("ok").id)}) == [a]
    assert ids(db, s, source="unanimous") == [a]
    assert ids(db, s, source="review") == [c]
    assert ids(db, s, source="none") == [b, d]
    assert ids(db, s, conflict="open") == [b]
    assert ids(db, s, conflict="none") == [a, c, d]
    assert ids(db, s, labeler=str(s.labelers[2].id)) == [a, c]
    assert ids(db, s, line="L2") == [b, c]
    assert ids(db, s, line="L2", shift="night") == [b]
    assert ids(db, s, camera="top") == [a]
    assert ids(db, s, q="CLIP") == [a, b]
    assert ids(db, s, q="100%") == [c]  # LIKE wildcards are matched literally
    assert ids(db, s, q="e_t") == []  # "_" too: no "left" nor "Belt"
    assert ids(db, s, q="t_c") == [a, b]
    for bad in ({"source": "password_hash"}, {"conflict": "maybe"}, {"class": "1 OR 1=1"}, {"labeler": "-1"}):
        with pytest.raises(Invalid):
            BrowseFilters.parse(bad)


def test_tiles_carry_the_final_label_and_the_open_conflicts(db: Session) -> None:
    s, im = world(db)
    flags.flag_image(db, project=s.project, image_id=im["a"].id, reviewer=s.reviewer, note="not ok")  # type: ignore[attr-defined]
    tiles = {t.image.id: t for t in browse.browse_page(db, project_id=s.project.id, filters=BrowseFilters()).tiles}
    a, b = tiles[im["a"].id], tiles[im["b"].id]  # type: ignore[attr-defined]
    assert a.label_class.name == "ok" and a.final.source == "unanimous" and a.open_conflicts == ["flagged"]
    assert a.labels == 3 and b.final is None and b.open_conflicts == ["class_disagreement"]
    assert ids(db, s, conflict="open") == [im["a"].id, im["b"].id]  # type: ignore[attr-defined]


def test_keyset_pages_neither_skip_nor_repeat(db: Session) -> None:
    s = make_scene(db)
    made = [make_image(db, s.project, meta={"line": "L1" if n % 3 else "L9"}).id for n in range(11)]
    wanted = [i for n, i in enumerate(made) if n % 3]
    seen, after, pages = [], None, 0
    filters = BrowseFilters.parse({"line": "L1"})
    while True:
        page = browse.browse_page(db, project_id=s.project.id, filters=filters, after=after, limit=3)
        seen += [t.image.id for t in page.tiles]
        pages += 1
        assert page.total == len(wanted)
        if page.after is None:
            break
        after = page.after
    assert seen == wanted and pages == 3
    back = browse.browse_page(db, project_id=s.project.id, filters=filters, before=wanted[6], limit=3)
    assert [t.image.id for t in back.tiles] == wanted[3:6] and back.before == wanted[3] and back.after == wanted[5]
    first = browse.browse_page(db, project_id=s.project.id, filters=filters, limit=3)
    assert first.before is None
    assert browse.neighbours(db, project_id=s.project.id, filters=filters, image_id=wanted[4]) == (wanted[3], wanted[5])


def test_the_browser_page_filters_pages_and_refuses_others(db: Session, client_for: Client) -> None:
    s, im = world(db)
    base = f"/projects/{s.project.id}/images"
    page = client_for(s.reviewer).get(base)
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    tiles = html.select("#tiles .tile")
    assert [t["data-image"] for t in tiles] == [str(im[k].id) for k in "abcd"]  # type: ignore[attr-defined]
    disputed = html.select_one(f'.tile[data-image="{im["b"].id}"]')  # type: ignore[attr-defined]
    assert disputed.select_one(".conflict-marker").get_text(strip=True) == "1 open"
    assert "ok" in html.select_one(f'.tile[data-image="{im["a"].id}"] .tile-label').get_text()  # type: ignore[attr-defined]
    assert html.select_one('.project-nav a[aria-current="page"]').get_text() == "Images"
    filtered = BeautifulSoup(client_for(s.admin).get(f"{base}?line=L2&conflict=open").text, "html.parser")
    assert [t["data-image"] for t in filtered.select("#tiles .tile")] == [str(im["b"].id)]  # type: ignore[attr-defined]
    assert filtered.select_one(".tile")["href"] == f"{base}/{im['b'].id}?conflict=open&line=L2"  # type: ignore[attr-defined]
    assert client_for(s.reviewer).get(f"{base}?source=secret").status_code == 422
    assert client_for(s.labelers[0]).get(base).status_code == 403
    assert client_for(make_user(db)).get(base).status_code == 404
    hub = BeautifulSoup(client_for(s.reviewer).get(f"/projects/{s.project.id}").text, "html.parser")
    assert hub.select_one(f'.section-cards a[href="{base}"]') is not None
    inspector_hub = client_for(s.labelers[0]).get(f"/projects/{s.project.id}").text
    assert f'href="{base}"' not in inspector_hub


def test_the_image_page_tells_the_whole_story(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit", "dent"], consensus="dent", meta={"line": "L3", "camera": "c2"},
                                 boxes=[[s.box("dent")], [s.box("pit")], []])
    earlier = db.scalar(select(Annotation).where(Annotation.image_id == image.id,
                                                 Annotation.labeler_id == s.labelers[1].id))
    earlier.superseded_by_id = earlier.id  # a relabel, as the labeling service writes it
    db.flush()
    earlier.label_class_id = s.cls("ok").id
    later = make_annotation(db, image, s.labelers[1], s.cls("pit"), boxes=[s.box("pit")])
    earlier.superseded_by_id = later.id
    make_annotation(db, make_image(db, s.project), s.labelers[0], s.cls("scratch"))  # another image's
    db.flush()
    page = client_for(s.reviewer).get(f"/projects/{s.project.id}/images/{image.id}?line=L3")
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    assert len(html.select("#review-image g.layer")) == 4  # three labelers and the consensus
    assert [i["data-layer"] for i in html.select(".layer-bar input")][:3] == [f"labeler-{u.id}" for u in s.labelers]
    rows = html.select("#label-history tbody tr")
    assert len(rows) == 4 and len(html.select("#label-history tr.superseded")) == 1
    assert "ok" in html.select_one("#label-history tr.superseded").get_text()
    conflicts = html.select("#conflicts-card a")
    assert [a["href"] for a in conflicts] == [f"/projects/{s.project.id}/review/conflicts/{conflict.id}?state=all"]
    facts = html.select_one("#image-facts").get_text()
    assert "L3" in facts and "c2" in facts and image.sha256 in facts
    assert html.select_one("#back-to-images")["href"] == f"/projects/{s.project.id}/images?line=L3"
    assert "scratch" not in html.select_one("#label-history").get_text()
    conflict_page = client_for(s.reviewer).get(f"/projects/{s.project.id}/review/conflicts/{conflict.id}")
    link = BeautifulSoup(conflict_page.text, "html.parser").select_one("#image-page-link")
    assert link["href"] == f"/projects/{s.project.id}/images/{image.id}"
    other = make_scene(db)
    stranger = make_image(db, other.project)
    assert client_for(s.reviewer).get(f"/projects/{s.project.id}/images/{stranger.id}").status_code == 404
    assert client_for(s.labelers[0]).get(f"/projects/{s.project.id}/images/{image.id}").status_code == 403
