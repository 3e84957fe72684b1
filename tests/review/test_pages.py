"""The review pages over HTTP: queue, conflict view, form decisions, lost races, feedback, access."""
from __future__ import annotations

from collections.abc import Callable

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.audit import AuditEvent
from app.review.models import FinalLabel, Resolution
from tests.factories import make_conflict, make_duplicate_group
from tests.review.scene import make_scene

Client = Callable[[User], TestClient]


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_queue_page_lists_conflicts_worst_first_with_filter_counts(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    s.disputed(["dent", "pit"], consensus="dent", severity=0.3, meta={"line": "L1"})
    s.disputed(["ok", "scratch"], consensus="ok", severity=0.8, meta={"line": "L2"})
    page = client_for(s.reviewer).get(f"/projects/{s.project.id}/review")
    assert page.status_code == 200
    html = soup(page)
    rows = html.select("#queue .queue-row")
    assert len(rows) == 2
    assert s.images[1].file_name in rows[0].get_text() and s.images[0].file_name in rows[1].get_text()
    lines = {a.select_one(".facet-label").get_text(): a.select_one(".facet-count").get_text()
             for a in html.select('[data-facet="line"] .facet-link')}
    assert lines == {"L1": "1", "L2": "1"}
    filtered = soup(client_for(s.reviewer).get(f"/projects/{s.project.id}/review?line=L1"))
    assert len(filtered.select("#queue .queue-row")) == 1


def test_inspectors_cannot_open_the_queue_and_outsiders_do_not_see_it(db: Session, client_for: Client) -> None:
    s, other = make_scene(db), make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    assert client_for(s.labelers[0]).get(f"/projects/{s.project.id}/review").status_code == 403
    assert client_for(other.reviewer).get(f"/projects/{s.project.id}/review").status_code == 404
    response = client_for(other.reviewer).get(f"/projects/{other.project.id}/review/conflicts/{conflict.id}")
    assert response.status_code == 404


def test_conflict_view_shows_every_answer_the_consensus_and_the_group(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit", "dent"], consensus="dent", boxes=[[s.box("dent")], [], []])
    twin = s.disputed(["pit", "pit"], consensus="pit")[0]
    make_duplicate_group(db, [image, twin])
    s.labelers[1].display_name = "<script>alert(1)</script>"
    db.flush()
    page = client_for(s.reviewer).get(f"/projects/{s.project.id}/review/conflicts/{conflict.id}")
    assert page.status_code == 200
    html = soup(page)
    assert [b["value"] for b in html.select("button.take")] == [f"take_labeler:{u.id}" for u in s.labelers]
    assert "Accept consensus: dent" in html.select_one('button[value="accept_consensus"]').get_text(" ", strip=True)
    assert len(html.select("svg#review-image g.layer")) == 4  # three labelers and the consensus
    assert len(html.select(".group-strip .group-item")) == 2
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_a_form_decision_redirects_to_the_next_conflict(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    first_image, first = s.disputed(["dent", "pit"], consensus="dent", severity=0.9)
    _, second = s.disputed(["ok", "pit"], consensus="ok", severity=0.5)
    client = client_for(s.reviewer)
    response = client.post(f"/projects/{s.project.id}/review/conflicts/{first.id}/decide?state=open",
                           data={"choice": "accept_consensus", "version": "1", "reason": "clear dent"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/projects/{s.project.id}/review/conflicts/{second.id}?")
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == first_image.id))
    assert final.label_class_id == s.cls("dent").id and final.source == "review"


def test_the_second_reviewer_sees_the_winner_and_keeps_their_choice(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    url = f"/projects/{s.project.id}/review/conflicts/{conflict.id}/decide"
    first = client_for(s.reviewer).post(url, data={"choice": "accept_consensus", "version": "1"},
                                        follow_redirects=False)
    assert first.status_code == 303
    late = client_for(s.admin).post(url, data={"choice": f"take_labeler:{s.labelers[1].id}", "version": "1",
                                               "reason": "I think pit"})
    assert late.status_code == 409
    notice = soup(late).select_one("#race-notice")
    assert "Rita Reviewer" in notice.get_text() and "not applied" in notice.get_text()
    assert notice.select_one('input[name="choice"]')["value"] == f"take_labeler:{s.labelers[1].id}"
    assert notice.select_one('input[name="version"]')["value"] == "2"
    assert db.scalar(select(func.count()).select_from(Resolution)) == 1
    lost = db.scalar(select(AuditEvent).where(AuditEvent.action == "review.decision_lost"))
    assert lost.actor_id == s.admin.id and lost.data["attempt"]["reason"] == "I think pit"


def test_a_bad_decision_shows_the_view_again_with_the_message(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    db.commit()  # the route rolls back its own failed work; keep the scene out of that savepoint
    response = client_for(s.reviewer).post(
        f"/projects/{s.project.id}/review/conflicts/{conflict.id}/decide",
        data={"choice": "send_back", "version": "1", "labeler_ids": [str(s.labelers[0].id)], "reason": ""})
    assert response.status_code == 422
    assert "write a note" in soup(response).select_one(".review-error").get_text()
    assert db.scalar(select(func.count()).select_from(Resolution)) == 0


def test_add_to_defect_book_from_the_conflict(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    response = client_for(s.reviewer).post(
        f"/projects/{s.project.id}/review/conflicts/{conflict.id}/example",
        data={"label_class_id": str(s.cls("pit").id), "note": "tiny round dark spot"}, follow_redirects=False)
    assert response.status_code == 303 and "flash=" in response.headers["location"]
    book = client_for(s.labelers[0]).get(f"/projects/{s.project.id}/defect-book")
    assert image.file_name in book.text and "tiny round dark spot" in book.text


def test_feedback_page_shows_where_the_decision_differed_with_the_reason(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    _, agreed = s.disputed(["pit", "pit", "ok"], consensus="pit")
    url = f"/projects/{s.project.id}/review/conflicts/%d/decide"
    reviewer = client_for(s.reviewer)
    reviewer.post(url % conflict.id, data={"choice": f"take_labeler:{s.labelers[1].id}", "version": "1",
                                            "reason": "pits are under 8 px"})
    reviewer.post(url % agreed.id, data={"choice": "accept_consensus", "version": "1"})
    page = client_for(s.labelers[0]).get(f"/projects/{s.project.id}/feedback")
    rows = soup(page).select(".feedback-row")
    assert len(rows) == 1 and "pits are under 8 px" in rows[0].get_text()
    assert client_for(s.labelers[1]).get(f"/projects/{s.project.id}/feedback").text.count("feedback-row") == 0
    assert client_for(s.labelers[0]).get(
        f"/projects/{s.project.id}/feedback?labeler={s.labelers[1].id}").status_code == 403
    assert client_for(s.reviewer).get(
        f"/projects/{s.project.id}/feedback?labeler={s.labelers[0].id}").status_code == 200


def test_group_conflict_page_offers_only_group_wide_decisions(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    a, b = s.disputed(["dent"], consensus="dent")[0], s.disputed(["pit"], consensus="pit")[0]
    group = make_duplicate_group(db, [a, b])
    conflict = make_conflict(db, None, kind="duplicate_group", group_id=group.id, severity=0.9)
    html = soup(client_for(s.reviewer).get(f"/projects/{s.project.id}/review/conflicts/{conflict.id}"))
    assert html.select_one('button[value="accept_consensus"]') is None
    assert html.select_one('button[data-mode="group"]') is not None
    assert len(html.select(".group-item")) == 2


def test_a_three_way_split_is_called_a_tie_not_a_majority(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    _, tied = s.disputed(["ok", "dent", "pit"], consensus="pit")
    _, clear = s.disputed(["dent", "dent", "pit"], consensus="pit")
    text = soup(client_for(s.reviewer).get(f"/projects/{s.project.id}/review/conflicts/{tied.id}")).get_text(" ")
    assert "A plain vote is a tie: ok, dent, pit." in text and "Plain majority" not in text
    text = soup(client_for(s.reviewer).get(f"/projects/{s.project.id}/review/conflicts/{clear.id}")).get_text(" ")
    assert "A plain vote is a tie" not in text
