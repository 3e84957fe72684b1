"""The conflict queue: worst first, filtered, with a count beside every filter value.

Filters are an allowlist (kind, state, class pair, labeler, and the metadata keys line, camera,
shift, batch); nothing from the query string names a column. A conflict is "about" its image, or
for a near-duplicate group conflict, every image of the group: the `conflict_images` CTE lists
those pairs, and the labeler, class-pair and metadata filters ask EXISTS over it. Facet counts
apply every filter but their own, so each count says how many you would see by choosing it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import CTE, ColumnElement, Select, and_, func, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from app.auth.models import User
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.core.errors import Invalid
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.defect_book import class_mapping
from app.projects.models import LabelClass

META_KEYS = ("line", "camera", "shift", "batch")
ACTIVE_STATES = (ConflictState.open, ConflictState.returned, ConflictState.ambiguous)
PAGE_SIZE = 100


@dataclass(frozen=True)
class QueueFilters:
    state: str | None = ConflictState.open.value  # None: every state
    kind: str | None = None
    pair: tuple[int, int] | None = None  # two class ids, lower first
    labeler: int | None = None
    meta: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> QueueFilters:
        """From query parameters; Invalid for a value outside the allowlist."""
        state = params.get("state", ConflictState.open.value) or None
        if state == "all":
            state = None
        if state is not None and state not in {s.value for s in ConflictState}:
            raise Invalid(f"unknown state {state!r}", field="state")
        kind = params.get("kind") or None
        if kind is not None and kind not in {k.value for k in ConflictKind}:
            raise Invalid(f"unknown conflict kind {kind!r}", field="kind")
        return cls(state=state, kind=kind, pair=_pair(params.get("pair")),
                   labeler=_int(params.get("labeler"), "labeler"),
                   meta=tuple((k, params[k][:100]) for k in META_KEYS if params.get(k)))

    def with_(self, **changes: Any) -> QueueFilters:
        return replace(self, **changes)

    def with_meta(self, key: str, value: str | None) -> QueueFilters:
        kept = tuple((k, v) for k, v in self.meta if k != key)
        return replace(self, meta=kept + (((key, value),) if value is not None else ()))

    def params(self) -> dict[str, str]:
        out = {"state": self.state or "all"}
        if self.kind:
            out["kind"] = self.kind
        if self.pair:
            out["pair"] = f"{self.pair[0]}-{self.pair[1]}"
        if self.labeler is not None:
            out["labeler"] = str(self.labeler)
        out.update(dict(self.meta))
        return out

    def query(self) -> str:
        return urlencode(self.params())


def _int(value: str | None, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise Invalid(f"{name} must be a number", field=name)
    return int(value)


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts[0] == parts[1]:
        raise Invalid("pair must be two different class ids like 3-4", field="pair")
    a, b = sorted(int(p) for p in parts)
    return a, b


def conflict_images(project_id: int) -> CTE:
    """(conflict_id, image_id): an image conflict's image; a group conflict's group images."""
    own = select(Conflict.id.label("conflict_id"), Conflict.image_id.label("image_id")).where(
        Conflict.project_id == project_id, Conflict.image_id.is_not(None))
    grouped = select(Conflict.id, Image.id).join(Image, Image.duplicate_group_id == Conflict.duplicate_group_id).where(
        Conflict.project_id == project_id, Conflict.image_id.is_(None), Image.project_id == project_id)
    return union_all(own, grouped).cte("conflict_images")


class Query:
    """Builds the filtered statements of one project's queue."""

    def __init__(self, db: Session, project_id: int, filters: QueueFilters) -> None:
        self.db, self.project_id, self.filters = db, project_id, filters
        self.links = conflict_images(project_id)
        self.mapping = class_mapping(db, project_id)

    def raw_ids(self, class_id: int) -> list[int]:
        return [class_id, *[s for s, t in self.mapping.items() if t == class_id]]

    def _about(self, *conditions: ColumnElement[bool], annotations: bool = False) -> ColumnElement[bool]:
        links = self.links
        joined = links.join(Annotation, and_(Annotation.image_id == links.c.image_id,
                                             Annotation.superseded_by_id.is_(None))) if annotations else \
            links.join(Image, Image.id == links.c.image_id)
        return select(1).select_from(joined).where(links.c.conflict_id == Conflict.id, *conditions).exists()

    def conditions(self, skip: str | None = None) -> list[ColumnElement[bool]]:
        f = self.filters
        found: list[ColumnElement[bool]] = [Conflict.project_id == self.project_id]
        if f.state and skip != "state":
            found.append(Conflict.state == f.state)
        if f.kind and skip != "kind":
            found.append(Conflict.kind == f.kind)
        if f.labeler is not None and skip != "labeler":
            found.append(self._about(Annotation.labeler_id == f.labeler, annotations=True))
        if f.pair and skip != "pair":
            for class_id in f.pair:
                found.append(self._about(Annotation.label_class_id.in_(self.raw_ids(class_id)), annotations=True))
        for key, value in f.meta:
            if skip != key:
                found.append(self._about(Image.meta[key].as_string() == value))
        return found

    def ordered(self) -> Select[Conflict, Image]:
        return (select(Conflict, Image).outerjoin(Image, Image.id == Conflict.image_id)
                .where(*self.conditions()).order_by(Conflict.severity.desc(), Conflict.id))

    def count(self) -> int:
        return self.db.scalar(select(func.count(Conflict.id)).where(*self.conditions())) or 0

    def extent(self) -> tuple[int, float]:
        """(images the conflicts are about, highest severity)."""
        images = select(func.count(func.distinct(self.links.c.image_id))).join(
            Conflict, Conflict.id == self.links.c.conflict_id).where(*self.conditions())
        top = select(func.max(Conflict.severity)).where(*self.conditions())
        return self.db.scalar(images) or 0, float(self.db.scalar(top) or 0.0)

    def neighbour(self, conflict: Conflict, *, forward: bool) -> int | None:
        s, i = conflict.severity, conflict.id
        order: tuple[Any, Any]
        if forward:
            after = or_(Conflict.severity < s, and_(Conflict.severity == s, Conflict.id > i))
            order = (Conflict.severity.desc(), Conflict.id)
        else:
            after = or_(Conflict.severity > s, and_(Conflict.severity == s, Conflict.id < i))
            order = (Conflict.severity.asc(), Conflict.id.desc())
        return self.db.scalar(select(Conflict.id).where(*self.conditions(), after).order_by(*order).limit(1))


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    active: bool
    href: str


@dataclass
class Facet:
    name: str
    title: str
    values: list[FacetValue] = field(default_factory=list)


def facets(q: Query, base_href: str) -> list[Facet]:
    """Every filter dimension with its values and counts (values with no conflict left out)."""
    f = q.filters

    def href(changed: QueueFilters) -> str:
        return f"{base_href}?{changed.query()}"

    def counted(column: Any, skip: str, *, join_images: bool = False,
                join_answers: bool = False) -> list[tuple[Any, int]]:
        stmt = select(column, func.count(func.distinct(Conflict.id))).select_from(Conflict)
        if join_images or join_answers:
            stmt = stmt.join(q.links, q.links.c.conflict_id == Conflict.id)
        if join_images:
            stmt = stmt.join(Image, Image.id == q.links.c.image_id)
        if join_answers:
            stmt = stmt.join(Annotation, and_(Annotation.image_id == q.links.c.image_id,
                                              Annotation.superseded_by_id.is_(None)))
        return list(q.db.execute(stmt.where(*q.conditions(skip)).group_by(column).order_by(column)).all())

    states = counted(Conflict.state, "state")
    out = [
        Facet("state", "State", [FacetValue(s, s, n, f.state == s, href(f.with_(state=s))) for s, n in states]
              + [FacetValue("all", "all", sum(n for _, n in states), f.state is None, href(f.with_(state=None)))]),
        Facet("kind", "Kind", [FacetValue(k, k.replace("_", " "), n, f.kind == k,
                                          href(f.with_(kind=None if f.kind == k else k)))
                               for k, n in counted(Conflict.kind, "kind")]),
    ]
    out.append(_pair_facet(q, href))
    by_labeler = counted(Annotation.labeler_id, "labeler", join_answers=True)
    names = dict(q.db.execute(select(User.id, User.display_name)
                              .where(User.id.in_([u for u, _ in by_labeler]))).all())
    out.append(Facet("labeler", "Labeler", [
        FacetValue(str(u), names.get(u, f"user {u}"), n, f.labeler == u,
                   href(f.with_(labeler=None if f.labeler == u else u)))
        for u, n in sorted(by_labeler, key=lambda un: names.get(un[0], ""))]))
    current = dict(f.meta)
    for key in META_KEYS:
        values = [(v, n) for v, n in counted(Image.meta[key].as_string(), key, join_images=True) if v is not None]
        out.append(Facet(key, key.capitalize(), [
            FacetValue(v, v, n, current.get(key) == v, href(f.with_meta(key, None if current.get(key) == v else v)))
            for v, n in values]))
    return [facet for facet in out if facet.values]


def _pair_facet(q: Query, href: Any) -> Facet:
    """Class pairs that labelers split between within a conflict (merged classes counted as one)."""
    a1, a2 = aliased(Annotation), aliased(Annotation)
    l1, l2 = q.links.alias("l1"), q.links.alias("l2")
    stmt = (select(Conflict.id, a1.label_class_id, a2.label_class_id).distinct()
            .join(l1, l1.c.conflict_id == Conflict.id).join(l2, l2.c.conflict_id == Conflict.id)
            .join(a1, and_(a1.image_id == l1.c.image_id, a1.superseded_by_id.is_(None)))
            .join(a2, and_(a2.image_id == l2.c.image_id, a2.superseded_by_id.is_(None)))
            .where(a1.label_class_id < a2.label_class_id, *q.conditions("pair")))
    seen: dict[tuple[int, int], set[int]] = {}
    for conflict_id, first, second in q.db.execute(stmt):  # both not null: the < comparison holds
        a, b = int(first), int(second)  # type: ignore[arg-type]
        x, y = sorted((q.mapping.get(a, a), q.mapping.get(b, b)))
        if x != y:
            seen.setdefault((x, y), set()).add(conflict_id)
    names = dict(q.db.execute(select(LabelClass.id, LabelClass.name)
                              .where(LabelClass.project_id == q.project_id)).all())
    ranked = sorted(seen.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    f = q.filters
    return Facet("pair", "Class pair", [
        FacetValue(f"{x}-{y}", f"{names.get(x, x)} / {names.get(y, y)}", len(ids), f.pair == (x, y),
                   href(f.with_(pair=None if f.pair == (x, y) else (x, y))))
        for (x, y), ids in ranked])


@dataclass
class QueueRow:
    rank: int
    conflict: Conflict
    image: Image | None
    images: int  # how many images the conflict is about (a group: all of them)
    classes: list[tuple[LabelClass, int]]  # classes labelers gave (merges applied), with votes
    labelers: int
    cover: Image | None  # the image to show: its own, or a group's first
    also: list[str]  # other active conflict kinds on the same image (settled by the same decision)


@dataclass
class QueuePage:
    filters: QueueFilters
    rows: list[QueueRow]
    total: int
    images: int  # how many images the filtered conflicts are about
    max_severity: float  # of the filtered conflicts: the scale of the severity bars
    offset: int
    limit: int
    facets: list[Facet]


def queue_page(db: Session, *, project_id: int, filters: QueueFilters, base_href: str, offset: int = 0,
               limit: int = PAGE_SIZE) -> QueuePage:
    q = Query(db, project_id, filters)
    found = db.execute(q.ordered().offset(offset).limit(limit)).all()
    ids = [c.id for c, _ in found]
    votes: dict[int, dict[int, int]] = {i: {} for i in ids}
    labelers: dict[int, set[int]] = {i: set() for i in ids}
    sizes: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        stmt = (select(q.links.c.conflict_id, q.links.c.image_id, Annotation.label_class_id, Annotation.labeler_id)
                .outerjoin(Annotation, and_(Annotation.image_id == q.links.c.image_id,
                                            Annotation.superseded_by_id.is_(None)))
                .where(q.links.c.conflict_id.in_(ids)))
        for conflict_id, image_id, class_id, labeler_id in db.execute(stmt):
            sizes[conflict_id].add(image_id)
            if labeler_id is not None:
                labelers[conflict_id].add(labeler_id)
            if class_id is not None:
                class_id = q.mapping.get(class_id, class_id)
                votes[conflict_id][class_id] = votes[conflict_id].get(class_id, 0) + 1
    classes = {c.id: c for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project_id))}
    firsts = {cid: min(found_ids) for cid, found_ids in sizes.items() if found_ids}
    covers = {i.id: i for i in db.scalars(select(Image).where(Image.id.in_(list(firsts.values()))))} if firsts else {}
    also: dict[int, list[tuple[int, str]]] = {}
    image_ids = [image.id for _, image in found if image is not None]
    for image_id, conflict_id, kind in db.execute(select(Conflict.image_id, Conflict.id, Conflict.kind).where(
            Conflict.image_id.in_(image_ids), Conflict.state.in_(ACTIVE_STATES)).order_by(Conflict.severity.desc())):
        also.setdefault(image_id or 0, []).append((conflict_id, kind))  # image_id is set: filtered by it
    rows = [
        QueueRow(rank=offset + n + 1, conflict=c, image=image, images=len(sizes[c.id]),
                 cover=image or covers.get(firsts.get(c.id, -1)),
                 also=[kind for cid, kind in also.get(c.image_id or -1, []) if cid != c.id],
                 classes=[(classes[k], v) for k, v in sorted(votes[c.id].items(), key=lambda kv: -kv[1])
                          if k in classes],
                 labelers=len(labelers[c.id]))
        for n, (c, image) in enumerate(found)
    ]
    images, top = q.extent()
    return QueuePage(filters=filters, rows=rows, total=q.count(), images=images, max_severity=top or 1.0,
                     offset=offset, limit=limit, facets=facets(q, base_href))
