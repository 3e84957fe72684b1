"""The defect book as a living, versioned document: definitions, examples, and what changed.

Every change (a definition edited, an example added or removed, a taxonomy change) is a new
DefectBookVersion with a summary, a machine-readable `change` (enough to undo it) and a snapshot of
the classes afterwards. The version counter on the project is moved by a conditional UPDATE
(`WHERE defect_book_version = :seen`), so two editors never both write version n+1: the second
gets 409 with the current state.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.models import User
from app.core import audit
from app.core.errors import Conflict, Invalid, NotFound
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import ClassExample, DefectBookVersion, LabelClass, Project
from app.projects.service import classes_of, defect_book_snapshot
from app.review.returns import return_conflicts, return_to_labelers

MAX_DEFINITION = 20_000


@dataclass
class Example:
    id: int
    image_id: int
    file_name: str
    note: str
    is_counter_example: bool


@dataclass
class BookClass:
    label_class: LabelClass
    examples: list[Example] = field(default_factory=list)
    counter_examples: list[Example] = field(default_factory=list)
    merged_into: str | None = None  # name of the class that now stands for a retired one


@dataclass
class BookChange:
    version: int
    summary: str
    change: dict[str, Any]
    created_at: datetime
    author: str | None
    is_new: bool  # newer than the reader's `since`


@dataclass
class DefectBook:
    project: Project
    version: int
    classes: list[BookClass]
    retired: list[BookClass]
    changes: list[BookChange]
    since: int | None


def class_in_project(db: Session, project_id: int, class_id: int, *, active: bool = False) -> LabelClass:
    label_class = db.get(LabelClass, class_id)
    if label_class is None or label_class.project_id != project_id:
        raise NotFound("class not found")
    if active and not label_class.is_active:
        raise Invalid(f"class {label_class.name!r} is retired", field="label_class_id")
    return label_class


def record_version(db: Session, *, project: Project, actor: User | None, summary: str, change: dict[str, Any],
                   seen_version: int | None = None) -> DefectBookVersion:
    """Append the next version; Conflict (409, current version in detail) if the book moved on."""
    current = check_seen(db, project.id, seen_version)
    moved = db.execute(
        update(Project).where(Project.id == project.id, Project.defect_book_version == current)
        .values(defect_book_version=current + 1).execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the defect book changed meanwhile; reload and try again", detail={"version": current})
    set_committed_value(project, "defect_book_version", current + 1)
    db.flush()
    version = DefectBookVersion(project_id=project.id, version=current + 1, summary=summary[:2000], change=change,
                                snapshot=snapshot(db, project.id), created_by_id=actor.id if actor else None)
    db.add(version)
    db.flush()
    audit.record(db, action="defect_book.changed", actor_id=actor.id if actor else None, project_id=project.id,
                 object_type="defect_book_version", object_id=version.id,
                 data={"version": version.version, "summary": version.summary, "change": change})
    return version


# Change kinds that move labels from one class to another; the mapping replays them in order.
ALIAS_CHANGES = ("merge", "unmerge", "unsplit")


def class_mapping(db: Session, project_id: int) -> dict[int, int]:
    """Retired class id -> the class that now stands for it, from the taxonomy changes so far.

    A merge of A into B maps A to B, undoing it removes that; undoing a split of A into B and C maps
    B and C back to A. Chains resolve to their end (A->B, B->C gives A->C). Annotations are never
    rewritten, so readers (consensus, exports) map class ids through this.
    """
    alias: dict[int, int] = {}
    for (change,) in db.execute(select(DefectBookVersion.change).where(DefectBookVersion.project_id == project_id)
                                .order_by(DefectBookVersion.version)):
        kind = change.get("kind") if isinstance(change, dict) else None
        if kind == "merge":
            alias[int(change["source_id"])] = int(change["target_id"])
        elif kind == "unmerge":
            alias.pop(int(change["source_id"]), None)
        elif kind == "unsplit":
            for part in change["parts"]:
                alias[int(part)] = int(change["class_id"])
            alias.pop(int(change["class_id"]), None)
        elif kind == "split":
            for part in change["parts"]:
                alias.pop(int(part), None)
    resolved = {}
    for source in alias:
        target, seen = alias[source], {source}
        while target in alias and target not in seen:
            seen.add(target)
            target = alias[target]
        if target != source:
            resolved[source] = target
    return resolved


def check_seen(db: Session, project_id: int, seen_version: int | None) -> int:
    """The book's current version; Conflict (409) when the editor saw another one."""
    current = db.scalar(select(Project.defect_book_version).where(Project.id == project_id))
    if current is None:
        raise NotFound("project not found")
    if seen_version is not None and seen_version != current:
        raise Conflict(f"the defect book changed meanwhile (now version {current}); reload and try again",
                       detail={"version": current})
    return current


def snapshot(db: Session, project_id: int) -> list[dict[str, Any]]:
    """The classes (as the project service records them) plus each class's example image ids."""
    examples: dict[int, list[int]] = {}
    for class_id, image_id in db.execute(
        select(ClassExample.label_class_id, ClassExample.image_id)
        .join(LabelClass, LabelClass.id == ClassExample.label_class_id)
        .where(LabelClass.project_id == project_id).order_by(ClassExample.id)
    ):
        examples.setdefault(class_id, []).append(image_id)
    entries = defect_book_snapshot(db, project_id)
    for entry in entries:
        entry["examples"] = examples.get(int(entry["id"]), [])  # type: ignore[call-overload]
    return entries


def edit_definition(db: Session, *, project: Project, class_id: int, definition: str, seen_version: int | None,
                    actor: User | None) -> DefectBookVersion:
    label_class = class_in_project(db, project.id, class_id)
    check_seen(db, project.id, seen_version)
    definition = definition.strip()
    if len(definition) > MAX_DEFINITION:
        raise Invalid(f"a definition has at most {MAX_DEFINITION} characters", field="definition")
    if definition == label_class.definition:
        raise Invalid("the definition is unchanged", field="definition")
    before = label_class.definition
    label_class.definition = definition
    db.flush()
    return record_version(db, project=project, actor=actor, seen_version=seen_version,
                          summary=f"Definition of “{label_class.name}” changed",
                          change={"kind": "definition", "class_id": class_id, "before": before, "after": definition})


def add_example(db: Session, *, project: Project, class_id: int, image_id: int, note: str = "",
                counter_example: bool = False, actor: User | None) -> ClassExample:
    label_class = class_in_project(db, project.id, class_id, active=True)
    image = db.get(Image, image_id)
    if image is None or image.project_id != project.id:
        raise NotFound("image not found")
    taken = db.scalar(select(ClassExample.id).where(ClassExample.label_class_id == class_id,
                                                    ClassExample.image_id == image_id))
    if taken is not None:
        raise Conflict(f"{image.file_name} is already an example of “{label_class.name}”",
                       detail={"example_id": taken})
    example = ClassExample(label_class_id=class_id, image_id=image_id, note=note.strip()[:2000],
                           is_counter_example=counter_example, added_by_id=actor.id if actor else None)
    db.add(example)
    db.flush()
    what = "Counter-example" if counter_example else "Example"
    record_version(db, project=project, actor=actor, summary=f"{what} {image.file_name} added to “{label_class.name}”",
                   change={"kind": "example_added", "class_id": class_id, "image_id": image_id,
                           "note": example.note, "counter_example": counter_example})
    return example


def remove_example(db: Session, *, project: Project, example_id: int, actor: User | None) -> DefectBookVersion:
    example = db.get(ClassExample, example_id)
    label_class = db.get(LabelClass, example.label_class_id) if example else None
    if example is None or label_class is None or label_class.project_id != project.id:
        raise NotFound("example not found")
    image = db.get(Image, example.image_id)
    change = {"kind": "example_removed", "class_id": label_class.id, "image_id": example.image_id,
              "note": example.note, "counter_example": example.is_counter_example}
    db.delete(example)
    db.flush()
    name = image.file_name if image else f"image {change['image_id']}"
    return record_version(db, project=project, actor=actor, change=change,
                          summary=f"Example {name} removed from “{label_class.name}”")


def read_book(db: Session, *, project: Project, since: int | None = None) -> DefectBook:
    every = classes_of(db, project.id, include_inactive=True)
    names = {c.id: c.name for c in every}
    mapping = class_mapping(db, project.id)
    entries = {c.id: BookClass(label_class=c, merged_into=names.get(mapping.get(c.id, -1))) for c in every}
    rows = db.execute(
        select(ClassExample, Image.file_name).join(Image, Image.id == ClassExample.image_id)
        .where(ClassExample.label_class_id.in_(list(entries))).order_by(ClassExample.id)
    ).all()
    for example, file_name in rows:
        item = Example(example.id, example.image_id, file_name, example.note, example.is_counter_example)
        target = entries[example.label_class_id]
        (target.counter_examples if example.is_counter_example else target.examples).append(item)
    return DefectBook(
        project=project, version=project.defect_book_version,
        classes=[entries[c.id] for c in every if c.is_active],
        retired=[entries[c.id] for c in every if not c.is_active],
        changes=list_changes(db, project.id, since=since), since=since,
    )


def list_changes(db: Session, project_id: int, *, since: int | None = None, limit: int = 200) -> list[BookChange]:
    rows = db.execute(
        select(DefectBookVersion, User.display_name).outerjoin(User, User.id == DefectBookVersion.created_by_id)
        .where(DefectBookVersion.project_id == project_id)
        .order_by(DefectBookVersion.version.desc()).limit(limit)
    ).all()
    return [BookChange(v.version, v.summary, v.change, v.created_at, author, since is not None and v.version > since)
            for v, author in rows]


def get_version(db: Session, project_id: int, version: int) -> DefectBookVersion:
    found = db.scalar(select(DefectBookVersion).where(DefectBookVersion.project_id == project_id,
                                                      DefectBookVersion.version == version))
    if found is None:
        raise NotFound(f"defect book version {version} not found")
    return found


def example_classes(db: Session, image_id: int) -> Sequence[int]:
    return db.scalars(select(ClassExample.label_class_id).where(ClassExample.image_id == image_id)).all()


@dataclass
class RelabelScope:
    """What a definition change could send back: the class's labels given before the change."""

    label_class: LabelClass
    version: DefectBookVersion
    total: int  # live labels of the class given before the change
    confused_with: list[tuple[LabelClass, int]]  # (other class, labels of this class on images it was also given)


def _raw_ids(mapping: dict[int, int], class_id: int) -> list[int]:
    return [class_id, *[source for source, target in mapping.items() if target == class_id]]


def relabel_candidates(db: Session, *, project_id: int, class_id: int, before: datetime,
                       confused_with_id: int | None = None) -> list[tuple[int, int]]:
    """(image, labeler) of every live label of the class given before `before`; with
    `confused_with_id`, only on images where another live label says that class."""
    mapping = class_mapping(db, project_id)
    query = (
        select(Annotation.image_id, Annotation.labeler_id).join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None),
               Annotation.label_class_id.in_(_raw_ids(mapping, class_id)), Annotation.created_at < before)
    )
    if confused_with_id is not None:
        other = aliased(Annotation)
        query = query.where(select(other.id).where(
            other.image_id == Annotation.image_id, other.superseded_by_id.is_(None),
            other.label_class_id.in_(_raw_ids(mapping, confused_with_id))).correlate(Annotation).exists())
    return [(i, labeler) for i, labeler in db.execute(query.order_by(Annotation.image_id, Annotation.labeler_id))]


def relabel_scope(db: Session, *, project: Project, class_id: int, version: int) -> RelabelScope:
    """How many earlier labels of the class could go back: all, or only those on images where
    other labelers said another class (one count per such class, most first)."""
    label_class = class_in_project(db, project.id, class_id)
    change = get_version(db, project.id, version)
    total = len(relabel_candidates(db, project_id=project.id, class_id=class_id, before=change.created_at))
    confused = []
    for other in classes_of(db, project.id):
        if other.id != class_id and total:
            n = len(relabel_candidates(db, project_id=project.id, class_id=class_id, before=change.created_at,
                                       confused_with_id=other.id))
            if n:
                confused.append((other, n))
    confused.sort(key=lambda pair: -pair[1])
    return RelabelScope(label_class=label_class, version=change, total=total, confused_with=confused)


def send_for_relabel(db: Session, *, project: Project, class_id: int, version: int, confused_with_id: int | None,
                     actor: User | None) -> int:
    """Send the class's earlier labels (optionally only where labelers split with another class)
    back to their labelers with a note naming the change. Returns how many labels went back."""
    label_class = class_in_project(db, project.id, class_id)
    change = get_version(db, project.id, version)
    if confused_with_id is not None:
        class_in_project(db, project.id, confused_with_id)
    pairs = relabel_candidates(db, project_id=project.id, class_id=class_id, before=change.created_at,
                               confused_with_id=confused_with_id)
    note = (f"Defect book v{change.version}: {change.summary}. Please look at this image again "
            f"with the new definition of “{label_class.name}”.")
    by_image: dict[int, list[int]] = {}
    for image_id, labeler_id in pairs:
        by_image.setdefault(image_id, []).append(labeler_id)
    for image_id, labelers in by_image.items():
        return_to_labelers(db, project_id=project.id, image_id=image_id, labeler_ids=labelers, note=note, actor=actor)
    return_conflicts(db, project_id=project.id, image_ids=list(by_image))
    audit.record(db, action="defect_book.relabel", actor_id=actor.id if actor else None, project_id=project.id,
                 object_type="label_class", object_id=class_id,
                 data={"version": version, "confused_with_id": confused_with_id, "labels": len(pairs),
                       "images": len(by_image)})
    return len(pairs)


def image_by_name(db: Session, project_id: int, file_name: str) -> Image:
    """The project's image with this file name; Invalid when none or several carry it."""
    found = db.scalars(select(Image).where(Image.project_id == project_id, Image.file_name == file_name.strip())
                       .limit(2)).all()
    if len(found) != 1:
        raise Invalid(f"no single image named {file_name!r} in this project", field="file_name")
    return found[0]


def image_of(db: Session, image_id: int) -> Image:
    return db.get_one(Image, image_id)
