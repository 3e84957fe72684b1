"""JSON API for the defect book and taxonomy changes (same services and roles as the pages)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import AdminAccess, InspectorAccess, ReviewerAccess
from app.core.db import DbSession
from app.projects import defect_book, taxonomy
from app.projects.models import DefectBookVersion

router = APIRouter(prefix="/api/v1/projects/{project_id}/defect-book", tags=["defect book"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExampleOut(BaseModel):
    id: int
    image_id: int
    file_name: str
    note: str
    is_counter_example: bool


class ClassOut(BaseModel):
    id: int
    name: str
    hotkey: str | None
    colour: str
    definition: str
    active: bool
    merged_into: str | None
    examples: list[ExampleOut]


class ChangeOut(BaseModel):
    version: int
    summary: str
    change: dict[str, Any]
    created_at: datetime
    author: str | None
    is_new: bool


class BookOut(BaseModel):
    version: int
    classes: list[ClassOut]
    changes: list[ChangeOut]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    summary: str
    change: dict[str, Any]
    created_at: datetime


class DefinitionIn(_In):
    definition: str = Field(max_length=defect_book.MAX_DEFINITION)
    seen_version: int | None = Field(default=None, description="the book version you edited; 409 if it moved on")


class ExampleIn(_In):
    label_class_id: int
    image_id: int
    note: str = Field(default="", max_length=2000)
    counter_example: bool = False


class RelabelIn(_In):
    class_id: int
    version: int = Field(ge=1, description="the definition change the labels predate")
    confused_with_id: int | None = None


class RenameIn(_In):
    class_id: int
    name: str = Field(min_length=1, max_length=80)


class MergeIn(_In):
    source_id: int
    target_id: int


class NewClassIn(_In):
    name: str = Field(min_length=1, max_length=80)
    definition: str = Field(default="", max_length=defect_book.MAX_DEFINITION)


class SplitIn(_In):
    class_id: int
    into: list[NewClassIn] = Field(min_length=2, max_length=2)
    note: str = Field(default="", max_length=2000)


def _version(db: DbSession, version: DefectBookVersion) -> VersionOut:
    db.commit()
    return VersionOut.model_validate(version)


@router.get("", response_model=BookOut)
def read(access: InspectorAccess, db: DbSession, since: Annotated[int | None, Query(ge=0)] = None) -> BookOut:
    """Every class with its definition and examples, and the change list (`since`: mark newer ones)."""
    book = defect_book.read_book(db, project=access.project, since=since)
    return BookOut(version=book.version, changes=[ChangeOut(**vars(c)) for c in book.changes], classes=[
        ClassOut(id=e.label_class.id, name=e.label_class.name, hotkey=e.label_class.hotkey,
                 colour=e.label_class.colour, definition=e.label_class.definition, active=e.label_class.is_active,
                 merged_into=e.merged_into,
                 examples=[ExampleOut(**vars(x)) for x in e.examples + e.counter_examples])
        for e in book.classes + book.retired])


@router.get("/class-mapping", response_model=dict[str, int])
def mapping(access: InspectorAccess, db: DbSession) -> dict[str, int]:
    """Retired class id -> the class that now stands for it (merges)."""
    return {str(k): v for k, v in taxonomy.class_mapping(db, access.project.id).items()}


@router.put("/classes/{class_id}/definition", response_model=VersionOut)
def put_definition(class_id: int, body: DefinitionIn, access: ReviewerAccess, db: DbSession) -> VersionOut:
    return _version(db, defect_book.edit_definition(db, project=access.project, class_id=class_id,
                                                    definition=body.definition, seen_version=body.seen_version,
                                                    actor=access.user))


@router.post("/examples", response_model=ExampleOut, status_code=status.HTTP_201_CREATED)
def post_example(body: ExampleIn, access: ReviewerAccess, db: DbSession) -> ExampleOut:
    example = defect_book.add_example(db, project=access.project, class_id=body.label_class_id, image_id=body.image_id,
                                      note=body.note, counter_example=body.counter_example, actor=access.user)
    db.commit()
    image = defect_book.image_of(db, example.image_id)
    return ExampleOut(id=example.id, image_id=example.image_id, file_name=image.file_name, note=example.note,
                      is_counter_example=example.is_counter_example)


@router.delete("/examples/{example_id}", response_model=VersionOut)
def delete_example(example_id: int, access: ReviewerAccess, db: DbSession) -> VersionOut:
    return _version(db, defect_book.remove_example(db, project=access.project, example_id=example_id,
                                                   actor=access.user))


@router.post("/relabel", response_model=dict[str, int])
def relabel(body: RelabelIn, access: ReviewerAccess, db: DbSession) -> dict[str, int]:
    """Send the class's labels given before `version` back to their labelers (optionally only where
    labelers split with `confused_with_id`)."""
    sent = defect_book.send_for_relabel(db, project=access.project, class_id=body.class_id, version=body.version,
                                        confused_with_id=body.confused_with_id, actor=access.user)
    db.commit()
    return {"sent": sent}


@router.post("/taxonomy/rename", response_model=VersionOut)
def rename(body: RenameIn, access: AdminAccess, db: DbSession) -> VersionOut:
    return _version(db, taxonomy.rename_class(db, project=access.project, class_id=body.class_id, name=body.name,
                                              actor=access.user))


@router.post("/taxonomy/merge", response_model=VersionOut)
def merge(body: MergeIn, access: AdminAccess, db: DbSession) -> VersionOut:
    return _version(db, taxonomy.merge_classes(db, project=access.project, source_id=body.source_id,
                                               target_id=body.target_id, actor=access.user))


@router.post("/taxonomy/split", response_model=VersionOut)
def split(body: SplitIn, access: AdminAccess, db: DbSession) -> VersionOut:
    parts = [taxonomy.NewClass(p.name, p.definition) for p in body.into]
    return _version(db, taxonomy.split_class(db, project=access.project, class_id=body.class_id, into=parts,
                                             note=body.note, actor=access.user))


@router.post("/versions/{version}/revert", response_model=VersionOut)
def revert(version: int, access: AdminAccess, db: DbSession) -> VersionOut:
    """Undo one change by a new version."""
    return _version(db, taxonomy.revert_change(db, project=access.project, version=version, actor=access.user))
