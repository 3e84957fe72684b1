"""The answers export: every labeler's raw answers with who gave them, for an audit or a study of the
labelers outside Concord, of a whole project or of one dataset version's images.

A zip, streamed as it is written (flat memory, first bytes at once):
- `answers.csv`, long: one row per box of an answer, or one row for an answer without boxes. Columns:
  answer_id, image_id, image (its name in Concord's exports), file_name (as uploaded), split (of the
  version, when one was chosen), labeler (e-mail, or a pseudonym), labeler_name, class (the answer's
  image class), box_class, x, y, w, h (pixels, top-left corner), seconds (time taken, when recorded),
  created_at, state (`live`, or `superseded` by a later answer of the same labeler: `superseded_by`),
  unsure, comment, source (web, api, import).
- `tasks.json`, Label Studio JSON: a task per image holding each labeler's live answer as an
  annotation with `completed_by` (id, e-mail and name) and `lead_time`. Label Studio maps
  `completed_by.email` to its own users: create accounts with those e-mails first, or it refuses the
  file. Images are named as in the Label Studio export (local files under the chosen root, or a URL).
- `labelstudio/config.xml`, the labeling config; `README.txt`.

With `pseudonyms`, labelers are "labeler 1", ... (in user id order) and their e-mails
`labeler-1@concord.invalid`; names are left out.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.core import audit
from app.core.paging import keyset
from app.datasets.formats import labelstudio
from app.datasets.formats._cells import cell
from app.datasets.models import DatasetItem, DatasetVersion
from app.datasets.names import NameBook, merged, safe_name
from app.datasets.schemas import AnswersIn, ExportFormat, ExportOptions
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass, Project

DATE = (1980, 1, 1, 0, 0, 0)
PAGE = 500
HEADER = ["answer_id", "image_id", "image", "file_name", "split", "labeler", "labeler_name", "class", "box_class",
          "x", "y", "w", "h", "seconds", "created_at", "state", "superseded_by", "unsure", "comment", "source"]


@dataclass
class Scope:
    """What an answers export covers, fixed when it starts."""

    project: Project
    version: DatasetVersion | None = None
    pseudonyms: bool = False
    options: ExportOptions = field(default_factory=ExportOptions)

    @property
    def filename(self) -> str:
        stem = safe_name(self.project.name, "PNG")[0]
        return f"{stem}{f'-v{self.version.number}' if self.version else ''}-answers.zip"


class _Sink:
    """Where zipfile writes; `drain()` hands over what it wrote so far (zipfile sees no tell/seek and
    writes data descriptors, so nothing is ever patched afterwards)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def scope_of(db: Session, project: Project, spec: AnswersIn) -> Scope:
    """What `spec` asks for in `project`; NotFound for another project's version."""
    from app.datasets.service import get_version

    version = get_version(db, project.id, spec.version_id) if spec.version_id is not None else None
    return Scope(project=project, version=version, pseudonyms=spec.pseudonyms, options=spec.options())


def record(db: Session, scope: Scope, user_id: int | None) -> None:
    """The audit trail names who took the answers (with labelers' e-mails: personal data) and which."""
    audit.record(db, action="answers.exported", actor_id=user_id, project_id=scope.project.id,
                 object_type="project", object_id=scope.project.id,
                 data={"version_id": scope.version.id if scope.version else None, "pseudonyms": scope.pseudonyms})


def count(db: Session, scope: Scope) -> int:
    """How many answers the export holds (for a progress bar)."""
    return db.scalar(select(func.count()).select_from(_answers(scope).subquery())) or 0


def stream(db: Session, scope: Scope, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The zip's bytes, piece by piece. `db` must stay open (and unchanged) until the stream ends."""
    sink = _Sink()
    classes = {c.id: c.name for c in db.scalars(select(LabelClass).where(LabelClass.project_id == scope.project.id)
                                                .order_by(LabelClass.position, LabelClass.id))}
    people = _People(db, scope.pseudonyms)
    with NameBook() as book, zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # type: ignore[call-overload]
        _add(zf, "README.txt", _readme(scope))
        _add(zf, "labelstudio/config.xml", labelstudio.labeling_config(list(classes.values())))
        yield sink.drain()
        for image_id, split, file_name, fmt in keyset(db, _images(scope), Image.id):
            book.add(image_id, split or "", file_name, fmt)
        book.resolve()
        with zf.open(_info("answers.csv"), "w", force_zip64=True) as entry:
            for chunk in _csv(db, scope, book, classes, people, progress):
                entry.write(chunk)
                yield sink.drain()
        with zf.open(_info("tasks.json"), "w", force_zip64=True) as entry:
            for chunk in _tasks(db, scope, book, classes, people):
                entry.write(chunk)
                yield sink.drain()
    yield sink.drain()


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    return info


def _add(zf: zipfile.ZipFile, name: str, text: str) -> None:
    zf.writestr(_info(name), text.encode("utf-8"))


def _images(scope: Scope) -> Any:
    if scope.version is None:
        return select(Image.id, Image.split, Image.file_name, Image.format).where(Image.project_id == scope.project.id)
    return (select(Image.id, DatasetItem.split, Image.file_name, Image.format)
            .join(DatasetItem, DatasetItem.image_id == Image.id).where(DatasetItem.version_id == scope.version.id))


def _answers(scope: Scope) -> Select[Any]:
    stmt = (select(Annotation.id, Annotation.image_id, Annotation.labeler_id, Annotation.label_class_id,
                   Annotation.boxes, Annotation.duration_ms, Annotation.created_at, Annotation.superseded_by_id,
                   Annotation.unsure, Annotation.comment, Annotation.source, Image.file_name, Image.format)
            .join(Image, Image.id == Annotation.image_id).where(Image.project_id == scope.project.id))
    if scope.version is not None:
        stmt = stmt.where(Annotation.image_id.in_(select(DatasetItem.image_id)
                                                  .where(DatasetItem.version_id == scope.version.id)))
    return stmt


class _People:
    """Labelers as the export names them: (id, e-mail, name), real or pseudonymous."""

    def __init__(self, db: Session, pseudonyms: bool) -> None:
        self.db, self.pseudonyms = db, pseudonyms
        self.known: dict[int, tuple[int, str, str]] = {}

    def __call__(self, user_id: int) -> tuple[int, str, str]:
        if user_id not in self.known:
            if self.pseudonyms:
                n = len(self.known) + 1
                self.known[user_id] = (n, f"labeler-{n}@concord.invalid", f"labeler {n}")
            else:
                user = self.db.get(User, user_id)
                self.known[user_id] = (user_id, user.email if user else "", user.display_name if user else "")
        return self.known[user_id]


def _name(stems: Any, image_id: int, file_name: str, fmt: str) -> str:
    stem, ext = safe_name(file_name, fmt)
    return f"{stems.get(image_id) or stem}.{ext}"


def _splits(db: Session, scope: Scope, ids: list[int]) -> dict[int, str]:
    if scope.version is None:
        return {}
    return dict(db.execute(select(DatasetItem.image_id, DatasetItem.split).where(
        DatasetItem.version_id == scope.version.id, DatasetItem.image_id.in_(ids))).all())


def _csv(db: Session, scope: Scope, book: NameBook, classes: dict[int, str], people: _People,
         progress: Callable[[int], None] | None) -> Iterator[bytes]:
    if scope.pseudonyms:  # number the labelers in user id order, whatever order their answers come in
        for (user_id,) in db.execute(select(Annotation.labeler_id).where(Annotation.id.in_(
                select(_answers(scope).subquery().c.id))).distinct().order_by(Annotation.labeler_id)):
            people(user_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    page: list[Any] = []
    for row in keyset(db, _answers(scope), Annotation.id, page=PAGE):
        page.append(row)
        if len(page) == PAGE:
            yield _csv_page(db, scope, book, classes, people, page, writer, buffer)
            if progress is not None:
                progress(len(page))
            page = []
    yield _csv_page(db, scope, book, classes, people, page, writer, buffer)
    if progress is not None:
        progress(len(page))


def _csv_page(db: Session, scope: Scope, book: NameBook, classes: dict[int, str], people: _People, page: list[Any],
              writer: Any, buffer: io.StringIO) -> bytes:
    splits = _splits(db, scope, sorted({r.image_id for r in page}))
    for r in page:
        _, email, name = people(r.labeler_id)
        stem, ext = safe_name(r.file_name, r.format)
        image = f"{book.stem_of(r.image_id) or stem}.{ext}"
        head = [r.id, r.image_id, cell(image), cell(r.file_name), splits.get(r.image_id, ""), cell(email), cell(name),
                cell(classes.get(r.label_class_id))]
        tail = ["" if r.duration_ms is None else round(r.duration_ms / 1000, 3), _iso(r.created_at),
                "live" if r.superseded_by_id is None else "superseded", r.superseded_by_id or "", int(r.unsure),
                cell(r.comment), r.source]
        if not r.boxes:
            writer.writerow([*head, "", "", "", "", "", *tail])
        for box in r.boxes or []:
            writer.writerow([*head, cell(classes.get(box.get("class_id"))), box.get("x"), box.get("y"), box.get("w"),
                             box.get("h"), *tail])
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def _tasks(db: Session, scope: Scope, book: NameBook, classes: dict[int, str], people: _People) -> Iterator[bytes]:
    images = (select(Image.id, Image.file_name, Image.format, Image.width, Image.height, Image.meta)
              .where(Image.id.in_(select(_images(scope).subquery().c.id))))
    stems = merged(book.renamed())
    options = scope.options.stored(ExportFormat.labelstudio)
    first = True
    yield b"["
    rows = iter(keyset(db, images, Image.id, page=PAGE))
    while True:
        page = [row for _, row in zip(range(PAGE), rows, strict=False)]
        if not page:
            break
        answers = _live_answers(db, [r.id for r in page])
        splits = _splits(db, scope, [r.id for r in page])
        out = []
        for r in page:
            if r.id not in answers:
                continue  # nobody answered it (yet)
            image = labelstudio.reference(options, _name(stems, r.id, r.file_name, r.format))
            task = {"id": r.id, "data": labelstudio.task_data(image, splits.get(r.id), r.id, r.file_name, r.meta or {}),
                    "annotations": [_annotation(a, r, classes, people) for a in answers.get(r.id, [])],
                    "predictions": []}
            out.append(("\n" if first else ",\n") + json.dumps(task, ensure_ascii=False, separators=(",", ":")))
            first = False
        yield "".join(out).encode("utf-8")
    yield b"\n]\n"


def _live_answers(db: Session, image_ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    for a in db.execute(select(Annotation.id, Annotation.image_id, Annotation.labeler_id, Annotation.label_class_id,
                               Annotation.boxes, Annotation.duration_ms, Annotation.created_at)
                        .where(Annotation.image_id.in_(image_ids), Annotation.superseded_by_id.is_(None))
                        .order_by(Annotation.image_id, Annotation.labeler_id)):
        found.setdefault(a.image_id, []).append(a)
    return found


def _annotation(a: Any, image: Any, classes: dict[int, str], people: _People) -> dict[str, Any]:
    user_id, email, name = people(a.labeler_id)
    first, _, last = name.partition(" ")
    boxes = [b for b in a.boxes or [] if b.get("class_id") in classes]
    created = _iso(a.created_at)
    return {"id": a.id, "completed_by": {"id": user_id, "email": email, "first_name": first, "last_name": last},
            "result": labelstudio.results(str(a.id), classes.get(a.label_class_id), boxes, image.width, image.height,
                                          classes),
            "was_cancelled": False, "ground_truth": False, "created_at": created, "updated_at": created,
            "lead_time": None if a.duration_ms is None else round(a.duration_ms / 1000, 3), "task": image.id}


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def _readme(scope: Scope) -> str:
    what = f"version {scope.version.number} ({scope.version.name})" if scope.version else "the whole project"
    return (f"Concord answers export\n\nProject: {' '.join(scope.project.name.split())}\nScope: {what}\n"
            f"Labelers: {'pseudonyms' if scope.pseudonyms else 'e-mail addresses and names'}\n\n"
            f"{(__doc__ or '').strip()}\n")
