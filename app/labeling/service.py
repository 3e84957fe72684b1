"""The inspector's loop: next assignment, submit an answer, skip; and the project's overlap policy.

Answers are never edited: a relabel adds a row and marks the previous live one superseded. A submit
carries the id of the answer it replaces (`supersedes_id`, as handed out with the assignment), so a
second tab or a stale page gets 409 with the current answer instead of overwriting it. The same
idempotency key twice (a double Enter, a retried request, parallel duplicates) stores one row and
returns it every time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.models import User
from app.core import audit
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid, NotFound
from app.images.models import Image
from app.labeling import overlap, queue, rules
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.labeling.schemas import AnnotationIn, ClassRuleOut, LabelingRulesIn, LabelingRulesOut, OverlapIn, ProgressOut
from app.labeling.validation import clean_boxes, clean_comment
from app.projects.models import BoxRule, LabelClass, Project, TaskType
from app.projects.naming import is_ok_name
from app.projects.service import classes_of

log = logging.getLogger("concord.labeling")
S = AssignmentState
MAX_BACK = 5  # how many of their last answers a labeler can reopen from the labeling page


def ok_class_id(classes: Sequence[LabelClass]) -> int | None:
    """The class the one-key OK answer gives: one named like "ok", else the first class."""
    for label_class in classes:
        if is_ok_name(label_class.name):
            return label_class.id
    return classes[0].id if classes else None


class _LostRace(Exception):
    """A parallel request superseded the same answer first."""


@dataclass
class Submitted:
    annotation: Annotation
    replayed: bool = False
    superseded_id: int | None = None


def next_assignment(
    db: Session, *, project: Project, labeler: User, settings: Settings, exclude: list[int] | None = None
) -> Assignment | None:
    timeout = timedelta(minutes=settings.assignment_timeout_minutes)
    found = queue.claim_next(db, project=project, labeler=labeler, exclude=exclude or [], timeout=timeout)
    if found is not None:
        found.shown_at = utcnow()  # handed out: the minimum viewing time counts from here
        db.flush()
    return found


def mark_shown(db: Session, *, project: Project, labeler: User, assignment_id: int) -> Assignment:
    """The page put the assignment's image on screen now (a prefetched one is shown later than it
    was handed out). Only ever moves `shown_at` later, so it can never shorten the viewing time."""
    assignment = get_assignment(db, project_id=project.id, labeler=labeler, assignment_id=assignment_id)
    now = utcnow()
    if assignment.shown_at is None or assignment.shown_at < now:
        assignment.shown_at = now
        db.flush()
    return assignment


def previous_assignment(db: Session, *, project: Project, labeler: User, exclude: Sequence[int]) -> Assignment | None:
    """The assignment of the labeler's latest live answer here (not counting those in `exclude`,
    the ones already reopened), handed out again for a relabel; None when there is none, or more than
    MAX_BACK back. A relabel goes through submit_annotation with `supersedes_id` as usual."""
    if len(exclude) >= MAX_BACK:
        return None
    query = (
        select(Assignment)
        .join(Annotation, Annotation.assignment_id == Assignment.id)
        .where(
            Assignment.project_id == project.id,
            Assignment.labeler_id == labeler.id,
            Assignment.state == S.done,
            Annotation.labeler_id == labeler.id,
            Annotation.superseded_by_id.is_(None),
            Annotation.source != "import",
        )
        .order_by(Annotation.id.desc())
        .limit(1)
    )
    if exclude:
        query = query.where(Assignment.id.not_in(list(exclude)))
    found = db.scalar(query)
    if found is not None:
        found.shown_at = utcnow()
        db.flush()
    return found


def get_assignment(db: Session, *, project_id: int, labeler: User, assignment_id: int) -> Assignment:
    """The labeler's own assignment in this project; anything else is NotFound."""
    assignment = db.get(Assignment, assignment_id)
    if assignment is None or assignment.project_id != project_id or assignment.labeler_id != labeler.id:
        raise NotFound("assignment not found", field="assignment_id")
    return assignment


def live_annotation(db: Session, *, image_id: int, labeler_id: int) -> Annotation | None:
    return db.scalar(
        select(Annotation).where(
            Annotation.image_id == image_id, Annotation.labeler_id == labeler_id, Annotation.superseded_by_id.is_(None)
        )
    )


def skip(db: Session, *, project: Project, labeler: User, assignment_id: int) -> Assignment:
    """The image goes to the back of this labeler's queue and its slot back to the pool."""
    assignment = get_assignment(db, project_id=project.id, labeler=labeler, assignment_id=assignment_id)
    if assignment.state == S.skipped:
        return assignment  # a repeated Esc
    if not queue.release(db, assignment=assignment, state=S.skipped):
        raise Conflict(
            f"this assignment is {assignment.state} and cannot be skipped", detail={"state": assignment.state}
        )
    return assignment


def submit_annotation(
    db: Session,
    *,
    project: Project,
    labeler: User,
    assignment_id: int,
    data: AnnotationIn,
    settings: Settings,
    source: str = "web",
) -> Submitted:
    """Store the labeler's answer for their assignment. Flushes; the caller commits.

    Raises NotFound (not their assignment), Invalid (bad class or boxes; nothing stored), Conflict
    (a retired class, or the live answer is not the one this submit replaces).
    """
    replay = _replay(db, project_id=project.id, labeler_id=labeler.id, key=data.idempotency_key)
    if replay is not None:
        return Submitted(replay, replayed=True)
    assignment = get_assignment(db, project_id=project.id, labeler=labeler, assignment_id=assignment_id)
    now = utcnow()
    rules.check_viewed(shown_at=assignment.shown_at, now=now, min_view_ms=rules.timing(project).min_view_ms)
    # The server's own measure is the answer's time; the client's only stands in on an assignment
    # handed out before `shown_at` was recorded.
    duration_ms = rules.elapsed_ms(assignment.shown_at, now) if assignment.shown_at else data.duration_ms
    image = db.get(Image, assignment.image_id)
    assert image is not None  # a foreign key
    label_class_id, boxes = _checked_answer(db, project=project, image=image, data=data, settings=settings)
    comment = clean_comment(data.comment)
    live = live_annotation(db, image_id=image.id, labeler_id=labeler.id)
    if (live.id if live else None) != data.supersedes_id:
        replay = _replay(db, project_id=project.id, labeler_id=labeler.id, key=data.idempotency_key)
        if replay is not None:  # a parallel copy of this submit committed since the first check
            return Submitted(replay, replayed=True)
        raise _stale(live)
    annotation = Annotation(
        image_id=image.id,
        labeler_id=labeler.id,
        assignment_id=assignment.id,
        label_class_id=label_class_id,
        boxes=boxes,
        unsure=data.unsure,
        comment=comment,
        duration_ms=duration_ms,
        source=source,
        idempotency_key=data.idempotency_key,
        defect_book_version=data.defect_book_version or project.defect_book_version,
    )
    savepoint = db.begin_nested()
    try:
        _supersede_start(db, live)
        db.add(annotation)
        db.flush()
        if live is not None:
            db.execute(
                update(Annotation)
                .where(Annotation.id == live.id)
                .values(superseded_by_id=annotation.id)
                .execution_options(synchronize_session=False)
            )
        _complete(db, assignment)
        overlap.raise_if_needed(db, project=project, image=image, annotation=annotation)
        savepoint.commit()
    except (IntegrityError, _LostRace):
        savepoint.rollback()
        replay = _replay(db, project_id=project.id, labeler_id=labeler.id, key=data.idempotency_key)
        if replay is not None:  # a parallel duplicate of this very submit won
            return Submitted(replay, replayed=True)
        raise _stale(live_annotation(db, image_id=image.id, labeler_id=labeler.id)) from None
    if live is not None:
        db.refresh(live)
    _notify_consistency(db, annotation)
    return Submitted(annotation, superseded_id=live.id if live else None)


def _replay(db: Session, *, project_id: int, labeler_id: int, key: str | None) -> Annotation | None:
    if key is None:
        return None
    found = db.scalar(select(Annotation).where(Annotation.labeler_id == labeler_id, Annotation.idempotency_key == key))
    if found is None:
        return None
    if db.scalar(select(Image.project_id).where(Image.id == found.image_id)) != project_id:
        raise Conflict("this idempotency key was already used for another project's image", field="idempotency_key")
    return found


def _stale(live: Annotation | None) -> Conflict:
    current = (
        None
        if live is None
        else {
            "id": live.id,
            "label_class_id": live.label_class_id,
            "boxes": live.boxes,
            "unsure": live.unsure,
            "comment": live.comment,
        }
    )
    return Conflict(
        "your answer on this image changed in the meantime (another tab?); reload to see it",
        field="supersedes_id",
        detail={"current_annotation": current},
    )


def _supersede_start(db: Session, live: Annotation | None) -> None:
    """Take the old answer out of the one-live-answer index first (pointing at itself for the
    instant until the new row's id exists); the condition makes a parallel relabel lose cleanly."""
    if live is None:
        return
    result = db.execute(
        update(Annotation)
        .where(Annotation.id == live.id, Annotation.superseded_by_id.is_(None))
        .values(superseded_by_id=live.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _LostRace


def _complete(db: Session, assignment: Assignment) -> None:
    now = utcnow()
    done = db.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.state.in_([S.open, S.returned]))
        .values(state=S.done, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        late = db.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.state.in_([S.expired, S.skipped]))
            .values(state=S.done, completed_at=now)
            .execution_options(synchronize_session=False)
        )
        if late.rowcount == 1:  # type: ignore[attr-defined]
            queue.retake_slot(db, image_id=assignment.image_id)
        elif assignment.state == S.done:
            return  # a relabel of a finished assignment
    set_committed_value(assignment, "state", S.done)
    set_committed_value(assignment, "completed_at", now)


def _checked_answer(
    db: Session, *, project: Project, image: Image, data: AnnotationIn, settings: Settings
) -> tuple[int | None, list[dict[str, object]]]:
    classes = {c.id: c for c in classes_of(db, project.id, include_inactive=True)}
    _check_class(classes, data.label_class_id, field="label_class_id")
    if data.label_class_id is None and project.task_type != TaskType.boxes:
        raise Invalid("pick the image's class", field="label_class_id")
    if data.boxes and project.task_type == TaskType.classification:
        raise Invalid("this project labels classes only; boxes are not taken", field="boxes")
    for i, box in enumerate(data.boxes):
        if isinstance(box, dict) and isinstance(box.get("class_id"), int):
            _check_class(classes, box["class_id"], field=f"boxes[{i}].class_id")
    active = {c.id for c in classes.values() if c.is_active}
    boxes = clean_boxes(
        data.boxes,
        width=image.width,
        height=image.height,
        class_ids=active,
        max_boxes=settings.max_boxes_per_annotation,
    )
    rules.check_boxes(classes, task_type=project.task_type, label_class_id=data.label_class_id, boxes=boxes)
    return data.label_class_id, boxes


def _check_class(classes: dict[int, LabelClass], class_id: int | None, *, field: str) -> None:
    if class_id is None:
        return
    found = classes.get(class_id)
    if found is None:
        raise Invalid(f"class {class_id} is not a class of this project", field=field)
    if not found.is_active:
        raise Conflict(
            f"the class {found.name!r} was retired while you were labeling; pick one of the "
            "current classes (your boxes are kept)",
            field=field,
            detail={"retired_class_id": found.id, "classes": [c.id for c in classes.values() if c.is_active]},
        )


def _notify_consistency(db: Session, annotation: Annotation) -> None:
    """The consistency service's incremental update for this image. Its failure is logged, never
    the labeler's problem: the answer is kept and the global recompute catches up."""
    from app.consistency.service import on_new_annotation  # here: consistency imports labeling at load

    try:
        on_new_annotation(db, annotation)  # in a savepoint of its own: a failure leaves this transaction whole
    except Exception:
        log.exception("consistency update failed for annotation %s", annotation.id)


def progress(db: Session, *, project_id: int, labeler_id: int, tz_offset_minutes: int = 0) -> ProgressOut:
    """Answers given today (the labeler's day) and what is waiting for this labeler: the images
    they hold (open or returned) and those still wanting labels that they have not answered or
    been handed, in one round trip."""
    local = utcnow() + timedelta(minutes=tz_offset_minutes)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(minutes=tz_offset_minutes)
    done = (
        select(func.count())
        .select_from(Annotation)
        .join(Image, Image.id == Annotation.image_id)
        .where(
            Annotation.labeler_id == labeler_id,
            Image.project_id == project_id,
            Annotation.created_at >= day_start,
            Annotation.source != "import",
        )
        .scalar_subquery()
    )
    waiting = (
        select(func.count())
        .select_from(Image)
        .where(
            Image.project_id == project_id,
            Image.slots_taken < Image.labels_wanted,
            *queue.not_mine(labeler_id, [S.open, S.returned, S.done]),
        )
        .scalar_subquery()
    )
    held = (
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.project_id == project_id,
            Assignment.labeler_id == labeler_id,
            Assignment.state.in_([S.open, S.returned]),
        )
        .scalar_subquery()
    )
    row = db.execute(select(done, waiting, held)).one()
    return ProgressOut(done_today=row[0] or 0, remaining=(row[1] or 0) + (row[2] or 0))


def update_overlap(db: Session, *, project: Project, data: OverlapIn, actor: User) -> Project:
    """Change the overlap policy and recompute every image's wanted label count. Raises Invalid
    (nothing changed) for a slice not written key=value."""
    slices = [s.strip() for s in data.overlap_slices if "=" in s and s.split("=", 1)[0].strip()]
    if len(slices) != len([s for s in data.overlap_slices if s.strip()]):
        raise Invalid("slices are written key=value, e.g. line=L3", field="overlap_slices")
    before = overlap_settings(project)
    project.labels_per_image = data.labels_per_image
    project.qa_fraction = data.qa_fraction
    project.qa_labels_per_image = data.qa_labels_per_image
    project.adaptive_overlap = data.adaptive_overlap
    project.settings = {**(project.settings or {}), "gold_rate": data.gold_rate, "overlap_slices": slices}
    db.flush()
    overlap.apply_policy(db, project=project)
    _audit_change(db, project=project, actor=actor, action="project.overlap_changed",
                  before=before, after=overlap_settings(project))
    return project


def _audit_change(
    db: Session, *, project: Project, actor: User, action: str, before: dict[str, object], after: dict[str, object]
) -> None:
    audit.record(
        db,
        action=action,
        actor_id=actor.id,
        project_id=project.id,
        object_type="project",
        object_id=project.id,
        data={"before": before, "after": after},
    )


def overlap_settings(project: Project) -> dict[str, object]:
    settings = project.settings or {}
    return {
        "labels_per_image": project.labels_per_image,
        "qa_fraction": project.qa_fraction,
        "qa_labels_per_image": project.qa_labels_per_image,
        "adaptive_overlap": project.adaptive_overlap,
        "gold_rate": queue.gold_rate(project),
        "overlap_slices": list(settings.get("overlap_slices", [])),
    }


def last_book_version_seen(db: Session, *, project_id: int, labeler_id: int) -> int | None:
    """The defect-book version shown with the labeler's latest answer in the project (None: none yet)."""
    return db.scalar(
        select(Annotation.defect_book_version)
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.labeler_id == labeler_id, Annotation.source != "import")
        .order_by(Annotation.id.desc())
        .limit(1)
    )


def images_wanting_labels(db: Session, project_id: int) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Image)
            .where(Image.project_id == project_id, Image.slots_taken < Image.labels_wanted)
        )
        or 0
    )


def labeling_rules(db: Session, project: Project) -> LabelingRulesOut:
    timing = rules.timing(project)
    return LabelingRulesOut(
        min_view_ms=timing.min_view_ms,
        fast_median_ms=timing.fast_median_ms,
        classes=[
            ClassRuleOut(id=c.id, name=c.name, is_active=c.is_active, box_rule=BoxRule(c.box_rule))
            for c in classes_of(db, project.id, include_inactive=True)
        ],
    )


def update_labeling_rules(db: Session, *, project: Project, data: LabelingRulesIn, actor: User) -> LabelingRulesOut:
    """Raises Invalid (nothing changed) for a class that is not the project's."""
    classes = {c.id: c for c in classes_of(db, project.id, include_inactive=True)}
    unknown = sorted(set(data.box_rules) - set(classes))
    if unknown:
        raise Invalid(f"class {unknown[0]} is not a class of this project", field="box_rules")
    before = labeling_rules(db, project).model_dump(mode="json")
    project.settings = {
        **(project.settings or {}),
        "min_view_ms": data.min_view_ms,
        "fast_median_ms": data.fast_median_ms,
    }
    for class_id, rule in data.box_rules.items():
        if classes[class_id].box_rule != rule:
            classes[class_id].box_rule = rule
    db.flush()
    after = labeling_rules(db, project)
    _audit_change(db, project=project, actor=actor, action="project.labeling_rules_changed",
                  before=before, after=after.model_dump(mode="json"))
    return after
