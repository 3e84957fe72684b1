"""Decisions stick: new labels reopen a decided conflict only when they disagree with the decision.

Runs the consistency service's real `on_new_annotation` around the review service.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.consistency.models import Conflict, ConflictState
from app.consistency.service import on_new_annotation
from app.review import service
from app.review.models import FinalLabel
from app.review.schemas import DecisionIn
from tests.factories import add_member, make_annotation, make_image, make_user
from tests.review.scene import make_scene


def test_agreeing_labels_keep_the_decision_and_a_disagreeing_one_reopens_it(db: Session) -> None:
    s = make_scene(db)
    image = make_image(db, s.project)
    for labeler, name in zip(s.labelers[:2], ("dent", "pit"), strict=True):
        on_new_annotation(db, make_annotation(db, image, labeler, s.cls(name)))
    conflict = db.scalar(select(Conflict).where(Conflict.image_id == image.id,
                                                Conflict.kind == "class_disagreement"))
    assert conflict is not None and conflict.state == ConflictState.open
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("pit").id,
                                   boxes=[], reason="round: pit"))
    db.flush()

    on_new_annotation(db, make_annotation(db, image, s.labelers[2], s.cls("pit")))  # agrees
    db.refresh(conflict)
    assert conflict.state == ConflictState.resolved
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    assert (final.source, final.label_class_id) == ("review", s.cls("pit").id)

    late = add_member(db, s.project, make_user(db, password=None), Role.inspector)
    on_new_annotation(db, make_annotation(db, image, late, s.cls("dent")))  # disagrees
    db.refresh(conflict)
    assert conflict.state == ConflictState.open
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    assert (final.source, final.label_class_id) == ("review", s.cls("pit").id)  # still the decision until redecided


def test_a_sent_back_image_comes_first_with_the_note_and_its_relabel_reopens_the_conflict(db: Session, app) -> None:
    from app.labeling import service as labeling
    from app.labeling.schemas import AnnotationIn

    s = make_scene(db)
    s.project.labels_per_image = 2
    image = make_image(db, s.project, labels_wanted=2, slots_taken=2)
    answers = {}
    for labeler, name in zip(s.labelers[:2], ("dent", "pit"), strict=True):
        answers[labeler.id] = make_annotation(db, image, labeler, s.cls(name))
        on_new_annotation(db, answers[labeler.id])
    other = make_image(db, s.project, labels_wanted=2)  # fresh work the labeler could get instead
    conflict = db.scalar(select(Conflict).where(Conflict.image_id == image.id,
                                                Conflict.kind == "class_disagreement"))
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="send_back", version=conflict.version, labeler_ids=[s.labelers[0].id],
                                   reason="Wider than 10 px is a dent; this one is 6 px."))
    db.flush()
    assert conflict.state == ConflictState.returned

    served = labeling.next_assignment(db, project=s.project, labeler=s.labelers[0], settings=app.state.settings)
    assert (served.image_id, served.state, served.note) == (image.id, "returned",
                                                            "Wider than 10 px is a dent; this one is 6 px.")
    assert served.image_id != other.id
    before = answers[s.labelers[0].id]
    labeling.submit_annotation(db, project=s.project, labeler=s.labelers[0], assignment_id=served.id,
                               settings=app.state.settings,
                               data=AnnotationIn(label_class_id=s.cls("pit").id, supersedes_id=before.id))
    db.flush()
    db.refresh(conflict)
    assert conflict.state != ConflictState.returned  # the relabel arrived: unanimous now, or open for review
    db.refresh(before)
    first = before
    assert first.label_class_id == s.cls("dent").id and first.superseded_by_id is not None  # history kept


def test_a_conflict_sent_back_after_its_decision_settles_again_when_the_labeler_comes_round(db: Session) -> None:
    from app.labeling.models import Assignment, AssignmentState

    s = make_scene(db)
    image = make_image(db, s.project, labels_wanted=3)
    for labeler, name in zip(s.labelers[:2], ("dent", "pit"), strict=True):
        on_new_annotation(db, make_annotation(db, image, labeler, s.cls(name)))
    conflict = db.scalar(select(Conflict).where(Conflict.image_id == image.id,
                                                Conflict.kind == "class_disagreement"))
    assert conflict is not None
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("pit").id,
                                   boxes=[], reason="round: pit"))
    db.flush()
    doubter = s.labelers[2]
    first = make_annotation(db, image, doubter, s.cls("dent"))
    on_new_annotation(db, first)  # disagrees with the decision: open again
    db.refresh(conflict)
    assert conflict.state == ConflictState.open
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="send_back", version=conflict.version, labeler_ids=[doubter.id],
                                   reason="look again"))
    db.flush()
    db.refresh(conflict)
    assert conflict.state == ConflictState.returned

    first.superseded_by_id = first.id  # a relabel supersedes (the live-answer index allows one per labeler)
    db.flush()
    second = make_annotation(db, image, doubter, s.cls("pit"))  # comes round: agrees with the decision
    first.superseded_by_id = second.id
    for returned in db.scalars(select(Assignment).where(Assignment.image_id == image.id,
                                                        Assignment.labeler_id == doubter.id,
                                                        Assignment.state == AssignmentState.returned)):
        returned.state = AssignmentState.done
    db.flush()
    on_new_annotation(db, second)
    db.refresh(conflict)
    assert conflict.state == ConflictState.resolved  # nothing newer than the decision disagrees with it
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    assert (final.source, final.label_class_id) == ("review", s.cls("pit").id)
