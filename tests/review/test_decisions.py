"""Decisions at the service level: what each one writes, what it never touches, and what it refuses."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.consistency.models import ConflictState
from app.core.audit import AuditEvent
from app.core.errors import Invalid, NotFound
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.review import service
from app.review.models import Decision, FinalLabel, FinalLabelSource, Resolution
from app.review.schemas import DecisionIn
from app.review.service import StaleDecision
from tests.factories import make_conflict, make_duplicate_group, make_final_label
from tests.review.scene import Scene, make_scene


def decide(s: Scene, conflict, **fields):
    data = DecisionIn(version=fields.pop("version", conflict.version), **fields)
    return service.decide(s.db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer, data=data)


def final_of(db: Session, image) -> FinalLabel:
    return db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))


def snapshot_annotations(db: Session) -> list[tuple]:
    return [(a.id, a.label_class_id, list(a.boxes), a.superseded_by_id, a.comment)
            for a in db.scalars(select(Annotation).order_by(Annotation.id))]


def test_accept_consensus_writes_resolution_and_final_label_and_leaves_answers_alone(db: Session) -> None:
    s = make_scene(db)
    box = s.box("dent", 100, 100, 40, 30)
    image, conflict = s.disputed(["dent", "pit", "dent"], consensus="dent", consensus_boxes=[box])
    before = snapshot_annotations(db)
    result = decide(s, conflict, decision="accept_consensus", reason="shallow and wide: a dent")
    assert conflict.state == ConflictState.resolved and conflict.resolved_at is not None
    resolution = result.resolution
    assert (resolution.decision, resolution.label_class_id, resolution.reviewer_id) == \
        (Decision.accept_consensus, s.cls("dent").id, s.reviewer.id)
    assert resolution.conflict_version == 1 and resolution.reason == "shallow and wide: a dent"
    final = final_of(db, image)
    assert (final.label_class_id, final.source, final.resolution_id) == (s.cls("dent").id, FinalLabelSource.review,
                                                                         resolution.id)
    assert final.boxes == [box]
    assert snapshot_annotations(db) == before  # nothing a labeler entered changed
    db.flush()
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "review.decision"))
    assert event.object_id == conflict.id and event.data["decision"] == "accept_consensus"


def test_take_one_labelers_answer_copies_class_and_boxes(db: Session) -> None:
    s = make_scene(db)
    pit_box = s.box("pit", 300, 200, 6, 6)
    image, conflict = s.disputed(["dent", "pit", "ok"], consensus="dent", boxes=[[], [pit_box], []])
    result = decide(s, conflict, decision="take_labeler", labeler_id=s.labelers[1].id)
    final = final_of(db, image)
    assert final.label_class_id == s.cls("pit").id and final.boxes == [pit_box]
    assert result.resolution.taken_from_labeler_id == s.labelers[1].id


def test_edit_sets_class_and_checked_boxes(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    decide(s, conflict, decision="edit", label_class_id=s.cls("scratch").id,
           boxes=[s.box("scratch", 1, 2, 50, 3)])
    assert final_of(db, image).label_class_id == s.cls("scratch").id
    assert final_of(db, image).boxes == [{"x": 1.0, "y": 2.0, "w": 50.0, "h": 3.0, "class_id": s.cls("scratch").id}]


@pytest.mark.parametrize("box, field", [
    ({"x": 630, "y": 0, "w": 20, "h": 5}, "boxes"),          # past the right edge of 640
    ({"x": 0, "y": 0, "w": 0, "h": 5}, "boxes"),              # empty
    ({"x": -1, "y": 0, "w": 5, "h": 5}, "boxes"),             # negative
])
def test_edit_refuses_boxes_outside_the_image_and_stores_nothing(db: Session, box: dict, field: str) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    with pytest.raises((Invalid, ValueError)):
        decide(s, conflict, decision="edit", label_class_id=s.cls("dent").id,
               boxes=[{**box, "class_id": s.cls("dent").id}])
    assert final_of(db, image) is None and conflict.state == ConflictState.open


def test_another_projects_class_is_refused(db: Session) -> None:
    s, other = make_scene(db), make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    with pytest.raises(Invalid):
        decide(s, conflict, decision="edit", label_class_id=other.cls("dent").id, boxes=[])


def test_another_projects_conflict_is_not_found(db: Session) -> None:
    s, other = make_scene(db), make_scene(db)
    _, theirs = other.disputed(["dent", "pit"], consensus="dent")
    with pytest.raises(NotFound):
        decide(s, theirs, decision="accept_consensus")


def test_ambiguous_excludes_the_image_until_decided(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    decide(s, conflict, decision="ambiguous", reason="cannot tell from this angle")
    final = final_of(db, image)
    assert final.is_ambiguous and final.label_class_id is None
    assert conflict.state == ConflictState.ambiguous
    assert service.agrees_with_decision(db, image_id=image.id, label_class_id=s.cls("dent").id) is False
    decide(s, conflict, decision="accept_consensus")  # deciding later clears it
    assert not final_of(db, image).is_ambiguous and conflict.state == ConflictState.resolved


def test_send_back_creates_returned_assignments_with_the_note(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit", "ok"], consensus="dent")
    open_one = Assignment(project_id=s.project.id, image_id=image.id, labeler_id=s.labelers[2].id, state="open")
    db.add(open_one)
    db.flush()
    decide(s, conflict, decision="send_back", labeler_ids=[s.labelers[1].id, s.labelers[2].id],
           reason="look for the shadow: pits have none")
    rows = db.scalars(select(Assignment).where(Assignment.image_id == image.id).order_by(Assignment.labeler_id)).all()
    assert [(a.labeler_id, a.state, a.note, a.returned_by_id) for a in rows] == [
        (s.labelers[1].id, AssignmentState.returned, "look for the shadow: pits have none", s.reviewer.id),
        (s.labelers[2].id, AssignmentState.returned, "look for the shadow: pits have none", s.reviewer.id)]
    assert rows[1].id == open_one.id  # the open assignment was turned, not duplicated
    assert conflict.state == ConflictState.returned and final_of(db, image) is None
    resolution = db.scalar(select(Resolution).where(Resolution.conflict_id == conflict.id))
    assert resolution.decision == Decision.send_back


def test_send_back_needs_a_note_and_members(db: Session) -> None:
    s, other = make_scene(db), make_scene(db)
    _, conflict = s.disputed(["dent", "pit"], consensus="dent")
    with pytest.raises(Invalid, match="note"):
        decide(s, conflict, decision="send_back", labeler_ids=[s.labelers[0].id])
    with pytest.raises(Invalid, match="not members"):
        decide(s, conflict, decision="send_back", labeler_ids=[other.labelers[0].id], reason="again")
    assert db.scalar(select(func.count()).select_from(Assignment)) == 0


def test_a_decision_settles_every_active_conflict_of_the_image(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    boxes = make_conflict(db, image, kind="missing_box", severity=0.2)
    old = make_conflict(db, image, kind="gold_miss", state="closed")
    result = decide(s, conflict, decision="accept_consensus")
    assert {r.conflict_id for r in result.resolutions} == {conflict.id, boxes.id}
    assert boxes.state == ConflictState.resolved and old.state == "closed"


def test_group_decision_sets_every_image_of_the_group(db: Session) -> None:
    s = make_scene(db)
    a, ca = s.disputed(["dent", "pit"], consensus="dent")
    b, cb = s.disputed(["pit", "pit"], consensus="pit")
    c = s.disputed(["dent", "dent"], consensus="dent")[0]
    group = make_duplicate_group(db, [a, b, c])
    group_conflict = make_conflict(db, None, kind="duplicate_group", group_id=group.id, severity=0.9)
    result = decide(s, ca, decision="group", label_class_id=s.cls("pit").id, reason="same part: a pit")
    assert sorted(result.image_ids) == sorted([a.id, b.id, c.id])
    assert {final_of(db, i).label_class_id for i in (a, b, c)} == {s.cls("pit").id}
    settled = {r.conflict_id for r in result.resolutions}
    assert {ca.id, cb.id, group_conflict.id} <= settled
    assert all(x.state == ConflictState.resolved for x in (ca, cb, group_conflict))


def test_a_group_conflict_can_only_be_decided_with_one_class(db: Session) -> None:
    s = make_scene(db)
    a, _ = s.disputed(["dent", "pit"], consensus="dent")
    b, _ = s.disputed(["pit", "pit"], consensus="pit")
    group = make_duplicate_group(db, [a, b])
    group_conflict = make_conflict(db, None, kind="duplicate_group", group_id=group.id)
    with pytest.raises(Invalid, match="one class"):
        decide(s, group_conflict, decision="accept_consensus")
    decide(s, group_conflict, decision="group", label_class_id=s.cls("dent").id)
    assert final_of(db, b).label_class_id == s.cls("dent").id


def test_deciding_on_an_old_version_is_refused_with_the_current_state(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    decide(s, conflict, decision="accept_consensus", reason="first")
    with pytest.raises(StaleDecision) as raised:
        decide(s, conflict, decision="edit", version=1, label_class_id=s.cls("pit").id, boxes=[])
    detail = raised.value.detail
    assert detail["state"] == "resolved" and detail["version"] == 2
    assert detail["resolution"]["reason"] == "first" and detail["resolution"]["reviewer"] == "Rita Reviewer"
    assert final_of(db, image).label_class_id == s.cls("dent").id


def test_decision_for_image_reports_only_review_decisions(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    unanimous = s.disputed(["ok", "ok"])[0]
    make_final_label(db, unanimous, s.cls("ok"), source="unanimous")
    assert service.decision_for_image(db, unanimous.id) is None
    assert service.agrees_with_decision(db, image_id=image.id, label_class_id=s.cls("pit").id) is None
    decide(s, conflict, decision="edit", label_class_id=s.cls("pit").id, boxes=[])
    decided = service.decision_for_image(db, image.id)
    assert decided.label_class_id == s.cls("pit").id and not decided.is_ambiguous
    assert service.agrees_with_decision(db, image_id=image.id, label_class_id=s.cls("pit").id) is True
    assert service.agrees_with_decision(db, image_id=image.id, label_class_id=s.cls("dent").id) is False


def test_redeciding_a_resolved_conflict_adds_a_resolution_and_keeps_the_first(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["dent", "pit"], consensus="dent")
    decide(s, conflict, decision="accept_consensus")
    decide(s, conflict, decision="edit", label_class_id=s.cls("pit").id, boxes=[], reason="second look")
    rows = db.scalars(select(Resolution).where(Resolution.conflict_id == conflict.id).order_by(Resolution.id)).all()
    assert [(r.decision, r.conflict_version) for r in rows] == [("accept_consensus", 1), ("edit", 2)]
    assert final_of(db, image).label_class_id == s.cls("pit").id
