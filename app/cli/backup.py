"""`concord backup OUT` and `concord restore IN`."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from app.backup.manifest import Progress, no_progress
from app.backup.signing import instance_key, key_id
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
    key = instance_key(_common.settings())
    with _common.session() as db:
        try:
            with _reporter(show_progress, "backup") as progress:
                summary = run(db, storage=storage, out_path=out, key=key, progress=progress)
        except BackupError as exc:
            _common.fail(exc.message)
        except OSError as exc:
            _common.fail(f"cannot write {out}: {exc.strerror or exc}")
    rows = sum(summary.counts.values())
    typer.echo(f"backup written to {out}: {rows} rows in {len(summary.counts)} tables, {summary.media_objects} "
               f"media objects ({summary.media_bytes} bytes), schema revision {summary.schema_revision}, "
               f"signed with backup key {key_id(key)}")
    if summary.missing_media:
        _common.console.print(f"[yellow]warning:[/] {len(summary.missing_media)} files referenced by rows were "
                              f"deleted while the backup ran (first: {summary.missing_media[0]}); the restored "
                              "instance's fsck will list them", highlight=False, soft_wrap=True)


def restore(
    archive: Path = typer.Argument(..., help="A backup archive made by `concord backup`"),
    key_file: list[Path] = typer.Option(
        [], exists=True, dir_okay=False, help="The backup key of the instance that made the archive (repeatable)"
    ),
    unsigned: bool = typer.Option(False, "--unsigned", help="Restore an archive no key vouches for, as it is"),
    show_progress: bool = typer.Option(False, "--progress", help="Show a progress bar"),
) -> None:
    """Restore a backup into an empty database (run `concord db upgrade` on a new one first) and the
    configured storage. The whole archive is checked before anything is written, and it must be signed
    by this instance's backup key or one given with --key-file (see `concord backup-key`)."""
    from app.backup.service import ArchiveCorrupt, BackupError, SchemaMismatch, TargetNotEmpty
    from app.backup.service import restore as run

    storage = _storage()
    keys = [instance_key(_common.settings()), *(_read_key(path) for path in key_file)]
    with _common.session() as db:
        try:
            with _reporter(show_progress, "restore") as progress:
                summary = run(db, storage=storage, archive=archive, keys=keys, unsigned_ok=unsigned,
                              progress=progress)
            db.commit()
        except (TargetNotEmpty, SchemaMismatch) as exc:
            _common.fail(exc.message, code=EXIT_BAD_TARGET)
        except (ArchiveCorrupt, BackupError) as exc:
            message = exc.message if "nothing was" in exc.message else f"{exc.message}; nothing was restored"
            _common.fail(message, code=EXIT_BAD_ARCHIVE)
        except OSError as exc:
            _common.fail(f"cannot read {archive}: {exc.strerror or exc}", code=EXIT_BAD_ARCHIVE)
    trusted = f"signed with backup key {summary.signed_by}" if summary.signed_by else \
        "UNSIGNED: its accounts, password hashes and labels were taken as they are (--unsigned)"
    typer.echo(f"restored {sum(summary.rows.values())} rows and {summary.media_objects} media objects from the "
               f"backup of {summary.created_at} (schema revision {summary.schema_revision}), {trusted}")


def backup_key() -> None:
    """Print this instance's backup key (stdout): keep it apart from the archives; another instance
    restores them with `concord restore ARCHIVE --key-file FILE`."""
    key = instance_key(_common.settings())
    _common.console.print(f"backup key {key_id(key)}: whoever holds it can sign archives this instance restores; "
                          "keep it as private as the secret key")
    typer.echo(key.decode())


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip().encode()
    if not key:
        _common.fail(f"{path} holds no key", code=EXIT_BAD_ARCHIVE)
    return key


def register(root: typer.Typer) -> None:
    root.command("backup")(backup)
    root.command("restore")(restore)
    root.command("backup-key")(backup_key)
