"""The images browser: a project's images filtered and paged by keyset, each with its final label.

Filters are an allowlist (final class, where the final label came from, an open conflict, a labeler
with a live answer, the metadata keys line/camera/shift/batch, a file-name search); nothing from the
query string names a column. Pages are keyset pages in image id order (`after` / `before` an id),
so a page deep into 100k images costs the same as the first and never skips or repeats an image
that arrives meanwhile.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.consistency.models import Conflict, ConflictState
from app.core.errors import Invalid
from app.core.paging import page_after, page_before
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping
from app.projects.models import LabelClass
from app.review.models import FinalLabel, FinalLabelSource

META_KEYS = ("line", "camera", "shift", "batch")
SOURCES = (*(s.value for s in FinalLabelSource), "none")
OPEN = (ConflictState.open, ConflictState.returned)  # undecided: in the queue or waiting for relabels
PAGE_SIZE = 60
MAX_OPTIONS = 200  # metadata values offered per key


@dataclass(frozen=True)
class BrowseFilters:
    label_class: int | None = None  # the final label's class
    source: str | None = None  # unanimous, consensus, review, gold, or none (no final label)
    conflict: bool | None = None  # True: with an open conflict, False: without
    labeler: int | None = None  # has a live answer by this user
    meta: tuple[tuple[str, str], ...] = ()
    name: str = ""  # part of the file name, any case

    @classmethod
    def parse(cls, params: Mapping[str, str | None]) -> BrowseFilters:
        """From query parameters; Invalid (naming the parameter) for a value outside the allowlist."""
        source = params.get("source") or None
        if source is not None and source not in SOURCES:
            raise Invalid(f"source must be one of {', '.join(SOURCES)}", field="source")
        conflict = params.get("conflict") or None
        if conflict is not None and conflict not in ("open", "none"):
            raise Invalid("conflict must be open or none", field="conflict")
        return cls(label_class=_int(params.get("class"), "class"), source=source,
                   conflict=None if conflict is None else conflict == "open",
                   labeler=_int(params.get("labeler"), "labeler"),
                   meta=tuple((k, str(params[k])[:100]) for k in META_KEYS if params.get(k)),
                   name=(params.get("q") or "").strip()[:200])

    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.label_class is not None:
            out["class"] = str(self.label_class)
        if self.source:
            out["source"] = self.source
        if self.conflict is not None:
            out["conflict"] = "open" if self.conflict else "none"
        if self.labeler is not None:
            out["labeler"] = str(self.labeler)
        out.update(dict(self.meta))
        if self.name:
            out["q"] = self.name
        return out

    def query(self) -> str:
        return urlencode(self.params())

    def with_(self, **changes: Any) -> BrowseFilters:
        return replace(self, **changes)

    @property
    def active(self) -> bool:
        return bool(self.params())


def _int(value: str | None, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise Invalid(f"{name} must be a number", field=name)
    return int(value)


def conditions(db: Session, project_id: int, f: BrowseFilters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = [Image.project_id == project_id]
    final = select(FinalLabel.id).where(FinalLabel.image_id == Image.id)
    if f.label_class is not None:
        mapping = class_mapping(db, project_id)
        raw = [f.label_class, *[s for s, t in mapping.items() if t == f.label_class]]
        found.append(final.where(FinalLabel.label_class_id.in_(raw), FinalLabel.is_ambiguous.is_(False)).exists())
    if f.source == "none":
        found.append(~final.exists())
    elif f.source:
        found.append(final.where(FinalLabel.source == f.source).exists())
    if f.conflict is not None:
        disputed = exists().where(Conflict.image_id == Image.id, Conflict.state.in_(OPEN))
        found.append(disputed if f.conflict else ~disputed)
    if f.labeler is not None:
        found.append(exists().where(Annotation.image_id == Image.id, Annotation.labeler_id == f.labeler,
                                    Annotation.superseded_by_id.is_(None)))
    for key, value in f.meta:
        found.append(Image.meta[key].as_string() == value)
    if f.name:
        found.append(func.lower(Image.file_name).contains(f.name.lower(), autoescape=True))
    return found


@dataclass
class Tile:
    image: Image
    final: FinalLabel | None
    label_class: LabelClass | None
    open_conflicts: list[str]  # kinds of the image's open conflicts, worst first
    labels: int  # live answers


@dataclass
class Options:
    classes: list[LabelClass]
    labelers: list[tuple[int, str]]
    meta: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class BrowsePage:
    filters: BrowseFilters
    tiles: list[Tile]
    total: int
    options: Options
    after: int | None  # the id to page on from (the last tile), when there is a next page
    before: int | None  # the id to page back from (the first tile), when there is a previous page


def browse_page(db: Session, *, project_id: int, filters: BrowseFilters, after: int | None = None,
                before: int | None = None, limit: int = PAGE_SIZE) -> BrowsePage:
    """One keyset page: ids above `after` ascending, or the `limit` ids just below `before`."""
    where = conditions(db, project_id, filters)
    query = select(Image).where(*where)
    if before is not None:
        images = list(reversed(db.scalars(page_before(query, Image.id, before, limit)).all()))
    else:
        images = list(db.scalars(page_after(query, Image.id, after, limit)).all())
    tiles = tiles_for(db, project_id, images)

    def more(*extra: ColumnElement[bool]) -> bool:
        return db.scalar(select(Image.id).where(*where, *extra).limit(1)) is not None

    return BrowsePage(
        filters=filters, tiles=tiles, total=db.scalar(select(func.count(Image.id)).where(*where)) or 0,
        options=options(db, project_id),
        after=images[-1].id if images and more(Image.id > images[-1].id) else None,
        before=images[0].id if images and more(Image.id < images[0].id) else None)


def tiles_for(db: Session, project_id: int, images: Sequence[Image]) -> list[Tile]:
    ids = [i.id for i in images]
    if not ids:
        return []
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(ids)))}
    classes = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project_id))}
    disputes: dict[int, list[str]] = {}
    for image_id, kind in db.execute(select(Conflict.image_id, Conflict.kind).where(
            Conflict.image_id.in_(ids), Conflict.state.in_(OPEN)).order_by(Conflict.severity.desc())):
        disputes.setdefault(image_id, []).append(kind)  # type: ignore[arg-type]
    labels = dict(db.execute(select(Annotation.image_id, func.count(Annotation.id)).where(
        Annotation.image_id.in_(ids), Annotation.superseded_by_id.is_(None)).group_by(Annotation.image_id)).all())
    return [Tile(image=i, final=finals.get(i.id),
                 label_class=classes.get(finals[i.id].label_class_id or -1) if i.id in finals else None,
                 open_conflicts=disputes.get(i.id, []), labels=int(labels.get(i.id, 0)))
            for i in images]


def options(db: Session, project_id: int) -> Options:
    """What the filter form offers: the classes, who labeled here, each metadata key's values."""
    classes = list(db.scalars(select(LabelClass).where(LabelClass.project_id == project_id)
                              .order_by(LabelClass.position, LabelClass.id)))
    labeler_ids = select(Annotation.labeler_id).join(Image, Image.id == Annotation.image_id).where(
        Image.project_id == project_id).distinct()
    labelers = [(uid, name) for uid, name in db.execute(
        select(User.id, User.display_name).where(User.id.in_(labeler_ids)).order_by(User.display_name))]
    meta = {}
    for key in META_KEYS:
        column = Image.meta[key].as_string()
        values = db.scalars(select(column).where(Image.project_id == project_id, column.is_not(None)).distinct()
                            .order_by(column).limit(MAX_OPTIONS)).all()
        meta[key] = [str(v) for v in values]
    return Options(classes=classes, labelers=labelers, meta={k: v for k, v in meta.items() if v})


def neighbours(db: Session, *, project_id: int, filters: BrowseFilters, image_id: int) -> tuple[int | None, int | None]:
    """(previous, next) image id around `image_id` among the filtered images."""
    where = conditions(db, project_id, filters)
    prev = db.scalar(select(Image.id).where(*where, Image.id < image_id).order_by(Image.id.desc()).limit(1))
    nxt = db.scalar(select(Image.id).where(*where, Image.id > image_id).order_by(Image.id).limit(1))
    return prev, nxt
