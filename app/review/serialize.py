"""Read models (dataclasses) to API answers (Pydantic)."""
from __future__ import annotations

from app.review.detail import ConflictView
from app.review.feedback import Feedback
from app.review.queue import QueuePage
from app.review.schemas import (
    AnswerOut,
    ClassVotes,
    ConflictDetailOut,
    ConflictItemOut,
    ConsensusOut,
    FacetOut,
    FacetValueOut,
    FeedbackItemOut,
    FeedbackOut,
    FinalLabelOut,
    QueueOut,
    ResolutionOut,
)


def queue_out(page: QueuePage) -> QueueOut:
    return QueueOut(
        total=page.total, offset=page.offset, limit=page.limit, filters=page.filters.params(),
        items=[ConflictItemOut(id=r.conflict.id, rank=r.rank, kind=r.conflict.kind, state=r.conflict.state,
                               severity=r.conflict.severity, version=r.conflict.version,
                               image_id=r.conflict.image_id, file_name=r.image.file_name if r.image else None,
                               duplicate_group_id=r.conflict.duplicate_group_id, images=r.images,
                               labelers=r.labelers, details=r.conflict.details or {},
                               classes=[ClassVotes(id=c.id, name=c.name, votes=n) for c, n in r.classes])
               for r in page.rows],
        facets=[FacetOut(name=f.name, title=f.title,
                         values=[FacetValueOut(value=v.value, label=v.label, count=v.count, active=v.active)
                                 for v in f.values]) for f in page.facets],
    )


def detail_out(view: ConflictView) -> ConflictDetailOut:
    shown, c, consensus = view.shown, view.conflict, view.shown.consensus
    return ConflictDetailOut(
        id=c.id, kind=c.kind, state=c.state, severity=c.severity, version=c.version, details=c.details or {},
        image_id=shown.image.id, file_name=shown.image.file_name, duplicate_group_id=shown.image.duplicate_group_id,
        group_image_ids=[g.image.id for g in view.group],
        answers=[AnswerOut(labeler_id=a.labeler_id, labeler=a.labeler, boxes=a.boxes, unsure=a.unsure,
                           comment=a.comment, created_at=a.created_at,
                           label_class_id=a.label_class.id if a.label_class else None) for a in shown.answers],
        consensus=None if consensus is None else ConsensusOut(
            label_class_id=consensus.label_class.id if consensus.label_class else None,
            confidence=consensus.confidence, majority_class_id=consensus.majority.id if consensus.majority else None,
            method=consensus.method, n_labels=consensus.n_labels, boxes=consensus.boxes),
        gold_class_id=shown.gold.id if shown.gold else None,
        final_label=FinalLabelOut.model_validate(shown.final) if shown.final else None,
        other_conflict_ids=[s.id for s in view.siblings],
        resolutions=[ResolutionOut.model_validate(h.resolution) for h in view.history],
        next_conflict_id=view.next_id, previous_conflict_id=view.prev_id,
    )


def feedback_out(found: Feedback) -> FeedbackOut:
    return FeedbackOut(labeler_id=found.labeler_id, reviewed=found.reviewed, agreed=found.agreed, items=[
        FeedbackItemOut(image_id=i.image.id, file_name=i.image.file_name, your_class_id=i.yours.id if i.yours else None,
                        final_class_id=i.final.id if i.final else None, reason=i.reason, reviewer=i.reviewer,
                        decision=i.decision, decided_at=i.decided_at) for i in found.items])
