"""`concord backup OUT` and `concord restore IN`."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from app.backup.manifest import Progress, no_progress
from app.cli import _common
from app.cli.storage import backend
from app.core.storage import Storage

EXIT_BAD_ARCHIVE = 1  # corrupt, cut short, checksum mismatch, rows that would not go in
EXIT_BAD_TARGET = 2  # not empty, another schema revision (and bad settings, as everywhere)


@contextmanager
def _reporter(show: bool, title: str) -> Iterator[Progress]:
    if not show:
        yield no_progress
        return
    with _common.progress() as bar:
        task = bar.add_task(title, total=None)

        def report(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total or None, description=f"{title}: {message}")

        yield report


def _storage() -> Storage:
    settings = _common.settings()
    return backend(settings, settings.storage_backend)


def backup(
    out: Path = typer.Argument(..., help="The archive to write (a .tar file)"),
    show_progress: bool = typer.Option(False, "--progress", help="Show a progress bar"),
) -> None:
    """Write every table's rows and every stored image and thumbnail to one archive, from a consistent
    snapshot; the app may keep running. Exports are left out: they are rebuilt from dataset versions."""
    from app.backup.service import BackupError
    from app.backup.service import backup as run

    storage = _storage()
    with _common.session() as db:
        try:
            with _reporter(show_progress, "backup") as progress:
                summary = run(db, storage=storage, out_path=out, progress=progress)
        except BackupError as exc:
            _common.fail(exc.message)
        except OSError as exc:
            _common.fail(f"cannot write {out}: {exc.strerror or exc}")
    rows = sum(summary.counts.values())
    typer.echo(f"backup written to {out}: {rows} rows in {len(summary.counts)} tables, {summary.media_objects} "
               f"media objects ({summary.media_bytes} bytes), schema revision {summary.schema_revision}")
    if summary.missing_media:
        _common.console.print(f"[yellow]warning:[/] {len(summary.missing_media)} files referenced by rows were "
                              f"deleted while the backup ran (first: {summary.missing_media[0]}); the restored "
                              "instance's fsck will list them", highlight=False, soft_wrap=True)


def restore(
    archive: Path = typer.Argument(..., help="A backup archive made by `concord backup`"),
    show_progress: bool = typer.Option(False, "--progress", help="Show a progress bar"),
) -> None:
    """Restore a backup into an empty database (run `concord db upgrade` on a new one first) and the
    configured storage. The whole archive is checked before anything is written."""
    from app.backup.service import ArchiveCorrupt, BackupError, SchemaMismatch, TargetNotEmpty
    from app.backup.service import restore as run

    storage = _storage()
    with _common.session() as db:
        try:
            with _reporter(show_progress, "restore") as progress:
                summary = run(db, storage=storage, archive=archive, progress=progress)
            db.commit()
        except (TargetNotEmpty, SchemaMismatch) as exc:
            _common.fail(exc.message, code=EXIT_BAD_TARGET)
        except (ArchiveCorrupt, BackupError) as exc:
            message = exc.message if "nothing was" in exc.message else f"{exc.message}; nothing was restored"
            _common.fail(message, code=EXIT_BAD_ARCHIVE)
        except OSError as exc:
            _common.fail(f"cannot read {archive}: {exc.strerror or exc}", code=EXIT_BAD_ARCHIVE)
    typer.echo(f"restored {sum(summary.rows.values())} rows and {summary.media_objects} media objects from the "
               f"backup of {summary.created_at} (schema revision {summary.schema_revision})")


def register(root: typer.Typer) -> None:
    root.command("backup")(backup)
    root.command("restore")(restore)
