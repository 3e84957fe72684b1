"""Imports of other tools' labels (Label Studio, COCO) with their images: all or nothing.

The file's shape (the pure parsers), every class name and every image reference (inside the images
root only) are checked before anything is written. Each image is then verified and its file written
under its content key; a refused image stops the import. Rows go into the caller's one transaction:
the caller commits, or rolls back and calls `discard`, which also removes the files written (no
partial import).

Imported answers keep their author (see app/images/import_accounts.py for who that may be), their
time and duration, and an idempotency key that says what the answer is (app/images/import_answers.py).
An import that would store fewer answers than its file holds, because some are in the project already,
is refused whole (`KnownAnswers`, saying how many) unless the admin asked to skip those
(`skip_existing`); the report then counts them. Each image's `slots_taken` counts its imported
answers, so the queue only asks for the labels still missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core import audit
from app.core.config import Settings
from app.core.errors import Conflict, Invalid
from app.core.storage import Storage
from app.images import bulk, import_accounts, import_answers, service
from app.images import metadata as metadata_rows
from app.images.import_accounts import Accounts
from app.images.importers.coco import CocoSet
from app.images.importers.labelstudio import Parsed
from app.images.importers.paths import ImagesRoot
from app.images.ingest import Refusal
from app.images.models import Image, UploadBatch
from app.projects.models import Project
from app.projects.service import ClassSpec, add_class, classes_of

Progress = Callable[[int, int, str], None]


def _no_progress(done: int, total: int, message: str) -> None:
    pass


class KnownAnswers(Conflict):
    """Some answers of the file are in the project already: storing the rest would import fewer
    answers than the file holds, which is done only when the admin asks (`skip_existing`)."""


@dataclass
class ImportReport:
    batch_id: int | None = None
    images: int = 0
    images_new: int = 0
    images_existing: int = 0
    answers_in_file: int = 0  # people's answers the file holds (cancelled ones are not answers)
    annotations: int = 0  # stored now
    annotations_existing: int = 0  # in the project already: skipped (skip_existing) or the import refused
    annotations_as_history: int = 0  # stored beneath the labeler's newer live answer of the image
    boxes: int = 0
    users_created: list[str] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)  # every account answers went to, and how
    accounts_unused_mappings: list[str] = field(default_factory=list)
    memberships_created: list[dict[str, Any]] = field(default_factory=list)
    classes_created: list[str] = field(default_factory=list)
    gold: int = 0
    ignored_results: int = 0
    cancelled: int = 0
    predictions_ignored: int = 0
    written_keys: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "written_keys"}
        return out


@dataclass(frozen=True)
class Entry:
    """One image of the import with its answers: dicts of `kind` (ls, coco), `source` (the author as
    the file names them), `where`, email, user id, name, class, boxes [(box, class, where)],
    `legacy_key` (the key of imports made before content keys), created_at, duration ms."""

    reference: str
    field: str
    meta: dict[str, Any]
    answers: list[dict[str, Any]]


@dataclass
class Context:
    db: Session
    storage: Storage
    settings: Settings
    project: Project
    actor: User | None
    progress: Progress
    workers: int
    report: ImportReport = field(default_factory=ImportReport)
    accounts: Accounts = field(default_factory=Accounts)
    skip_existing: bool = False


def import_labelstudio(
    db: Session,
    *,
    storage: Storage,
    settings: Settings,
    project: Project,
    parsed: Parsed,
    root: ImagesRoot,
    actor: User | None = None,
    metadata: dict[str, dict[str, Any]] | None = None,
    gold: Sequence[dict[str, Any]] | None = None,
    create_classes: bool = False,
    accounts: Accounts | None = None,
    skip_existing: bool = False,
    workers: int = 1,
    progress: Progress = _no_progress,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import a parsed Label Studio export (flushes, never commits). Raises Invalid naming the field,
    KnownAnswers (see the module); pass your own `report` to learn which files were written when it
    does (see `discard`)."""
    entries = []
    for i, task in enumerate(parsed.tasks):
        answers = [
            {
                "kind": "ls",
                "source": a.email or str(a.user_id),
                "where": f"{a.where}.completed_by",
                "email": a.email,
                "user_id": a.user_id,
                "name": a.display_name,
                "class": a.choice,
                "boxes": [(b, b.label, f"tasks[{i}].annotations") for b in a.boxes],
                "legacy_key": f"ls:{task.task_id}:{a.source_id}"[:64],
                "created_at": a.created_at,
                "duration_ms": round(a.lead_time_s * 1000) if a.lead_time_s is not None else None,
            }
            for a in task.answers
        ]
        entries.append(Entry(reference=task.image, field=f"tasks[{i}].data", meta=dict(task.meta), answers=answers))
    ctx = Context(db, storage, settings, project, actor, progress, workers, report or ImportReport(),
                  accounts or Accounts(), skip_existing)
    ctx.report.ignored_results, ctx.report.cancelled = parsed.ignored_results, parsed.cancelled
    ctx.report.predictions_ignored = parsed.predictions
    return _run(
        ctx,
        entries,
        root=root,
        metadata=metadata,
        gold=gold,
        create_classes=create_classes,
        source="labelstudio",
        percent=True,
    )


def import_coco(
    db: Session,
    *,
    storage: Storage,
    settings: Settings,
    project: Project,
    coco: CocoSet,
    root: ImagesRoot,
    labeler_email: str,
    actor: User | None = None,
    metadata: dict[str, dict[str, Any]] | None = None,
    create_classes: bool = False,
    skip_existing: bool = False,
    workers: int = 1,
    progress: Progress = _no_progress,
    report: ImportReport | None = None,
) -> ImportReport:
    """Import a COCO detection file as the answers of the labeler the admin names (an existing account
    of that email receives them: the admin named it). The image class is `image_labels`' entry when
    the file has one, else the class of the largest box, else the project's OK class."""
    entries = []
    email = labeler_email.strip().lower()
    for i, image in enumerate(coco.images):
        answer = {
            "kind": "coco",
            "source": email,
            "where": "labeler",
            "explicit": True,
            "email": email,
            "user_id": None,
            "name": labeler_email,
            "class": image.label,
            "boxes": [(b, b.category, f"images[{i}]") for b in image.boxes],
            "legacy_key": f"coco:{image.coco_id}",
            "created_at": None,
            "duration_ms": None,
            "derive_class": image.label is None,
        }
        entries.append(Entry(reference=image.file_name, field=f"images[{i}].file_name", meta={}, answers=[answer]))
    ctx = Context(db, storage, settings, project, actor, progress, workers, report or ImportReport(),
                  Accounts(), skip_existing)
    return _run(
        ctx,
        entries,
        root=root,
        metadata=metadata,
        gold=None,
        create_classes=create_classes,
        source="coco",
        percent=False,
    )


def _run(
    ctx: Context,
    entries: list[Entry],
    *,
    root: ImagesRoot,
    metadata: dict[str, dict[str, Any]] | None,
    gold: Sequence[dict[str, Any]] | None,
    create_classes: bool,
    source: str,
    percent: bool,
) -> ImportReport:
    class_ids = _class_ids(ctx, entries, gold, create_classes)
    paths = [root.resolve(e.reference, field=e.field) for e in entries]
    relative = {path: path.relative_to(root.root).as_posix() for path in paths}
    assigned = metadata_rows.assign(metadata or {}, relative.values())
    meta_by_path = {path: assigned.get(name, {}) for path, name in relative.items()}
    images = _store_images(ctx, entries, paths, meta_by_path, source)
    users = import_accounts.authors(ctx, entries, ctx.accounts)
    ctx.report.answers_in_file = sum(len(entry.answers) for entry in entries)
    import_answers.add_annotations(ctx, entries, images, users, class_ids, percent=percent)
    _refuse_a_partial_import(ctx.report, skip=ctx.skip_existing)
    if gold:
        import_answers.mark_gold(ctx, gold, entries, images, class_ids)
    audit.record(
        ctx.db,
        action=f"import.{source}",
        actor_id=ctx.actor.id if ctx.actor else None,
        project_id=ctx.project.id,
        object_type="upload_batch",
        object_id=ctx.report.batch_id,
        data=ctx.report.as_json(),
    )
    return ctx.report


def _refuse_a_partial_import(report: ImportReport, *, skip: bool) -> None:
    known, total = report.annotations_existing, report.answers_in_file
    if known and not skip:
        raise KnownAnswers(
            f"{known} of the {total} answers in this file are in this project already (imported before); "
            f"nothing was imported. Pass --skip-existing to import only the other {total - known}.",
            detail={"answers_in_file": total, "annotations_existing": known},
        )


def _class_ids(
    ctx: Context, entries: list[Entry], gold: Sequence[dict[str, Any]] | None, create: bool
) -> dict[str, int]:
    """Class name -> id; an unknown name is Invalid (naming where it occurs) unless `create`."""
    existing = {c.name: c.id for c in classes_of(ctx.db, ctx.project.id)}
    folded = {name.casefold(): class_id for name, class_id in existing.items()}
    wanted: dict[str, str] = {}
    for entry in entries:
        for answer in entry.answers:
            if answer["class"] is not None:
                wanted.setdefault(answer["class"], entry.field.replace(".data", ".annotations"))
            for _box, label, where in answer["boxes"]:
                wanted.setdefault(label, where)
    for i, item in enumerate(gold or []):
        if isinstance(item, dict) and isinstance(item.get("class"), str):
            wanted.setdefault(item["class"], f"gold[{i}].class")
    out: dict[str, int] = {}
    position = len(existing)
    for name, where in wanted.items():
        found = existing.get(name, folded.get(name.casefold()))
        if found is None and create:
            label_class = add_class(ctx.db, project=ctx.project, spec=ClassSpec(name=name), position=position)
            ctx.db.flush()
            found, position = label_class.id, position + 1
            ctx.report.classes_created.append(name)
        if found is None:
            raise Invalid(
                f"{where}: the class {name!r} is not a class of this project "
                f"({', '.join(existing) or 'none'}); add it first or pass --create-classes",
                field=where,
            )
        out[name] = found
    return out


def _store_images(
    ctx: Context, entries: list[Entry], paths: list[Any], metadata: dict[Any, dict[str, Any]], source: str
) -> list[Image]:
    """Verify every distinct file (in worker processes), write it, then add the rows."""
    batch = service.start_batch(
        ctx.db, project=ctx.project, name=f"{source} import of {len(entries)} images", source=source, creator=ctx.actor
    )
    ctx.report.batch_id = batch.id
    distinct = list(dict.fromkeys(paths))
    limits = service.limits_of(ctx.settings)
    sources = [bulk.Source(path=p, file_name=p.name) for p in distinct]
    prepared_by_path: dict[Any, Any] = {}
    for n, (path, item) in enumerate(
        zip(distinct, bulk.prepare_many(sources, limits=limits, workers=ctx.workers), strict=True), start=1
    ):
        if isinstance(item, Refusal):
            where = entries[paths.index(path)].field
            raise Invalid(f"{where}: the image {path.name} was refused: {item.reason}", field=where)
        key, thumb_key = service.storage_keys(ctx.project.id, item.sha256, item.format)
        ctx.report.written_keys += [key, thumb_key]
        prepared_by_path[path] = bulk.write_files(ctx.storage, project_id=ctx.project.id, prepared=item)
        ctx.progress(n, len(distinct), "images")
    return _image_rows(ctx, entries, paths, prepared_by_path, metadata, batch)


def _image_rows(
    ctx: Context,
    entries: list[Entry],
    paths: list[Any],
    prepared_by_path: dict[Any, Any],
    metadata: dict[Any, dict[str, Any]],
    batch: UploadBatch,
) -> list[Image]:
    images: list[Image] = []
    seen: dict[str, Image] = {}
    for entry, path in zip(entries, paths, strict=True):
        prepared = prepared_by_path[path]
        if prepared.sha256 in seen:
            images.append(seen[prepared.sha256])
            continue
        meta = {**entry.meta, **metadata[path]}
        result = service.store_prepared(
            ctx.db,
            storage=ctx.storage,
            project=ctx.project,
            batch=batch,
            prepared=replace(prepared, meta=meta),
            files_written=True,
        )
        if result.image is None:
            raise Invalid(f"{entry.field}: the image could not be stored: {result.reason}", field=entry.field)
        if result.status == service.IngestStatus.stored:
            ctx.report.images_new += 1
        else:
            ctx.report.images_existing += 1
        seen[prepared.sha256] = result.image
        images.append(result.image)
    ctx.report.images = len(seen)
    if ctx.report.images_new:
        service.images_added(ctx.db, project_id=ctx.project.id)
    batch.stats = {"stored": ctx.report.images_new, "duplicate": ctx.report.images_existing, "refused": 0}
    return images


def discard(db: Session, storage: Storage, report: ImportReport) -> None:
    """After a failed import: roll back and remove the files no committed row refers to."""
    db.rollback()
    service.discard_unreferenced(db, storage, report.written_keys)
