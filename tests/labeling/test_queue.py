"""The work queue: overlap, never twice, skip to the back, expiry, returned first, priority, gold."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.core.db import utcnow
from app.images.models import Image
from app.labeling import overlap, present, service
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.labeling.schemas import OverlapIn
from tests.factories import class_named, make_annotation, make_image, make_member, make_project
from tests.labeling.helpers import answer, claim, live_answers


def people(db: Session, project, n: int):
    return [make_member(db, project, Role.inspector, password=None) for _ in range(n)]


def test_every_image_gets_its_wanted_labels_from_distinct_labelers(db: Session) -> None:
    project = make_project(db, labels_per_image=2)
    images = [make_image(db, project, labels_wanted=2) for _ in range(5)]
    ok = class_named(db, project, "ok")
    labelers = people(db, project, 3)
    seen = Counter()
    progress = True
    while progress:
        progress = False
        for user in labelers:
            assignment = claim(db, project, user)
            if assignment is not None:
                seen[(assignment.image_id, user.id)] += 1
                answer(db, project, user, assignment, ok.id)
                progress = True
    assert max(seen.values()) == 1  # never the same image twice
    for image in images:
        assert len(live_answers(db, image.id)) == 2
        db.refresh(image)
        assert image.slots_taken == 2
    assert all(claim(db, project, user) is None for user in labelers)


def test_the_open_assignment_is_resumed_and_exclude_gives_the_next(db: Session) -> None:
    project = make_project(db)
    first_image, second_image = make_image(db, project), make_image(db, project)
    [user] = people(db, project, 1)
    first = claim(db, project, user)
    assert claim(db, project, user).id == first.id  # a reload does not claim another
    second = claim(db, project, user, exclude=[first.id])
    assert {first.image_id, second.image_id} == {first_image.id, second_image.id}
    assert claim(db, project, user, exclude=[first.id, second.id]) is None


def test_a_skipped_image_goes_to_the_back_and_its_slot_back(db: Session) -> None:
    project = make_project(db)
    images = [make_image(db, project) for _ in range(3)]
    ok = class_named(db, project, "ok")
    skipper, other = people(db, project, 2)
    skipped = claim(db, project, skipper)
    assert skipped.image_id == images[0].id
    service.skip(db, project=project, labeler=skipper, assignment_id=skipped.id)
    db.refresh(images[0])
    assert images[0].slots_taken == 0 and skipped.state == AssignmentState.skipped
    order = []
    while (a := claim(db, project, skipper)) is not None:
        order.append(a.image_id)
        answer(db, project, skipper, a, ok.id)
    assert order == [images[1].id, images[2].id, images[0].id]
    assert claim(db, project, other) is None


def test_an_abandoned_assignment_expires_and_a_late_answer_still_counts(db: Session) -> None:
    project = make_project(db)
    image = make_image(db, project)
    ok = class_named(db, project, "ok")
    slow, quick = people(db, project, 2)
    abandoned = claim(db, project, slow)
    assert claim(db, project, quick) is None  # the only slot is taken
    db.execute(
        update(Assignment).where(Assignment.id == abandoned.id).values(expires_at=utcnow() - timedelta(minutes=1))
    )
    taken_over = claim(db, project, quick)
    assert taken_over is not None and taken_over.image_id == image.id
    db.refresh(abandoned)
    assert abandoned.state == AssignmentState.expired
    answer(db, project, quick, taken_over, ok.id)
    answer(db, project, slow, abandoned, ok.id)  # the work of the slow labeler is not thrown away
    db.refresh(image)
    assert len(live_answers(db, image.id)) == 2 and image.slots_taken == 2
    db.refresh(abandoned)
    assert abandoned.state == AssignmentState.done


def test_returned_assignments_come_first_with_the_note_and_supersede(db: Session) -> None:
    project = make_project(db)
    fresh, sent_back = make_image(db, project), make_image(db, project, slots_taken=1)
    dent, pit = class_named(db, project, "dent"), class_named(db, project, "pit")
    [user] = people(db, project, 1)
    old = make_annotation(db, sent_back, user, dent, boxes=[{"x": 1, "y": 1, "w": 5, "h": 5, "class_id": dent.id}])
    db.add(
        Assignment(
            project_id=project.id,
            image_id=sent_back.id,
            labeler_id=user.id,
            state=AssignmentState.returned,
            note="Look again: is it a pit?",
        )
    )
    db.flush()
    assignment = claim(db, project, user)
    assert assignment.image_id == sent_back.id and assignment.note == "Look again: is it a pit?"
    shown = present.assignment_out(db, assignment)
    assert shown.supersedes_id == old.id and shown.previous.label_class_id == dent.id
    new = answer(db, project, user, assignment, pit.id, supersedes_id=old.id)
    db.refresh(old)
    assert old.superseded_by_id == new.id  # history kept, nothing overwritten
    assert [a.id for a in live_answers(db, sent_back.id)] == [new.id]
    db.refresh(sent_back)
    assert sent_back.slots_taken == 1  # a returned assignment holds no extra slot
    assert claim(db, project, user).image_id == fresh.id


def test_higher_priority_first_then_oldest(db: Session) -> None:
    project = make_project(db)
    plain = [make_image(db, project) for _ in range(2)]
    drifted = make_image(db, project, priority=5)
    [user] = people(db, project, 1)
    ok = class_named(db, project, "ok")
    order = []
    while (a := claim(db, project, user)) is not None:
        order.append(a.image_id)
        answer(db, project, user, a, ok.id)
    assert order == [drifted.id, plain[0].id, plain[1].id]


def test_gold_images_are_mixed_in_once_per_labeler_and_hold_no_slots(db: Session) -> None:
    project = make_project(db)
    project.settings = {**project.settings, "gold_rate": 1.0}
    ok = class_named(db, project, "ok")
    gold = [make_image(db, project, is_gold=True, labels_wanted=0, gold_label_class_id=ok.id) for _ in range(2)]
    regular = make_image(db, project)
    a, b = people(db, project, 2)
    for user in (a, b):
        got = []
        while (assignment := claim(db, project, user)) is not None:
            got.append(assignment.image_id)
            answer(db, project, user, assignment, ok.id)
        assert sorted(got[:2]) == sorted(g.id for g in gold)  # at rate 1, gold first, each once
        assert got[2:] == ([regular.id] if user is a else [])
    for image in gold:
        db.refresh(image)
        assert image.slots_taken == 0 and len(live_answers(db, image.id)) == 2


def test_labeling_is_blind(db: Session) -> None:
    project = make_project(db, labels_per_image=2)
    image = make_image(db, project, labels_wanted=2, slots_taken=1, is_gold=False)
    first, second = people(db, project, 2)
    make_annotation(db, image, first, class_named(db, project, "dent"))
    assignment = claim(db, project, second)
    shown = present.assignment_out(db, assignment).model_dump()
    assert shown["previous"] is None and shown["supersedes_id"] is None
    assert "is_gold" not in str(shown) and "dent" not in str(shown)


def test_imported_answers_count_and_are_never_assigned_again(db: Session) -> None:
    project = make_project(db, labels_per_image=2)
    image = make_image(db, project, labels_wanted=2, slots_taken=1)
    author, other = people(db, project, 2)
    make_annotation(db, image, author, class_named(db, project, "ok"), source="import")
    assert claim(db, project, author) is None
    assert claim(db, project, other).image_id == image.id


def test_policy_changes_apply_to_every_image(db: Session) -> None:
    project = make_project(db)
    admin = make_member(db, project, Role.admin, password=None)
    images = [make_image(db, project) for _ in range(1000)]
    gold = make_image(db, project, is_gold=True, labels_wanted=0)
    service.update_overlap(
        db, project=project, data=OverlapIn(labels_per_image=1, qa_fraction=0.1, qa_labels_per_image=3), actor=admin
    )
    wanted = Counter(db.scalars(select(Image.labels_wanted).where(Image.id.in_([i.id for i in images]))))
    assert wanted == {1: 900, 3: 100}  # the draw is exact on 1,000 consecutive ids
    for image in images[:50]:
        db.refresh(image)
        assert image.labels_wanted == overlap.initial_labels_wanted(project, image)
    db.refresh(gold)
    assert gold.labels_wanted == 0
    service.update_overlap(
        db, project=project, data=OverlapIn(labels_per_image=3, qa_fraction=0, qa_labels_per_image=3), actor=admin
    )
    assert set(db.scalars(select(Image.labels_wanted).where(Image.project_id == project.id))) == {3, 0}


def test_adaptive_overlap_raises_unsure_and_disputed_images(db: Session) -> None:
    project = make_project(db, labels_per_image=2)
    project.adaptive_overlap, project.qa_labels_per_image = True, 3
    calm, unsure, disputed = (make_image(db, project, labels_wanted=2) for _ in range(3))
    ok, dent = class_named(db, project, "ok"), class_named(db, project, "dent")
    a, b, c = people(db, project, 3)
    for image, kwargs in ((calm, {}), (unsure, {"unsure": True, "comment": "glare?"}), (disputed, {})):
        assignment = claim(db, project, a)
        assert assignment.image_id == image.id
        answer(db, project, a, assignment, ok.id, **kwargs)
    for image, label in ((calm, ok), (unsure, ok), (disputed, dent)):
        assignment = claim(db, project, b)
        assert assignment.image_id == image.id
        answer(db, project, b, assignment, label.id)
    for image in (calm, unsure, disputed):
        db.refresh(image)
    assert (calm.labels_wanted, unsure.labels_wanted, disputed.labels_wanted) == (2, 3, 3)
    third = claim(db, project, c)
    assert third.image_id == unsure.id  # the raised images get their third label; the calm one does not


def test_slices_listed_for_overlap_get_more_labels(db: Session) -> None:
    project = make_project(db)
    project.adaptive_overlap, project.settings = True, {**project.settings, "overlap_slices": ["line=L3"]}
    l3, l1 = make_image(db, project, meta={"line": "L3"}), make_image(db, project, meta={"line": "L1"})
    [user] = people(db, project, 1)
    ok = class_named(db, project, "ok")
    for _ in range(2):
        answer(db, project, user, claim(db, project, user), ok.id)
    db.refresh(l3)
    db.refresh(l1)
    assert (l3.labels_wanted, l1.labels_wanted) == (3, 1)


def test_progress_counts_today_and_waiting(db: Session) -> None:
    project = make_project(db)
    for _ in range(3):
        make_image(db, project)
    [user] = people(db, project, 1)
    answer(db, project, user, claim(db, project, user), class_named(db, project, "ok").id)
    progress = service.progress(db, project_id=project.id, labeler_id=user.id)
    assert (progress.done_today, progress.remaining) == (1, 2)
    assert db.scalar(select(Annotation.source).where(Annotation.labeler_id == user.id)) == "web"
