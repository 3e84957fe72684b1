"""Feedback for labelers: where the reviewed final label differs from their answer, and why."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from app.auth.models import Membership, User
from app.core.errors import Forbidden, NotFound
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping
from app.projects.models import LabelClass
from app.review.media import thumbnail_url
from app.review.models import FinalLabel, FinalLabelSource, Resolution


@dataclass
class FeedbackItem:
    image: Image
    thumb: str
    yours: LabelClass | None
    final: LabelClass | None
    reason: str
    reviewer: str
    decision: str
    decided_at: datetime
    unsure: bool


@dataclass
class Feedback:
    labeler_id: int
    labeler: str
    reviewed: int  # the labeler's live answers on images a reviewer decided
    items: list[FeedbackItem]  # those the decision differs from, newest first

    @property
    def agreed(self) -> int:
        return self.reviewed - len(self.items)


def labelers_of(db: Session, project_id: int) -> list[tuple[int, str]]:
    """Everyone with a live answer in the project, by name (for a reviewer's picker)."""
    rows = db.execute(
        select(User.id, User.display_name).where(User.id.in_(
            select(Annotation.labeler_id).join(Image, Image.id == Annotation.image_id)
            .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None))))
        .order_by(User.display_name)
    ).all()
    return [(uid, name) for uid, name in rows]


def feedback_of(db: Session, *, project_id: int, labeler_id: int, viewer: User, may_see_others: bool) -> Feedback:
    """The feedback `viewer` asks for: their own, or (`may_see_others`: reviewers) that of a labeler of
    the project: a member, or someone with an answer there. Anyone else is NotFound like every foreign
    id (a reviewer must not learn the names of other projects' accounts); Forbidden for an inspector
    asking for someone else's."""
    if labeler_id != viewer.id:
        if not may_see_others:
            raise Forbidden("only reviewers see other labelers' feedback")
        if not _labels_in(db, project_id=project_id, user_id=labeler_id):
            raise NotFound("no such labeler in this project")
    return feedback_for(db, project_id=project_id, labeler_id=labeler_id)


def _labels_in(db: Session, *, project_id: int, user_id: int) -> bool:
    member = select(Membership.id).where(Membership.project_id == project_id, Membership.user_id == user_id)
    answered = (select(Annotation.id).join(Image, Image.id == Annotation.image_id)
                .where(Image.project_id == project_id, Annotation.labeler_id == user_id))
    return bool(db.scalar(select(or_(exists(member), exists(answered)))))


def feedback_for(db: Session, *, project_id: int, labeler_id: int, limit: int = 500) -> Feedback:
    """Compares the labeler's live answer with each reviewed (not ambiguous) final label, classes
    read through the taxonomy mapping. Boxes are not compared here: the class is what they learn."""
    reviewer = aliased(User)
    rows = db.execute(
        select(Annotation, FinalLabel, Resolution, reviewer.display_name, Image)
        .join(Image, Image.id == Annotation.image_id)
        .join(FinalLabel, FinalLabel.image_id == Annotation.image_id)
        .join(Resolution, Resolution.id == FinalLabel.resolution_id)
        .join(reviewer, reviewer.id == Resolution.reviewer_id)
        .where(Image.project_id == project_id, Annotation.labeler_id == labeler_id,
               Annotation.superseded_by_id.is_(None), FinalLabel.source == FinalLabelSource.review,
               FinalLabel.is_ambiguous.is_(False))
        .order_by(Resolution.created_at.desc(), Resolution.id.desc())
    ).all()
    mapping = class_mapping(db, project_id)
    classes = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project_id))}

    def current(class_id: int | None) -> int | None:
        return mapping.get(class_id, class_id) if class_id is not None else None

    items = [
        FeedbackItem(image=image, thumb=thumbnail_url(image), yours=classes.get(current(a.label_class_id) or -1),
                     final=classes.get(final.label_class_id or -1), reason=r.reason, reviewer=name,
                     decision=r.decision, decided_at=r.created_at, unsure=a.unsure)
        for a, final, r, name, image in rows
        if current(a.label_class_id) != current(final.label_class_id)
    ]
    who = db.get_one(User, labeler_id)
    return Feedback(labeler_id=labeler_id, labeler=who.display_name,
                    reviewed=len(rows), items=items[:limit])
