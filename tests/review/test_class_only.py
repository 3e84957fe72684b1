"""A decision about the class alone (a decisions CSV without boxes, a group decision) never makes a box
final that no majority drew, never leaves boxes on an ok image, and leaves box disputes open."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consistency.models import ConflictState
from app.core.errors import Invalid
from app.review import bulk, service
from app.review.models import FinalLabel
from app.review.schemas import DecisionIn
from tests.factories import make_conflict, make_consensus, make_duplicate_group
from tests.review.scene import Scene, make_scene


def cluster(s: Scene, x: float, classes: list[str], labelers: list[int], missing: list[int]) -> dict[str, Any]:
    """A consensus cluster as the consistency service stores it (members' classes, who missed it)."""
    ids = [s.cls(c).id for c in classes]
    return {"x": x, "y": 10.0, "w": 12.0, "h": 9.0, "class_id": max(set(ids), key=ids.count), "classes": ids,
            "labelers": labelers, "missing": missing, "support": len(labelers) / (len(labelers) + len(missing))}


def final_of(db: Session, image) -> FinalLabel:
    return db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))


def rows(s: Scene, text: str):
    parsed, errors = bulk.parse_csv(text)
    planned, more = bulk.plan(s.db, project=s.project, rows=parsed)
    return planned, errors + more


def disputed_boxes(s: Scene, answers: list[str], clusters: list[dict[str, Any]], file_name: str):
    image, class_conflict = s.disputed(answers, file_name=file_name)
    s.db.delete(s.db.get(type(class_conflict), class_conflict.id))
    make_consensus(s.db, image, s.cls(max(set(answers), key=answers.count)), boxes=clusters)
    return image


def test_a_class_only_row_keeps_majority_boxes_with_settled_classes_and_leaves_box_conflicts_open(db: Session) -> None:
    s = make_scene(db)
    a, b, c = (u.id for u in s.labelers)
    image, class_conflict = s.disputed(["dent", "pit", "pit"], file_name="img_1.jpg")
    make_consensus(db, image, s.cls("pit"), boxes=[
        cluster(s, 10, ["pit", "pit", "dent"], [a, b, c], []),   # three drew it, two said pit: pit
        cluster(s, 60, ["dent", "pit"], [a, b], [c]),            # two drew it, a tie: the decided class
        cluster(s, 90, ["scratch", "dent"], [a, c], [b]),        # a tie the decision does not break: out
        cluster(s, 120, ["scratch"], [a], [b, c]),               # one of three drew it: out
    ])
    missing = make_conflict(db, image, kind="missing_box", severity=0.9)
    planned, errors = rows(s, "file_name,final_class\nimg_1.jpg,pit\n")
    assert not errors and planned[0].conflict_id == class_conflict.id  # the class conflict, not the worse box one
    results = bulk.apply(db, project=s.project, reviewer=s.reviewer, planned=planned)
    final = final_of(db, image)
    assert final.label_class_id == s.cls("pit").id
    assert sorted((b["x"], b["class_id"]) for b in final.boxes) == [(10, s.cls("pit").id), (60, s.cls("pit").id)]
    assert class_conflict.state == ConflictState.resolved
    assert missing.state == ConflictState.open  # a class does not settle a dispute about boxes
    assert bulk.boxes_left_open(db, results) == 1


def test_a_row_deciding_ok_leaves_no_box_and_settles_the_box_conflicts(db: Session) -> None:
    s = make_scene(db)
    a, b, c = (u.id for u in s.labelers)
    image, class_conflict = s.disputed(["scratch", "scratch", "ok"], file_name="img_2.jpg")
    make_consensus(db, image, s.cls("scratch"), boxes=[cluster(s, 10, ["scratch", "scratch"], [a, b], [c])])
    missing = make_conflict(db, image, kind="missing_box")
    planned, errors = rows(s, "file_name,final_class\nimg_2.jpg,ok\n")
    assert not errors
    bulk.apply(db, project=s.project, reviewer=s.reviewer, planned=planned)
    final = final_of(db, image)
    assert final.label_class_id == s.cls("ok").id and final.boxes == []
    assert class_conflict.state == missing.state == ConflictState.resolved


def test_an_image_with_only_box_conflicts_gets_its_class_and_keeps_them_open(db: Session) -> None:
    s = make_scene(db)
    a, b, c = (u.id for u in s.labelers)
    image = disputed_boxes(s, ["dent", "dent", "dent"], [cluster(s, 10, ["dent", "dent"], [a, b], [c])], "img_3.jpg")
    missing = make_conflict(db, image, kind="missing_box")
    planned, errors = rows(s, "file_name,final_class\nimg_3.jpg,dent\n")
    assert not errors and planned[0].conflict_id is None
    bulk.apply(db, project=s.project, reviewer=s.reviewer, planned=planned)
    final = final_of(db, image)
    assert final.label_class_id == s.cls("dent").id and final.resolution_id is None and len(final.boxes) == 1
    assert missing.state == ConflictState.open


def test_a_person_cannot_put_boxes_on_an_ok_image(db: Session) -> None:
    s = make_scene(db)
    image, conflict = s.disputed(["ok", "scratch"], file_name="img_4.jpg")
    with pytest.raises(Invalid, match="has no boxes"):
        service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                       data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("ok").id,
                                       boxes=[s.box("scratch")]))
    assert final_of(db, image) is None


def test_a_class_only_decision_refuses_to_settle_a_box_conflict(db: Session) -> None:
    s = make_scene(db)
    image = disputed_boxes(s, ["dent", "dent"], [], "img_5.jpg")
    conflict = make_conflict(db, image, kind="box_localization")
    with pytest.raises(Invalid, match="does not settle a conflict about its boxes"):
        service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                       data=DecisionIn(decision="edit", version=conflict.version, label_class_id=s.cls("dent").id,
                                       class_only=True))


def test_a_decisions_csv_decides_a_near_duplicate_group(db: Session) -> None:
    s = make_scene(db)
    first, _ = s.disputed(["dent", "dent"], file_name="look_1.jpg")
    second, _ = s.disputed(["pit", "pit"], file_name="look_2.jpg")
    group = make_duplicate_group(db, [first, second])
    group_conflict = make_conflict(db, None, kind="duplicate_group", group_id=group.id)
    planned, errors = rows(s, "file_name,final_class\nlook_1.jpg,dent\nlook_2.jpg,dent\n")
    assert not errors and planned[0].conflict_id == group_conflict.id and planned[1].covered
    bulk.apply(db, project=s.project, reviewer=s.reviewer, planned=planned)
    assert group_conflict.state == ConflictState.resolved
    assert final_of(db, first).label_class_id == final_of(db, second).label_class_id == s.cls("dent").id


def test_look_alikes_given_two_classes_in_one_file_are_refused(db: Session) -> None:
    s = make_scene(db)
    first, _ = s.disputed(["dent", "dent"], file_name="look_1.jpg")
    second, _ = s.disputed(["pit", "pit"], file_name="look_2.jpg")
    group = make_duplicate_group(db, [first, second])
    make_conflict(db, None, kind="duplicate_group", group_id=group.id)
    _, errors = rows(s, "file_name,final_class\nlook_1.jpg,dent\nlook_2.jpg,pit\n")
    assert [e.row for e in errors] == [3] and "look-alike of look_1.jpg" in errors[0].message


def test_accepting_the_consensus_on_the_page_takes_only_majority_boxes(db: Session) -> None:
    s = make_scene(db)
    a, b, c = (u.id for u in s.labelers)
    image, conflict = s.disputed(["dent", "dent", "ok"])
    make_consensus(db, image, s.cls("dent"), boxes=[cluster(s, 10, ["dent", "dent"], [a, b], [c]),
                                                    cluster(s, 50, ["pit"], [a], [b, c])])
    service.decide(db, project=s.project, conflict_id=conflict.id, reviewer=s.reviewer,
                   data=DecisionIn(decision="accept_consensus", version=conflict.version))
    assert [b["x"] for b in final_of(db, image).boxes] == [10]


def test_the_conflict_page_draws_as_consensus_exactly_what_accepting_it_takes(db: Session) -> None:
    from app.review.detail import drawing, shown_image
    from app.review.finals import ClassBook

    s = make_scene(db)
    a, b, c = (u.id for u in s.labelers)
    image, _ = s.disputed(["dent", "dent", "ok"])
    make_consensus(db, image, s.cls("dent"), boxes=[cluster(s, 10, ["dent", "dent"], [a, b], [c]),
                                                    cluster(s, 50, ["pit"], [a], [b, c])])
    book = ClassBook(db, s.project.id)
    layers = drawing(shown_image(db, image, book.classes, book.mapping), book.classes)["layers"]
    consensus = next(layer for layer in layers if layer["key"] == "consensus")
    assert [box["x"] for box in consensus["boxes"]] == [10]


def test_an_automatic_final_label_of_an_ok_image_has_no_box(db: Session) -> None:
    from app.consistency.service import on_new_annotation
    from tests.factories import make_annotation, make_image

    s = make_scene(db)
    s.project.labels_per_image = 1
    image = make_image(db, s.project, labels_wanted=1)
    answer = make_annotation(db, image, s.labelers[0], s.cls("ok"), boxes=[s.box("scratch")])
    on_new_annotation(db, answer)
    final = final_of(db, image)
    assert final.source == "consensus" and final.label_class_id == s.cls("ok").id and final.boxes == []
    assert answer.boxes == [s.box("scratch")]  # the answer keeps what was drawn
