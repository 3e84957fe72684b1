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


def register(root: typer.Typer) -> None:
    root.command("export")(export)
