"""What a decision makes of an image: its final class and boxes, checked against the project.

Boxes are `{"x", "y", "w", "h", "class_id"}` in image pixels. Classes are read through the taxonomy
mapping, so an answer given in a class merged away since counts as its successor; a class retired
by a split has no successor and cannot be chosen.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consistency.boxes import is_supported, settled_class
from app.consistency.models import ImageConsensus
from app.core.errors import Invalid
from app.images.models import Image
from app.projects.defect_book import class_mapping
from app.projects.models import LabelClass
from app.projects.naming import is_ok_name
from app.review.models import FinalLabel, FinalLabelSource
from app.review.schemas import BoxIn

EDGE_SLACK_PX = 0.5  # rounding at the right and bottom edges


@dataclass
class Proposal:
    """A final label to write for one image (class None and ambiguous for "ambiguous")."""

    label_class_id: int | None
    boxes: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: bool = False


class ClassBook:
    """The project's classes and merges, loaded once per decision."""

    def __init__(self, db: Session, project_id: int) -> None:
        self.classes = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project_id))}
        self.mapping = class_mapping(db, project_id)

    def is_ok(self, class_id: int | None) -> bool:
        """Whether the class means "no defect" (named ok, good, ...): its images have no boxes."""
        found = self.classes.get(class_id) if class_id is not None else None
        return found is not None and is_ok_name(found.name)

    def current(self, class_id: int | None, *, field_name: str = "label_class_id") -> int | None:
        """The active class that stands for `class_id` now; Invalid for another project's or a split class."""
        if class_id is None:
            return None
        mapped = self.mapping.get(class_id, class_id)
        found = self.classes.get(mapped)
        if found is None:
            raise Invalid(f"class {class_id} is not a class of this project", field=field_name)
        if not found.is_active:
            raise Invalid(f"class “{found.name}” is retired; choose one of the current classes", field=field_name)
        return mapped

    def name(self, class_id: int | None) -> str:
        found = self.classes.get(class_id) if class_id is not None else None
        return found.name if found else "–"


def clean_boxes(book: ClassBook, image: Image, boxes: Iterable[BoxIn | dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated plain boxes inside the image, with current class ids; Invalid names the box."""
    cleaned = []
    for n, raw in enumerate(boxes):
        box = raw if isinstance(raw, BoxIn) else BoxIn.model_validate(_xywhc(raw))
        if box.x + box.w > image.width + EDGE_SLACK_PX or box.y + box.h > image.height + EDGE_SLACK_PX:
            raise Invalid(f"box {n + 1} reaches outside the {image.width}×{image.height} image", field="boxes")
        class_id = book.current(box.class_id, field_name="boxes")
        cleaned.append({"x": box.x, "y": box.y, "w": box.w, "h": box.h, "class_id": class_id})
    return cleaned


def _xywhc(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in ("x", "y", "w", "h", "class_id") if k in raw}


def consensus_boxes(book: ClassBook, consensus: ImageConsensus | None, image: Image,
                    decided_class_id: int | None = None) -> list[dict[str, Any]]:
    """The consensus boxes that may become final without a person drawing them: the clusters a
    strict majority of the image's labelers drew (boxes.is_supported), each with the class a majority
    of its members gave, a tie going to `decided_class_id` when it is one of the tied classes
    (boxes.settled_class); a cluster without a settled class is left out. None at all when the
    decided class means "no defect". Entries without a full box are skipped."""
    if consensus is None or book.is_ok(decided_class_id):
        return []
    return clean_boxes(book, image, supported_clusters(consensus.clusters or [], book.mapping, decided_class_id))


def supported_clusters(clusters: list[dict[str, Any]], mapping: dict[int, int],
                       decided_class_id: int | None) -> list[dict[str, Any]]:
    """The stored consensus clusters that may become final boxes (see consensus_boxes), each with its
    settled class (through the taxonomy `mapping`); entries without a full box are skipped."""
    usable = []
    for c in clusters:
        if not all(k in c for k in ("x", "y", "w", "h", "class_id")):
            continue
        members = list(c.get("classes") or [c["class_id"]])
        labelers = len(members) + len(c.get("missing") or [])
        settled = settled_class([mapping.get(k, k) for k in members], decided_class_id)
        if is_supported(len(members), labelers) and settled is not None:
            usable.append({**c, "class_id": settled})
    return usable


def consensus_proposal(db: Session, book: ClassBook, image: Image) -> Proposal:
    consensus = db.get(ImageConsensus, image.id)
    if consensus is None or consensus.consensus_class_id is None:
        raise Invalid(f"{image.file_name} has no consensus proposal yet; choose a class instead", field="decision")
    class_id = book.current(consensus.consensus_class_id)
    return Proposal(class_id, consensus_boxes(book, consensus, image, class_id))


def check_consistent(book: ClassBook, proposal: Proposal) -> None:
    """A final label a person gives must not contradict itself: Invalid for boxes on a "no defect" image."""
    if proposal.boxes and book.is_ok(proposal.label_class_id):
        raise Invalid(f"an image decided “{book.name(proposal.label_class_id)}” has no boxes: delete the boxes or "
                      "choose a defect class", field="boxes")


def write_final(db: Session, *, image_id: int, proposal: Proposal, resolution_id: int | None) -> FinalLabel:
    """Insert or update the image's one final label (source `review`)."""
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == image_id))
    if final is None:
        final = FinalLabel(image_id=image_id)
        db.add(final)
    final.label_class_id = proposal.label_class_id
    final.boxes = list(proposal.boxes)
    final.source = FinalLabelSource.review
    final.is_ambiguous = proposal.ambiguous
    final.confidence = None if proposal.ambiguous else 1.0
    final.resolution_id = resolution_id
    return final
