"""The conflict view's read model: every answer, the consensus, gold, the group, the history."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Membership, Role, User
from app.consistency.models import Conflict, ImageConsensus
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping, example_classes
from app.projects.models import LabelClass, Project
from app.review.finals import supported_clusters
from app.review.media import image_url, thumbnail_url
from app.review.models import FinalLabel, Resolution
from app.review.queue import Query, QueueFilters
from app.review.service import ACTIVE, get_conflict, subject_images

# Okabe-Ito: distinguishable for colour-blind reviewers; labeler n gets colour n.
LABELER_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"]


@dataclass
class Answer:
    number: int  # 1-based: the key that takes this answer
    labeler_id: int
    labeler: str
    colour: str
    label_class: LabelClass | None
    boxes: list[dict[str, Any]]
    unsure: bool
    comment: str
    created_at: datetime


@dataclass
class ConsensusView:
    label_class: LabelClass | None
    confidence: float | None
    majority: LabelClass | None
    method: str
    n_labels: int
    boxes: list[dict[str, Any]]
    posterior: list[tuple[LabelClass, float]]
    box_agreement: float | None
    tied: list[LabelClass] = field(default_factory=list)  # the classes a plain vote cannot separate


@dataclass
class GroupImage:
    image: Image
    thumb: str
    classes: list[tuple[LabelClass, int]]
    final: LabelClass | None
    is_subject: bool


@dataclass
class HistoryItem:
    resolution: Resolution
    reviewer: str
    label_class: LabelClass | None


@dataclass
class Shown:
    """One image of the view with everything drawn on it."""

    image: Image
    url: str
    answers: list[Answer]
    consensus: ConsensusView | None
    gold: LabelClass | None
    gold_boxes: list[dict[str, Any]]
    final: FinalLabel | None


@dataclass
class ConflictView:
    project: Project
    conflict: Conflict
    siblings: list[Conflict]  # other active conflicts about the same image
    shown: Shown
    group: list[GroupImage]
    history: list[HistoryItem]
    classes: Sequence[LabelClass]  # active classes, in hotkey order
    class_by_id: dict[int, LabelClass]
    members: list[tuple[int, str, bool]]  # (user id, name, labeled this image)
    example_of: list[int]  # classes this image is already an example of
    prev_id: int | None
    next_id: int | None
    filters: QueueFilters
    notice: dict[str, Any] | None = None  # a lost race: the state that won and the attempt
    boxes_json: dict[str, Any] = field(default_factory=dict)  # what the page's script draws


def _answers(db: Session, image_id: int, classes: dict[int, LabelClass], mapping: dict[int, int]) -> list[Answer]:
    rows = db.execute(
        select(Annotation, User.display_name).join(User, User.id == Annotation.labeler_id)
        .where(Annotation.image_id == image_id, Annotation.superseded_by_id.is_(None)).order_by(Annotation.labeler_id)
    ).all()
    return [
        Answer(number=n + 1, labeler_id=a.labeler_id, labeler=name, colour=LABELER_COLOURS[n % len(LABELER_COLOURS)],
               label_class=classes.get(mapping.get(a.label_class_id, a.label_class_id))
               if a.label_class_id is not None else None,
               boxes=list(a.boxes or []), unsure=a.unsure, comment=a.comment, created_at=a.created_at)
        for n, (a, name) in enumerate(rows)
    ]


def shown_image(db: Session, image: Image, classes: dict[int, LabelClass], mapping: dict[int, int]) -> Shown:
    """The image with every labeler's live answer, the consensus, gold and the final label (also
    the image page's viewer)."""
    gold = classes.get(image.gold_label_class_id or -1) if image.is_gold else None
    answers = _answers(db, image.id, classes, mapping)
    consensus = _consensus(db.get(ImageConsensus, image.id), classes, mapping)
    if consensus is not None:
        consensus.tied = _tied([a.label_class for a in answers if a.label_class is not None])
    return Shown(image=image, url=image_url(image), answers=answers, consensus=consensus, gold=gold,
                 gold_boxes=list(image.gold_boxes or []) if image.is_gold else [],
                 final=db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id)))


def _tied(voted: list[LabelClass]) -> list[LabelClass]:
    votes = Counter(c.id for c in voted)
    top = max(votes.values(), default=0)
    leaders = [c for c in dict.fromkeys(voted) if votes[c.id] == top]
    return leaders if len(leaders) > 1 else []


def _consensus(row: ImageConsensus | None, classes: dict[int, LabelClass],
               mapping: dict[int, int]) -> ConsensusView | None:
    if row is None:
        return None

    def cls(class_id: Any) -> LabelClass | None:
        if class_id is None:
            return None
        key = int(class_id)
        return classes.get(mapping.get(key, key))

    posterior = sorted(((cls(k), float(p)) for k, p in (row.posterior or {}).items() if cls(k) is not None),
                       key=lambda kv: -kv[1])
    # what "accept consensus" takes: the boxes a majority drew, with a settled class
    decided = mapping.get(row.consensus_class_id, row.consensus_class_id) if row.consensus_class_id else None
    boxes = supported_clusters(row.clusters or [], mapping, decided)
    return ConsensusView(label_class=cls(row.consensus_class_id), confidence=row.confidence,
                         majority=cls(row.majority_class_id), method=row.method, n_labels=row.n_labels, boxes=boxes,
                         posterior=[(c, p) for c, p in posterior if c is not None][:5],
                         box_agreement=row.box_agreement)


def _group(db: Session, images: list[Image], subject_id: int, classes: dict[int, LabelClass],
           mapping: dict[int, int]) -> list[GroupImage]:
    ids = [i.id for i in images]
    votes: dict[int, dict[int, int]] = {i: {} for i in ids}
    for image_id, class_id in db.execute(select(Annotation.image_id, Annotation.label_class_id).where(
            Annotation.image_id.in_(ids), Annotation.superseded_by_id.is_(None))):
        if class_id is not None:
            key = mapping.get(class_id, class_id)
            votes[image_id][key] = votes[image_id].get(key, 0) + 1
    finals = dict(db.execute(select(FinalLabel.image_id, FinalLabel.label_class_id)
                             .where(FinalLabel.image_id.in_(ids))).all())
    return [GroupImage(image=i, thumb=thumbnail_url(i), is_subject=i.id == subject_id,
                       classes=[(classes[k], n) for k, n in sorted(votes[i.id].items(), key=lambda kv: -kv[1])
                                if k in classes],
                       final=classes.get(finals.get(i.id) or -1))
            for i in images]


def _history(db: Session, conflict_ids: list[int], classes: dict[int, LabelClass]) -> list[HistoryItem]:
    rows = db.execute(
        select(Resolution, User.display_name).join(User, User.id == Resolution.reviewer_id)
        .where(Resolution.conflict_id.in_(conflict_ids)).order_by(Resolution.id.desc()).limit(50)
    ).all()
    return [HistoryItem(r, name, classes.get(r.label_class_id or -1)) for r, name in rows]


def _members(db: Session, project_id: int, labeled: set[int]) -> list[tuple[int, str, bool]]:
    rows = db.execute(
        select(User.id, User.display_name, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id).order_by(User.display_name)
    ).all()
    people = {uid: name for uid, name, role in rows if role == Role.inspector or uid in labeled}
    for uid, name in db.execute(select(User.id, User.display_name).where(User.id.in_(labeled))):
        people.setdefault(uid, name)
    return sorted(((uid, name, uid in labeled) for uid, name in people.items()), key=lambda m: (not m[2], m[1]))


def conflict_view(db: Session, *, project: Project, conflict_id: int, filters: QueueFilters) -> ConflictView:
    conflict = get_conflict(db, project.id, conflict_id)
    every = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project.id))}
    mapping = class_mapping(db, project.id)
    images = subject_images(db, conflict)  # the image, or a group conflict's images
    image = images[0]
    if image.duplicate_group_id is not None:  # show an image's look-alikes beside it
        images = subject_images(db, conflict, whole_group=True)
    shown = shown_image(db, image, every, mapping)
    answers = shown.answers
    siblings = [c for c in db.scalars(select(Conflict).where(Conflict.project_id == project.id,
                                                             Conflict.image_id == image.id, Conflict.id != conflict.id,
                                                             Conflict.state.in_(ACTIVE)).order_by(Conflict.id))]
    q = Query(db, project.id, filters)
    active = [c for c in every.values() if c.is_active]
    active.sort(key=lambda c: (c.position, c.id))
    return ConflictView(
        project=project, conflict=conflict, siblings=siblings, shown=shown,
        group=_group(db, images, image.id, every, mapping) if len(images) > 1 else [],
        history=_history(db, [conflict.id, *[s.id for s in siblings]], every), classes=active, class_by_id=every,
        members=_members(db, project.id, {a.labeler_id for a in answers}),
        example_of=list(example_classes(db, image.id)),
        prev_id=q.neighbour(conflict, forward=False), next_id=q.neighbour(conflict, forward=True), filters=filters,
        boxes_json=drawing(shown, every),
    )


def drawing(shown: Shown, classes: dict[int, LabelClass]) -> dict[str, Any]:
    """The layers the page's script draws over the image (read from a JSON script element)."""
    def named(boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**{k: b[k] for k in ("x", "y", "w", "h", "class_id")},
                 "label": classes[b["class_id"]].name if b.get("class_id") in classes else "?"} for b in boxes]

    layers = [{"key": f"labeler-{a.labeler_id}", "label": a.labeler, "colour": a.colour, "dashed": False,
               "boxes": named(a.boxes)}
              for a in shown.answers]
    if shown.consensus is not None:
        layers.append({"key": "consensus", "label": "consensus", "colour": "#ffffff", "dashed": True,
                       "boxes": named(shown.consensus.boxes)})
    if shown.gold_boxes:
        layers.append({"key": "gold", "label": "gold", "colour": "#F0E442", "dashed": True,
                       "boxes": named(shown.gold_boxes)})
    return {"width": shown.image.width, "height": shown.image.height, "layers": layers,
            "classes": [{"id": c.id, "name": c.name, "colour": c.colour, "hotkey": c.hotkey}
                        for c in classes.values() if c.is_active],
            "final": list(shown.final.boxes or []) if shown.final else
            (list(shown.consensus.boxes) if shown.consensus else [])}
