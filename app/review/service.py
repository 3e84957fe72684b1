"""Reviewer decisions that stick: resolutions, final labels, send-backs, and no lost updates.

A decision is made on the conflict version the reviewer saw. It settles that conflict and every
still-active conflict of the same image (a group decision: of every image of the near-duplicate
group, and the group's own conflict), writes one Resolution per settled conflict and the images'
FinalLabel (source `review`). Labelers' annotations are never touched.

No lost update: the conflict rows are updated through the ORM in id order, so the version column
(`version_id_col`) turns each UPDATE into `... WHERE version = :seen`; the loser of a race gets
StaleDataError at flush (or StaleDecision up front when it already reads a newer version), and the
caller answers 409 with `current_state`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.consistency.models import BOX_KINDS, Conflict, ConflictState, ImageConsensus
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid, NotFound
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass, Project
from app.review.finals import (
    ClassBook,
    Proposal,
    check_consistent,
    clean_boxes,
    consensus_boxes,
    consensus_proposal,
    write_final,
)
from app.review.models import Decision, FinalLabel, FinalLabelSource, Resolution
from app.review.returns import check_labelers, live_labelers, return_to_labelers
from app.review.schemas import DecisionIn

ACTIVE = (ConflictState.open, ConflictState.returned, ConflictState.ambiguous)
STATE_AFTER = {Decision.ambiguous: ConflictState.ambiguous, Decision.send_back: ConflictState.returned}


class StaleDecision(ConflictError):
    """Another decision landed on this conflict after the reviewer loaded it."""


@dataclass
class DecisionResult:
    resolution: Resolution  # the one on the conflict the reviewer decided
    resolutions: list[Resolution]
    image_ids: list[int]


@dataclass
class ReviewedLabel:
    label_class_id: int | None
    boxes: list[dict[str, Any]]
    is_ambiguous: bool
    resolution_id: int | None


def get_conflict(db: Session, project_id: int, conflict_id: int) -> Conflict:
    conflict = db.get(Conflict, conflict_id)
    if conflict is None or conflict.project_id != project_id:
        raise NotFound("conflict not found")
    return conflict


def current_state(db: Session, conflict: Conflict) -> dict[str, Any]:
    """What a reviewer who lost a race needs to see: the state now and who decided it."""
    latest = db.execute(
        select(Resolution, User.display_name).join(User, User.id == Resolution.reviewer_id)
        .where(Resolution.conflict_id == conflict.id).order_by(Resolution.id.desc()).limit(1)
    ).first()
    state: dict[str, Any] = {"conflict_id": conflict.id, "state": conflict.state, "version": conflict.version,
                             "resolution": None}
    if latest is not None:
        resolution, reviewer = latest
        state["resolution"] = {
            "id": resolution.id, "reviewer": reviewer, "reviewer_id": resolution.reviewer_id,
            "decision": resolution.decision, "label_class_id": resolution.label_class_id,
            "reason": resolution.reason, "created_at": resolution.created_at.isoformat(),
        }
    return state


def subject_images(db: Session, conflict: Conflict, *, whole_group: bool = False) -> list[Image]:
    """The image a conflict is about, or every image of its near-duplicate group."""
    group_id = conflict.duplicate_group_id
    if conflict.image_id is not None and not whole_group:
        return [db.get_one(Image, conflict.image_id)]
    if group_id is None and conflict.image_id is not None:
        group_id = db.get_one(Image, conflict.image_id).duplicate_group_id
    if group_id is None and conflict.image_id is not None:
        raise Invalid("this image belongs to no near-duplicate group", field="decision")
    images = list(db.scalars(select(Image).where(Image.project_id == conflict.project_id,
                                                 Image.duplicate_group_id == group_id).order_by(Image.id)))
    if not images:  # the consistency service dissolved the group since
        raise NotFound("the near-duplicate group of this conflict no longer exists")
    return images


def _to_settle(db: Session, conflict: Conflict, images: list[Image], *, group: bool) -> list[Conflict]:
    ids = [i.id for i in images]
    query = select(Conflict).where(Conflict.project_id == conflict.project_id, Conflict.state.in_(ACTIVE))
    subject: ColumnElement[bool] = Conflict.image_id.in_(ids)
    if group and images[0].duplicate_group_id is not None:
        subject = subject | (Conflict.duplicate_group_id == images[0].duplicate_group_id) & Conflict.image_id.is_(None)
    siblings = db.scalars(query.where(subject)).all()
    return sorted({c.id: c for c in [conflict, *siblings]}.values(), key=lambda c: c.id)


def _proposals(db: Session, book: ClassBook, images: list[Image], data: DecisionIn) -> dict[int, Proposal]:
    decision = Decision(data.decision)
    if decision is Decision.send_back:
        return {}
    if decision is Decision.ambiguous:
        return {i.id: Proposal(None, [], ambiguous=True) for i in images}
    if decision is Decision.group:
        class_id = book.current(_required(data.label_class_id, "label_class_id"))
        return {i.id: Proposal(class_id, _group_boxes(db, book, i, class_id)) for i in images}
    if len(images) != 1:
        raise Invalid("a near-duplicate group is decided with one class for all its images (decision: group)",
                      field="decision")
    image = images[0]
    if decision is Decision.accept_consensus:
        return {image.id: consensus_proposal(db, book, image)}
    if decision is Decision.take_labeler:
        labeler_id = _required(data.labeler_id, "labeler_id")
        answer = db.scalar(select(Annotation).where(Annotation.image_id == image.id,
                                                    Annotation.labeler_id == labeler_id,
                                                    Annotation.superseded_by_id.is_(None)))
        if answer is None:
            raise Invalid("that labeler has no answer on this image", field="labeler_id")
        taken = Proposal(book.current(answer.label_class_id), clean_boxes(book, image, answer.boxes or []))
        check_consistent(book, taken)
        return {image.id: taken}
    class_id = book.current(_required(data.label_class_id, "label_class_id"))
    if data.class_only and data.boxes is None:
        return {image.id: Proposal(class_id, consensus_boxes(book, db.get(ImageConsensus, image.id), image, class_id))}
    edited = Proposal(class_id, clean_boxes(book, image, data.boxes or []))
    check_consistent(book, edited)
    return {image.id: edited}


def _group_boxes(db: Session, book: ClassBook, image: Image, class_id: int | None) -> list[dict[str, Any]]:
    """A group decision sets the class; each image keeps the boxes a person decided for that class,
    else the consensus boxes a majority supports (none when the class means "no defect")."""
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))
    if (final is not None and final.source == FinalLabelSource.review and not final.is_ambiguous and final.boxes
            and book.current(final.label_class_id) == class_id and not book.is_ok(class_id)):
        return clean_boxes(book, image, final.boxes)
    return consensus_boxes(book, db.get(ImageConsensus, image.id), image, class_id)


def _required(value: int | None, name: str) -> int:
    if value is None:
        raise Invalid(f"{name} is required for this decision", field=name)
    return value


def decide(db: Session, *, project: Project, conflict_id: int, reviewer: User, data: DecisionIn) -> DecisionResult:
    """Apply one decision. Raises NotFound, Invalid, StaleDecision (409 with the current state)."""
    conflict = get_conflict(db, project.id, conflict_id)
    if conflict.version != data.version:
        raise StaleDecision("another reviewer changed this conflict after you opened it",
                            detail=current_state(db, conflict))
    decision = Decision(data.decision)
    images = subject_images(db, conflict, whole_group=decision is Decision.group)
    book = ClassBook(db, project.id)
    proposals = _proposals(db, book, images, data)
    labeler_ids = check_labelers(db, project_id=project.id, labeler_ids=data.labeler_ids) \
        if decision is Decision.send_back else []
    if decision is Decision.send_back and not data.reason.strip():
        raise Invalid("write a note for the labelers: what should they look at again?", field="reason")
    whole_group = decision is Decision.group or conflict.image_id is None
    main = proposals.get(images[0].id) if len(images) == 1 else None
    class_id = main.label_class_id if main else None
    if decision is Decision.group:
        class_id = book.current(data.label_class_id)
    settling = _to_settle(db, conflict, images, group=whole_group)
    if _leaves_boxes_open(decision, data, book, class_id):
        if conflict.kind in BOX_KINDS:
            raise Invalid("a decision on the image's class alone does not settle a conflict about its boxes: "
                          "give the boxes", field="boxes")
        settling = [c for c in settling if c.kind not in BOX_KINDS]
    settled = _settle(db, settling, STATE_AFTER.get(decision, ConflictState.resolved))
    resolutions = [
        Resolution(conflict_id=c.id, reviewer_id=reviewer.id, decision=decision, conflict_version=seen,
                   label_class_id=class_id, boxes=main.boxes if main and not main.ambiguous else None,
                   taken_from_labeler_id=data.labeler_id if decision is Decision.take_labeler else None,
                   reason=data.reason.strip())
        for c, seen in settled
    ]
    db.add_all(resolutions)
    db.flush()
    primary = next(r for r in resolutions if r.conflict_id == conflict.id)
    for image_id, proposal in proposals.items():
        write_final(db, image_id=image_id, proposal=proposal, resolution_id=primary.id)
    if labeler_ids:
        _send_back(db, project, images, labeler_ids, data.reason, reviewer, whole=conflict.image_id is not None)
    db.flush()
    audit.record(db, action="review.decision", actor_id=reviewer.id, project_id=project.id, object_type="conflict",
                 object_id=conflict.id, data={**data.audit_data(), "resolution_ids": [r.id for r in resolutions],
                                              "image_ids": [i.id for i in images]})
    return DecisionResult(resolution=primary, resolutions=resolutions, image_ids=[i.id for i in images])


def decide_class(db: Session, *, project: Project, image_id: int, reviewer: User, data: DecisionIn) -> FinalLabel:
    """The class of an image whose only open conflicts are about its boxes (a class-only decision in
    bulk): its final label takes the class and the consensus boxes a majority supports; no conflict is
    settled (the box conflicts stay open for a person), so no resolution is written. Raises NotFound
    for another project's image, Invalid for a class that is not current."""
    image = db.get(Image, image_id)
    if image is None or image.project_id != project.id:
        raise NotFound("image not found")
    book = ClassBook(db, project.id)
    if data.label_class_id is None:
        proposal = consensus_proposal(db, book, image)
    else:
        class_id = book.current(data.label_class_id)
        proposal = Proposal(class_id, consensus_boxes(book, db.get(ImageConsensus, image.id), image, class_id))
    final = write_final(db, image_id=image.id, proposal=proposal, resolution_id=None)
    db.flush()
    audit.record(db, action="review.class_decided", actor_id=reviewer.id, project_id=project.id, object_type="image",
                 object_id=image.id, data={**data.audit_data(), "label_class_id": proposal.label_class_id,
                                           "boxes": len(proposal.boxes)})
    return final


def _leaves_boxes_open(decision: Decision, data: DecisionIn, book: ClassBook, class_id: int | None) -> bool:
    """An image-level decision (class only, or a group's) leaves conflicts about boxes open, unless its
    class means "no defect" (no boxes at all: nothing left to settle)."""
    image_level = decision is Decision.group or (data.class_only and data.boxes is None and decision in (
        Decision.edit, Decision.accept_consensus))
    return image_level and not book.is_ok(class_id)


def _settle(db: Session, conflicts: list[Conflict], state: ConflictState) -> list[tuple[Conflict, int]]:
    """Move each conflict to `state`, one version-checked UPDATE at a time in id order (so two
    reviewers lock rows in the same order and never deadlock)."""
    settled = []
    now = utcnow()
    for conflict in conflicts:
        seen = conflict.version
        conflict.state = state
        conflict.resolved_at = now if state is not ConflictState.returned else None
        db.flush()
        settled.append((conflict, seen))
    return settled


def _send_back(db: Session, project: Project, images: list[Image], labeler_ids: list[int], note: str,
               reviewer: User, *, whole: bool) -> None:
    """An image goes to every chosen labeler; a group's images each to the chosen who labeled it."""
    labeled = live_labelers(db, [i.id for i in images])
    for image in images:
        chosen = labeler_ids if whole else [i for i in labeler_ids if i in labeled.get(image.id, [])]
        if chosen:
            return_to_labelers(db, project_id=project.id, image_id=image.id, labeler_ids=chosen, note=note,
                               actor=reviewer)


def describe(db: Session, result: DecisionResult) -> str:
    """One line for the reviewer: what the decision did."""
    decision = Decision(result.resolution.decision)
    what = {Decision.send_back: "sent back to the labelers", Decision.ambiguous: "marked ambiguous"}.get(decision)
    if what is None:
        label_class = db.get(LabelClass, result.resolution.label_class_id or -1)
        what = f"final label {label_class.name if label_class else 'none'}"
    first = db.get(Image, result.image_ids[0]) if len(result.image_ids) == 1 else None
    return f"{first.file_name if first else f'{len(result.image_ids)} images'}: {what}."


def record_lost_attempt(db: Session, *, project_id: int, conflict_id: int, reviewer: User,
                        data: DecisionIn) -> dict[str, Any]:
    """Audit a decision that lost a race (its data is kept), and return the state that won."""
    conflict = get_conflict(db, project_id, conflict_id)
    state = current_state(db, conflict)
    audit.record(db, action="review.decision_lost", actor_id=reviewer.id, project_id=project_id,
                 object_type="conflict", object_id=conflict_id, data={"attempt": data.audit_data(), "current": state})
    return {**state, "your_decision": data.audit_data()}


def decision_for_image(db: Session, image_id: int) -> ReviewedLabel | None:
    """The reviewer's standing decision on an image, or None (no decision, or its class was split
    away). For the consistency service: keep a `review` final label unless this returns None."""
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image_id,
                                               FinalLabel.source == FinalLabelSource.review))
    if final is None:
        return None
    if final.is_ambiguous:
        return ReviewedLabel(None, [], True, final.resolution_id)
    image = db.get_one(Image, image_id)
    book = ClassBook(db, image.project_id)
    try:
        class_id = book.current(final.label_class_id)
    except Invalid:
        return None
    return ReviewedLabel(class_id, list(final.boxes or []), False, final.resolution_id)


def agrees_with_decision(db: Session, *, image_id: int, label_class_id: int | None) -> bool | None:
    """Whether a new answer's class agrees with the standing decision (None: there is none).
    An image marked ambiguous agrees with nothing: new labels may settle it."""
    decided = decision_for_image(db, image_id)
    if decided is None:
        return None
    if decided.is_ambiguous:
        return False
    book = ClassBook(db, db.get_one(Image, image_id).project_id)
    mapped = book.mapping.get(label_class_id, label_class_id) if label_class_id is not None else None
    return mapped == decided.label_class_id
