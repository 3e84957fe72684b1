"""What the dataset pages show (one dataclass per page) and how the freeze form becomes a FreezeIn."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.errors import Invalid
from app.core.storage import Storage
from app.datasets import service
from app.datasets.datasheet import describe_filter
from app.datasets.diff import VersionDiff
from app.datasets.jobs import export_status
from app.datasets.models import DatasetVersion
from app.datasets.schemas import (
    FORMAT_TITLES,
    IMAGE_SOURCE_TITLES,
    ExportFormat,
    ExportOptions,
    ExportStatus,
    FreezeIn,
)
from app.datasets.splits import SPLITS
from app.images.models import Image
from app.projects.models import LabelClass, Project
from app.projects.navigation import NavLink
from app.projects.service import classes_of

HINT_IMAGES = 2000  # recent images read for metadata slice hints
HINT_VALUES = 12


class FreezeForm(BaseModel):
    """The freeze form as posted (checkboxes are absent when unticked)."""

    name: str = ""
    description: str = ""
    exclude_ambiguous: bool = False
    exclude_unresolved: bool = False
    exclude_box_disputes: bool = False
    include_augmented: bool = False
    min_confidence: str = ""
    class_ids: list[int] = []
    slices: str = ""
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    seed: int = 0

    def to_spec(self) -> FreezeIn:
        """Raises Invalid naming the field at fault."""
        try:
            confidence = float(self.min_confidence) if self.min_confidence.strip() else None
        except ValueError as exc:
            raise Invalid("the minimum confidence is a number from 0 to 1", field="min_confidence") from exc
        try:
            return FreezeIn.model_validate({
                "name": self.name, "description": self.description,
                "filter": {"exclude_ambiguous": self.exclude_ambiguous, "exclude_unresolved": self.exclude_unresolved,
                           "exclude_box_disputes": self.exclude_box_disputes,
                           "include_augmented": self.include_augmented, "min_confidence": confidence,
                           "class_ids": self.class_ids or None, "slices": parse_slices(self.slices)},
                "split": {"train": self.train, "val": self.val, "test": self.test, "seed": self.seed},
            })
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Invalid(f"{where}: {first['msg']}", field=where) from exc


def parse_slices(text: str) -> dict[str, list[str]]:
    """`line=L1,L2` per line (or separated by `;`) → {"line": ["L1", "L2"]}."""
    slices: dict[str, list[str]] = {}
    for part in text.replace(";", "\n").splitlines():
        if not part.strip():
            continue
        key, sep, values = part.partition("=")
        if not sep or not key.strip():
            raise Invalid(f"write each slice as key=value1,value2 (got {part.strip()!r})", field="slices")
        slices.setdefault(key.strip(), []).extend(v.strip() for v in values.split(","))
    return slices


@dataclass
class VersionRow:
    version: DatasetVersion
    parent_number: int | None
    same_as: int | None  # an older version with the same content hash

    @property
    def splits(self) -> dict[str, int]:
        return {s: self.version.counts.get("splits", {}).get(s, 0) for s in SPLITS}


@dataclass
class DatasetsPage:
    project: Project
    sections: list[NavLink]
    versions: list[VersionRow]
    classes: Sequence[LabelClass]
    slice_hints: dict[str, list[str]]
    form: FreezeForm
    error: str | None = None
    error_field: str | None = None
    image_sources: list[tuple[str, str]] = field(default_factory=lambda: [
        (k.value, t) for k, t in IMAGE_SOURCE_TITLES.items()])


@dataclass
class ExportCell:
    format: str
    title: str
    include_images: bool
    status: ExportStatus
    status_url: str
    post_url: str

    @property
    def size_text(self) -> str:
        size = self.status.export.size_bytes if self.status.export else 0
        return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{max(1, round(size / 1024)):,} KB"


@dataclass
class ClassRow:
    name: str
    colour: str
    images: int
    boxes: int
    splits: dict[str, int]


@dataclass
class VersionPage:
    project: Project
    sections: list[NavLink]
    version: DatasetVersion
    parent: DatasetVersion | None
    creator: str | None
    classes: list[ClassRow]
    exports: list[ExportCell]
    sheet: dict[str, Any]
    rules: list[str]  # the filter and split in words
    others: list[DatasetVersion] = field(default_factory=list)  # to diff against
    image_sources: list[tuple[str, str]] = field(default_factory=list)  # Label Studio: (value, title)
    labelstudio: dict[str, Any] = field(default_factory=dict)  # the options the form starts from


@dataclass
class DiffPage:
    project: Project
    sections: list[NavLink]
    before: DatasetVersion
    after: DatasetVersion
    diff: VersionDiff
    versions: Sequence[DatasetVersion]
    rules_before: list[str]
    rules_after: list[str]

    def total(self, kind: str) -> int:
        return int(getattr(self.diff, kind))


def datasets_page(db: Session, project: Project, sections: list[NavLink], form: FreezeForm | None = None,
                  ) -> DatasetsPage:
    versions = service.list_versions(db, project.id)
    numbers = {v.id: v.number for v in versions}
    first_by_hash: dict[str, int] = {}
    for v in sorted(versions, key=lambda v: v.number):
        first_by_hash.setdefault(v.content_hash, v.number)
    rows = [VersionRow(v, numbers.get(v.parent_id) if v.parent_id else None,
                       first_by_hash[v.content_hash] if first_by_hash[v.content_hash] != v.number else None)
            for v in versions]
    if form is None:
        form = FreezeForm(name=f"v{(versions[0].number + 1) if versions else 1}", exclude_ambiguous=True,
                          exclude_unresolved=True, exclude_box_disputes=True)
    return DatasetsPage(project=project, sections=sections, versions=rows, classes=classes_of(db, project.id),
                        slice_hints=_slice_hints(db, project.id), form=form)


def _slice_hints(db: Session, project_id: int) -> dict[str, list[str]]:
    """Metadata keys and values seen on the most recent images (a hint for the slice filter)."""
    metas = db.scalars(select(Image.meta).where(Image.project_id == project_id)
                       .order_by(Image.id.desc()).limit(HINT_IMAGES)).all()
    hints: dict[str, set[str]] = {}
    for meta in metas:
        for key, value in (meta or {}).items():
            if isinstance(value, str | int | float | bool) and len(hints.setdefault(key, set())) <= HINT_VALUES:
                hints[key].add(str(value))
    return {k: sorted(v) for k, v in sorted(hints.items()) if len(v) <= HINT_VALUES}


def version_page(db: Session, storage: Storage, project: Project, sections: list[NavLink],
                 version: DatasetVersion) -> VersionPage:
    base = f"/projects/{project.id}/datasets/{version.id}/exports"
    cells = []
    for fmt in ExportFormat:
        for images in (False, True):
            status = export_status(db, storage=storage, version=version, fmt=fmt, include_images=images)
            cells.append(ExportCell(format=fmt.value, title=FORMAT_TITLES[fmt], include_images=images, status=status,
                                    status_url=f"/api/v1{base}/{fmt.value}?include_images={int(images)}",
                                    post_url=base))
    per_class = version.counts.get("classes", {})
    colours = {c["name"]: c.get("colour", "#888888") for c in version.datasheet.get("classes", [])}
    order = [c["name"] for c in version.datasheet.get("classes", [])] + sorted(set(per_class) - set(colours))
    rows = [ClassRow(name=n, colour=colours.get(n, "#888888"), images=per_class[n]["images"],
                     boxes=per_class[n]["boxes"], splits={s: per_class[n][s] for s in SPLITS})
            for n in order if n in per_class]
    parent = db.get(DatasetVersion, version.parent_id) if version.parent_id else None
    creator = db.get(User, version.created_by_id) if version.created_by_id else None
    others = [v for v in service.list_versions(db, project.id) if v.id != version.id]
    names = {c["id"]: c["name"] for c in version.datasheet.get("classes", [])}
    made = [c.status.export.options for c in cells if c.format == ExportFormat.labelstudio and c.status.export]
    return VersionPage(project=project, sections=sections, version=version, parent=parent,
                       creator=creator.display_name if creator else None, classes=rows, exports=cells,
                       sheet=version.datasheet, rules=describe_filter(version.filter, version.split_spec, names),
                       others=others, image_sources=[(k.value, t) for k, t in IMAGE_SOURCE_TITLES.items()],
                       labelstudio=made[0] if made else ExportOptions().model_dump(mode="json"))


def diff_page(db: Session, project: Project, sections: list[NavLink], *, before_id: int, after_id: int) -> DiffPage:
    diff = service.diff(db, project.id, before_id=before_id, after_id=after_id)
    before, after = service.get_version(db, project.id, before_id), service.get_version(db, project.id, after_id)

    def rules(version: DatasetVersion) -> list[str]:
        names = {c["id"]: c["name"] for c in version.datasheet.get("classes", [])}
        return describe_filter(version.filter, version.split_spec, names)

    return DiffPage(project=project, sections=sections, before=before, after=after, diff=diff,
                    versions=service.list_versions(db, project.id), rules_before=rules(before),
                    rules_after=rules(after))
