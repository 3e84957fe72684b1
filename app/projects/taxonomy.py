"""Taxonomy changes on existing labels: rename, merge, split — non-destructive and reversible.

Nothing a labeler entered is rewritten: a merge retires the source class (`is_active=False`) and
records the alias that `class_mapping` replays; a split retires the class, adds two new ones and
sends the images that used it back for relabeling. Final labels are derived data: a merge moves
them to the target class and remembers which it moved, so that undoing it moves exactly those back.
Every change is a defect book version (with an audit event); undoing is a new version.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Invalid
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.defect_book import (
    add_example,
    class_in_project,
    class_mapping,
    edit_definition,
    get_version,
    record_version,
    remove_example,
)
from app.projects.models import ClassExample, DefectBookVersion, LabelClass, Project
from app.projects.service import ClassSpec, add_class, classes_of
from app.review.models import FinalLabel
from app.review.returns import cancel_returns, live_labelers, return_conflicts, return_to_labelers

__all__ = ["class_mapping", "merge_classes", "rename_class", "revert_change", "split_class"]


@dataclass
class NewClass:
    name: str
    definition: str = ""


def _undo_note(reverts: int | None) -> tuple[str, dict[str, Any]]:
    return (f"Undo of v{reverts}: ", {"reverts": reverts}) if reverts else ("", {})


def _check_name(db: Session, project_id: int, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 80:
        raise Invalid("a class needs a name of 1 to 80 characters", field="name")
    if db.scalar(select(LabelClass.id).where(LabelClass.project_id == project_id, LabelClass.name == name)):
        raise Invalid(f"a class named {name!r} exists already (retired classes keep their names)", field="name")
    return name


def rename_class(db: Session, *, project: Project, class_id: int, name: str, actor: User | None,
                 reverts: int | None = None) -> DefectBookVersion:
    label_class = class_in_project(db, project.id, class_id)
    before, name = label_class.name, _check_name(db, project.id, name)
    label_class.name = name
    db.flush()
    prefix, extra = _undo_note(reverts)
    return record_version(db, project=project, actor=actor, summary=f"{prefix}“{before}” renamed to “{name}”",
                          change={"kind": "rename", "class_id": class_id, "before": before, "after": name, **extra})


def _move_final_labels(db: Session, project_id: int, source_id: int, target_id: int) -> list[list[Any]]:
    """Final labels of the source class (image class or box class) move to the target: a list of
    [final label id, image class moved, [moved box indices]] to undo exactly this later."""
    moved: list[list[Any]] = []
    rows = db.scalars(select(FinalLabel).join(Image, Image.id == FinalLabel.image_id)
                      .where(Image.project_id == project_id).order_by(FinalLabel.id)).all()
    for final in rows:
        boxes = list(final.boxes or [])
        indices = [i for i, box in enumerate(boxes) if box.get("class_id") == source_id]
        class_moved = final.label_class_id == source_id
        if not class_moved and not indices:
            continue
        if class_moved:
            final.label_class_id = target_id
        for i in indices:
            boxes[i] = {**boxes[i], "class_id": target_id}
        final.boxes = boxes
        moved.append([final.id, class_moved, indices])
    db.flush()
    return moved


def _move_back(db: Session, moved: list[list[Any]], source_id: int, target_id: int) -> None:
    for final_id, class_moved, indices in moved:
        final = db.get(FinalLabel, final_id)
        if final is None:
            continue
        if class_moved and final.label_class_id == target_id:
            final.label_class_id = source_id
        boxes = list(final.boxes or [])
        for i in indices:
            if i < len(boxes) and boxes[i].get("class_id") == target_id:
                boxes[i] = {**boxes[i], "class_id": source_id}
        final.boxes = boxes
    db.flush()


def merge_classes(db: Session, *, project: Project, source_id: int, target_id: int, actor: User | None,
                  reverts: int | None = None) -> DefectBookVersion:
    """Retire `source`; from now on its labels count as `target`."""
    if source_id == target_id:
        raise Invalid("choose two different classes to merge", field="target_id")
    source = class_in_project(db, project.id, source_id, active=True)
    target = class_in_project(db, project.id, target_id, active=True)
    source.is_active = False
    moved = _move_final_labels(db, project.id, source_id, target_id)
    prefix, extra = _undo_note(reverts)
    return record_version(db, project=project, actor=actor,
                          summary=f"{prefix}“{source.name}” merged into “{target.name}”",
                          change={"kind": "merge", "source_id": source_id, "target_id": target_id, "moved": moved,
                                  **extra})


def _unmerge(db: Session, *, project: Project, change: dict[str, Any], actor: User | None,
             reverts: int) -> DefectBookVersion:
    source = class_in_project(db, project.id, int(change["source_id"]))
    target = class_in_project(db, project.id, int(change["target_id"]))
    source.is_active = True
    _move_back(db, change.get("moved", []), source.id, target.id)
    return record_version(db, project=project, actor=actor,
                          summary=f"Undo of v{reverts}: “{source.name}” split off “{target.name}” again",
                          change={"kind": "unmerge", "source_id": source.id, "target_id": target.id,
                                  "moved": change.get("moved", []), "reverts": reverts})


def _images_using(db: Session, project_id: int, class_ids: list[int]) -> list[int]:
    """Images whose live labels or final label use one of the classes, as image class or box class."""
    wanted = set(class_ids)
    found: set[int] = set()
    live = (select(Annotation.image_id, Annotation.label_class_id, Annotation.boxes)
            .join(Image, Image.id == Annotation.image_id)
            .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None)))
    finals = (select(FinalLabel.image_id, FinalLabel.label_class_id, FinalLabel.boxes)
              .join(Image, Image.id == FinalLabel.image_id).where(Image.project_id == project_id))
    for query in (live, finals):
        for image_id, class_id, boxes in db.execute(query.execution_options(yield_per=2000)):
            if class_id in wanted or any(b.get("class_id") in wanted for b in boxes or []):
                found.add(image_id)
    return sorted(found)


def split_class(db: Session, *, project: Project, class_id: int, into: list[NewClass], actor: User | None,
                note: str = "") -> DefectBookVersion:
    """Retire the class, add the new ones, and send every image that used it back to its labelers."""
    if len(into) != 2:
        raise Invalid("a split makes exactly two classes", field="into")
    original = class_in_project(db, project.id, class_id, active=True)
    names = [_check_name(db, project.id, part.name) for part in into]
    if names[0] == names[1]:
        raise Invalid("the two new classes need different names", field="into")
    position = (db.scalar(select(func.max(LabelClass.position)).where(LabelClass.project_id == project.id)) or 0) + 1
    used = {c.hotkey for c in classes_of(db, project.id) if c.id != class_id}
    free = [k for k in "123456789" if k not in used and k != original.hotkey]
    hotkeys = [original.hotkey, free[0] if free else None]
    parts = [add_class(db, project=project, position=position + n,
                       spec=ClassSpec(name=name, hotkey=hotkeys[n], definition=part.definition.strip()))
             for n, (name, part) in enumerate(zip(names, into, strict=True))]
    original.is_active = False
    db.flush()
    images = _images_using(db, project.id, [class_id, *[s for s, t in class_mapping(db, project.id).items()
                                                         if t == class_id]])
    message = note.strip() or (f"“{original.name}” was split into “{names[0]}” and “{names[1]}”: "
                               "please label this image again")
    assignments: list[int] = []
    for image_id, labelers in live_labelers(db, images).items():
        returned = return_to_labelers(db, project_id=project.id, image_id=image_id, labeler_ids=labelers,
                                      note=message, actor=actor)
        assignments.extend(a.id for a in returned)
    return_conflicts(db, project_id=project.id, image_ids=images)
    return record_version(db, project=project, actor=actor,
                          summary=f"“{original.name}” split into “{names[0]}” and “{names[1]}” "
                                  f"({len(images)} images sent back for relabeling)",
                          change={"kind": "split", "class_id": class_id, "parts": [p.id for p in parts],
                                  "images": len(images), "assignments": assignments})


def _unsplit(db: Session, *, project: Project, change: dict[str, Any], actor: User | None,
             reverts: int) -> DefectBookVersion:
    original = class_in_project(db, project.id, int(change["class_id"]))
    parts = [class_in_project(db, project.id, int(p)) for p in change["parts"]]
    original.is_active = True
    for part in parts:
        part.is_active = False
    cancelled = cancel_returns(db, change.get("assignments", []))
    db.flush()
    return record_version(db, project=project, actor=actor,
                          summary=f"Undo of v{reverts}: “{parts[0].name}” and “{parts[1].name}” joined back "
                                  f"into “{original.name}” ({cancelled} pending relabels withdrawn)",
                          change={"kind": "unsplit", "class_id": original.id, "parts": [p.id for p in parts],
                                  "cancelled": cancelled, "reverts": reverts})


def _undo_example_added(db: Session, project: Project, change: dict[str, Any], actor: User | None,
                        reverts: int) -> DefectBookVersion:
    example = db.scalar(select(ClassExample).where(ClassExample.label_class_id == int(change["class_id"]),
                                                   ClassExample.image_id == int(change["image_id"])))
    if example is None:
        raise Invalid("that example is no longer in the defect book")
    version = remove_example(db, project=project, example_id=example.id, actor=actor)
    version.change = {**version.change, "reverts": reverts}
    version.summary = f"Undo of v{reverts}: {version.summary}"
    return version


def revert_change(db: Session, *, project: Project, version: int, actor: User | None) -> DefectBookVersion:
    """Undo version `version` by a new version (the history keeps both)."""
    old = get_version(db, project.id, version)
    change = dict(old.change or {})
    kind = change.get("kind")
    if kind == "definition":
        new = edit_definition(db, project=project, class_id=int(change["class_id"]), definition=change["before"],
                              seen_version=None, actor=actor)
    elif kind == "rename":
        return rename_class(db, project=project, class_id=int(change["class_id"]), name=change["before"],
                            actor=actor, reverts=version)
    elif kind == "merge":
        return _unmerge(db, project=project, change=change, actor=actor, reverts=version)
    elif kind == "unmerge":
        return merge_classes(db, project=project, source_id=int(change["source_id"]),
                             target_id=int(change["target_id"]), actor=actor, reverts=version)
    elif kind == "split":
        return _unsplit(db, project=project, change=change, actor=actor, reverts=version)
    elif kind == "example_added":
        return _undo_example_added(db, project, change, actor, version)
    elif kind == "example_removed":
        add_example(db, project=project, class_id=int(change["class_id"]), image_id=int(change["image_id"]),
                    note=change.get("note", ""), counter_example=bool(change.get("counter_example")), actor=actor)
        new = get_version(db, project.id, project.defect_book_version)
    else:
        raise Invalid(f"version {version} ({kind or 'unknown change'}) cannot be undone; make a new change instead")
    new.change = {**new.change, "reverts": version}
    new.summary = f"Undo of v{version}: {new.summary}"
    return new

