"""`concord export PROJECT --version V --format F --out PATH [--include-images]`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from app.cli import _common
from app.core.storage import make_storage
from app.datasets import service
from app.datasets.exporting import copy_to
from app.datasets.runner import run_export
from app.datasets.schemas import ExportFormat, ImageSource, export_options


def export(
    project: str = typer.Argument(..., help="Project id or name"),
    version: str = typer.Option(..., "--version", "-v", help="Version number (3 or v3) or name"),
    format: ExportFormat = typer.Option(..., "--format", "-f", help="Export format"),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the zip archive"),
    include_images: bool = typer.Option(False, "--include-images", help="Put the image files in the archive"),
    image_source: ImageSource = typer.Option(ImageSource.local_files, help="Label Studio: how its tasks find the "
                                             "images (local_files: Label Studio's local files; url: a URL prefix)"),
    image_root: str = typer.Option("", help="Label Studio: the folder under LOCAL_FILES_DOCUMENT_ROOT the archive is "
                                   "unpacked into, or the URL prefix"),
) -> None:
    """Export a frozen dataset version as a zip (made once per options, then reused: the bytes never change).

    Prints {"path", "sha256", "size_bytes", "version", "format", "options"} as JSON on stdout; progress on
    stderr.
    """
    options = export_options(image_source=image_source, image_root=image_root)
    settings = _common.settings()
    storage = make_storage(settings)
    with _common.session() as db:
        found = service.find_version(db, _common.project(db, project).id, version)
        with _common.progress() as bar:
            task = bar.add_task(f"v{found.number} {format.value}", total=None)
            made = run_export(db, storage=storage, version=found, fmt=format, include_images=include_images,
                              user_id=None, release=db.commit, options=options,
                              on_progress=lambda done, total: bar.update(task, completed=done, total=total))
        db.commit()
        copy_to(storage, made, out)
        typer.echo(json.dumps({"path": str(out), "sha256": made.sha256, "size_bytes": made.size_bytes,
                               "version": found.number, "format": format.value, "options": made.options}))


def export_answers(
    project: str = typer.Argument(..., help="Project id or name"),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the zip archive"),
    version: str = typer.Option("", "--version", "-v", help="Only the images of this version (number or name)"),
    pseudonyms: bool = typer.Option(False, "--pseudonyms", help="Name labelers 'labeler 1', ... instead of e-mail"),
    image_source: ImageSource = typer.Option(ImageSource.local_files, help="How tasks.json names the images "
                                             "(as for the Label Studio export)"),
    image_root: str = typer.Option("", help="The local-files folder or URL prefix of the images"),
    by: str = typer.Option("", help="Email of the admin taking the answers (recorded in the audit trail)"),
) -> None:
    """Every labeler's answers with who gave them (answers.csv, Label Studio tasks.json with completed_by).

    Prints {"path", "answers", "bytes"} as JSON on stdout; progress on stderr.
    """
    from app.core.db import read_only_session
    from app.datasets import answers
    from app.datasets.schemas import AnswersIn

    options = export_options(image_source=image_source, image_root=image_root)
    with _common.session() as db:
        found = _common.project(db, project)
        version_id = service.find_version(db, found.id, version).id if version else None
        scope = answers.scope_of(db, found, AnswersIn(version_id=version_id, pseudonyms=pseudonyms,
                                                      image_source=options.image_source,
                                                      image_root=options.image_root))
        answers.record(db, scope, _common.user(db, by).id if by else None)
        db.commit()
        total = answers.count(db, scope)
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(f".{out.name}.part")
        try:
            with read_only_session(db) as reader, _common.progress() as bar, open(part, "wb") as handle:
                task = bar.add_task("answers", total=total)
                for chunk in answers.stream(reader, scope, progress=lambda n: bar.advance(task, n)):
                    handle.write(chunk)
            part.replace(out)
        finally:
            part.unlink(missing_ok=True)
    typer.echo(json.dumps({"path": str(out), "answers": total, "bytes": out.stat().st_size}))


def register(root: typer.Typer) -> None:
    root.command("export")(export)
    root.command("export-answers")(export_answers)
