"""`concord import images | labelstudio | coco`: bring images and other tools' labels into a project.

Machine output (a JSON summary) goes to stdout, the progress bar to stderr.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer

from app.cli import _common
from app.core.errors import ConcordError
from app.core.storage import make_storage
from app.images import bulk, imports, service, uploads
from app.images import metadata as metadata_rows
from app.images.import_accounts import Accounts, read_mapping
from app.images.importers import coco as coco_parser
from app.images.importers import labelstudio
from app.images.importers.jsonfile import read_json
from app.images.importers.paths import ImagesRoot
from app.images.validation import FORMATS

import_app = typer.Typer(help="Import images, Label Studio exports and COCO files.", no_args_is_help=True)
CHUNK = 64
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def read_metadata(path: Path | None) -> dict[str, dict[str, Any]]:
    """metadata.csv: a `file_name` column (or `image`: the path under the folder, or a bare name only one
    file has) and any others (line, camera, shift, batch...); a file named twice stops the import."""
    if path is None:
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        _common.fail(f"cannot read {path}: {exc}")
    out: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        name = metadata_rows.normalize(row.get("file_name") or row.get("image") or "")
        if not name:
            _common.fail(f"{path.name} line {n}: no file_name (the first column must name the image file)")
        if name in out:
            _common.fail(f"{path.name} line {n}: {name} is described on line {lines[name]} already; keep one row")
        meta = {k: v for k, v in row.items() if k not in ("file_name", "image") and k and v is not None}
        out[name], lines[name] = uploads.clean_meta(meta, field=f"{path.name}:{n}"), n
    return out


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


@import_app.command("images")
def import_images(
    project: str = typer.Argument(..., help="Project id or name"),
    directory: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder of images (searched recursively)"),
    metadata: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="CSV: file_name,line,camera,shift,..."
    ),
    batch_name: str = typer.Option("", help="Name of the upload batch"),
    workers: int = typer.Option(bulk.default_workers(), min=1, max=32, help="Decoding processes"),
) -> None:
    """Ingest every image file under DIRECTORY: stored, duplicate, or refused with the reason."""
    settings = _common.settings()
    storage = make_storage(settings)
    meta_by_name = read_metadata(metadata)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        _common.fail(f"no image files ({', '.join(sorted(FORMATS))}) under {directory}")
    relative = {p: p.relative_to(directory).as_posix() for p in files}
    assigned = _parse(lambda: metadata_rows.assign(meta_by_name, relative.values(), source=metadata.name)) \
        if metadata else {}
    sources = [bulk.Source(path=p, file_name=p.name, meta=assigned.get(relative[p], {})) for p in files]
    counts = {"stored": 0, "duplicate": 0, "refused": 0}
    refused: list[dict[str, Any]] = []
    with _common.session() as db, _common.progress() as bar:
        found = _common.project(db, project)
        service.check_quota(
            db,
            project=found,
            settings=settings.model_copy(update={"max_files_per_request": len(files)}),
            incoming=len(files),
        )
        batch = service.start_batch(
            db, project=found, name=batch_name or f"import of {directory.name}", source="import", creator=None
        )
        db.commit()
        task = bar.add_task("images", total=len(files))
        prepared = bulk.prepare_many(sources, limits=service.limits_of(settings), workers=workers)
        for chunk in _chunks(prepared, CHUNK):
            report = uploads.store_files(
                db, storage=storage, settings=settings, project=found, user=None, items=chunk, batch=batch
            )
            try:
                db.commit()
            except Exception:
                uploads.discard_written(db, storage, report)
                raise
            for result in report.results:
                counts[result.status.value] += 1
                if result.reason and result.status.value == "refused":
                    refused.append({"file_name": result.file_name, "reason": result.reason})
            bar.advance(task, len(chunk))
    _json({"project": found.id, "batch_id": batch.id, **counts, "refused_files": refused})


def _chunks(items: Any, size: int) -> Any:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@import_app.command("labelstudio")
def import_labelstudio(
    project: str = typer.Argument(..., help="Project id or name"),
    tasks: Path = typer.Argument(..., exists=True, dir_okay=False, help="Label Studio JSON export (tasks.json)"),
    images_root: Path = typer.Option(..., exists=True, file_okay=False, help="Folder the tasks' images are in"),
    metadata: Path | None = typer.Option(None, exists=True, dir_okay=False, help="CSV: file_name,line,camera,..."),
    gold: Path | None = typer.Option(None, exists=True, dir_okay=False, help="gold.json: images with known answers"),
    create_classes: bool = typer.Option(False, help="Add classes the export uses that the project lacks"),
    skip_existing: bool = typer.Option(False, help="Import the answers not in the project yet, skipping the others"),
    match_existing: bool = typer.Option(
        False, help="Attribute answers to existing Concord accounts with the export's emails"
    ),
    accounts: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="CSV source,account: whose answers go to which Concord account"
    ),
    workers: int = typer.Option(bulk.default_workers(), min=1, max=32, help="Decoding processes"),
) -> None:
    """Import a Label Studio export: images, every labeler's answers (choices and rectangles), all or nothing.

    Answers go to accounts made for their authors (inactive, no password); to an existing account
    only with --match-existing or a mapping file (--accounts). The report lists every account and
    membership. An answer in the project already stops the import, unless --skip-existing."""
    parsed = _parse(lambda: labelstudio.load(tasks))
    gold_items = _parse(lambda: read_json(gold, field="gold")) if gold else None
    mapping = _parse(lambda: read_mapping(accounts)) if accounts else {}
    _run_import(
        project,
        lambda db, found, settings, storage, report, tick: imports.import_labelstudio(
            db,
            storage=storage,
            settings=settings,
            project=found,
            parsed=parsed,
            root=ImagesRoot(images_root),
            metadata=read_metadata(metadata),
            gold=gold_items,
            create_classes=create_classes,
            accounts=Accounts(match_existing=match_existing, mapping=mapping),
            skip_existing=skip_existing,
            workers=workers,
            progress=tick,
            report=report,
        ),
    )


@import_app.command("coco")
def import_coco(
    project: str = typer.Argument(..., help="Project id or name"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="COCO detection JSON"),
    images_root: Path = typer.Option(..., exists=True, file_okay=False, help="Folder the images are in"),
    labeler: str = typer.Option(..., help="Email of the person these labels are from (created inactive if new)"),
    metadata: Path | None = typer.Option(None, exists=True, dir_okay=False, help="CSV: file_name,line,camera,..."),
    create_classes: bool = typer.Option(False, help="Add categories the project lacks as classes"),
    skip_existing: bool = typer.Option(False, help="Import the answers not in the project yet, skipping the others"),
    workers: int = typer.Option(bulk.default_workers(), min=1, max=32, help="Decoding processes"),
) -> None:
    """Import a COCO detection file as one labeler's answers, with its images, all or nothing."""
    parsed = _parse(lambda: coco_parser.load(file))
    if "@" not in labeler:
        _common.fail("--labeler must be an email address")
    _run_import(
        project,
        lambda db, found, settings, storage, report, tick: imports.import_coco(
            db,
            storage=storage,
            settings=settings,
            project=found,
            coco=parsed,
            root=ImagesRoot(images_root),
            labeler_email=labeler,
            metadata=read_metadata(metadata),
            create_classes=create_classes,
            skip_existing=skip_existing,
            workers=workers,
            progress=tick,
            report=report,
        ),
    )


def _parse(read: Any) -> Any:
    try:
        return read()
    except ConcordError as exc:
        _common.fail(f"{exc.message} — nothing was imported")


def _run_import(project: str, run: Any) -> None:
    settings = _common.settings()
    storage = make_storage(settings)
    report = imports.ImportReport()
    with _common.session() as db, _common.progress() as bar:
        found = _common.project(db, project)
        task = bar.add_task("importing", total=None)

        def tick(done: int, total: int, what: str) -> None:
            bar.update(task, description=what, completed=done, total=total)

        try:
            run(db, found, settings, storage, report, tick)
            db.commit()
        except BaseException as exc:
            imports.discard(db, storage, report)
            if isinstance(exc, imports.KnownAnswers):  # the counts say what is known and what is new
                _json({"project": found.id, "imported": False, **report.as_json()})
                _common.fail(exc.message)
            if isinstance(exc, ConcordError):
                _common.fail(f"{exc.message} — nothing was imported")
            raise
        _queue_recompute(db, found.id)
    _json({"project": found.id, **report.as_json()})


def _queue_recompute(db: Any, project_id: int) -> None:
    """Ask for a consistency recompute of the project when that job kind exists."""
    try:
        from app.jobs import service as jobs
        from app.jobs.registry import load_kinds
    except ImportError:
        return
    if "consistency.recompute" in load_kinds():
        job = jobs.enqueue(db, kind="consistency.recompute", project_id=project_id, payload={})
        db.commit()
        _common.console.print(f"consistency recompute queued (job {job.id})")


def register(root: typer.Typer) -> None:
    root.add_typer(import_app, name="import")
